//! Descope mode at the edge: access keys exchanged with Descope over `fetch`, session JWTs verified against the
//! project's keys, and the resulting `Caller` cached so a warm request makes no call to Descope.
//!
//! The decisions (claims, errors, cache lifetimes) are pure and live in `crate::auth::descope` and
//! `crate::auth::jwt`; this file does the I/O between them. Two cache layers, both keyed by a hash of the access
//! key (never the key): this isolate's memory, then the Workers Cache API (shared by the isolates of a data
//! center). An entry lives until shortly before its JWT's `exp`, at most `PROCELLA_DESCOPE_CACHE_TTL_SECONDS`, so
//! a revoked key keeps working until then and no longer.

use super::http::{send_within, ApiResult, NoAnswer};
use crate::auth::descope::orgs::{self, Binding};
use crate::auth::descope::{self, DescopeSettings};
use crate::auth::jwt::{self, Claims, JwtError, KeySet};
use crate::auth::{Caller, Credential};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use super::db;
use super::memo::{insert_bounded, MAX_ENTRIES};
use worker::{Cache, D1Database, Fetch, Headers, Method, Request, RequestInit, Response};

/// How long a call to Descope may take before the request fails with 503 instead of hanging (a Worker's wall
/// time is not limited, but a CLI waiting on a dead identity provider should hear about it).
const DESCOPE_TIMEOUT: Duration = Duration::from_secs(5);
/// An unknown `kid` in a token someone sent us refetches the keys at most this often, so random `kid`s cannot
/// turn into a flood of requests to Descope. Tokens from our own exchange may always refetch (key rotation).
const UNTRUSTED_REFETCH_SECS: u64 = 30;
/// The Cache API keys entries by URL; this host is never resolved.
const CACHE_URL: &str = "https://procella-auth.invalid/caller/";

struct CachedKeys {
    keys: KeySet,
    fetched_at: u64,
    /// When the last refetch failed, if it did (see `crate::auth::descope::keys`).
    failed_at: Option<u64>,
}

thread_local! {
    // Workers run one request at a time per isolate thread; these live as long as the isolate.
    static CALLERS: RefCell<HashMap<String, (Caller, u64)>> = RefCell::new(HashMap::new());
    static KEYS: RefCell<Option<CachedKeys>> = const { RefCell::new(None) };
    /// Access keys Descope refused lately: key hash -> until when (see `REFUSAL_TTL_SECS`).
    static REFUSED: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
    /// Org slug bindings seen in D1 (they never change once stored): tenant id -> slug.
    static BINDINGS: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
}

fn now() -> u64 {
    super::memo::now_secs()
}

/// Authenticates an API token (a Descope access key) or a browser session (`Bearer <session JWT>`).
///
/// # Errors
/// 401 for a bad key or token, 403 for a caller with no Procella role, 429/503 when Descope is rate limiting or
/// unavailable.
pub async fn authenticate(
    settings: &DescopeSettings,
    db: &D1Database,
    credential: Credential<'_>,
    slug_key: &[u8; 32],
) -> ApiResult<Caller> {
    let t = now();
    match credential {
        Credential::Token(key) => {
            if looks_like_jwt(key) {
                return Err(ApiError::unauthorized(
                    "a session token is not an access key: send it as `Authorization: Bearer <token>`, \
                     or use a Descope access key with `Authorization: token <key>`",
                ));
            }
            let cache_key = descope::cache_key(&settings.project_id, key);
            if let Some(caller) = cached(&cache_key, t).await {
                return Ok(caller);
            }
            // Junk keys must not each cost an exchange: a refusal is remembered for a minute.
            if refused_recently(&cache_key, t).await {
                return Err(descope::exchange_failure(401, None));
            }
            let exchanged = match exchange(settings, key).await {
                Err(e) if e.status == 401 => {
                    remember_refusal(&cache_key, t).await;
                    return Err(e);
                }
                other => other?,
            };
            let claims = verify(settings, &exchanged.session_jwt, t, true).await?;
            let caller = descope::caller_from_claims(&claims, exchanged.key_id.as_deref())?;
            // Our own exchange: the key's `procellaOrgs` are the backend's, not the holder's.
            let caller = bind_orgs(db, caller, &descope::trusted_slugs(&claims), slug_key).await?;
            remember(&cache_key, &caller, descope::cache_ttl(t, claims.exp, settings.cache_ttl_secs), t).await;
            Ok(caller)
        }
        Credential::Bearer(jwt) => {
            // Verified every time: a session JWT is checked locally (no call to Descope once keys are cached).
            let claims = verify(settings, jwt, t, false).await?;
            descope::check_browser_session(&claims)?;
            let caller = descope::caller_from_claims(&claims, None)?;
            if caller.token_name.is_some() {
                // Browser sessions only: an access key's session (which its holder can obtain with extra claims)
                // goes through `token`, where this backend does the exchange itself.
                return Err(ApiError::unauthorized(
                    "an access key's session is not a browser session: send the access key as `Authorization: token <key>`",
                ));
            }
            bind_orgs(db, caller, &[], slug_key).await
        }
        Credential::UpdateToken(_) => {
            Err(ApiError::unauthorized("an update token is only valid on the routes of its running update"))
        }
    }
}

/// Applies the server's org slug bindings to `caller` (see `crate::auth::descope::orgs`), storing new ones.
/// Known bindings come from this isolate's memory; otherwise one D1 read (and one write for new slugs).
///
/// # Errors
/// 403 when no organization remains; storage failures.
async fn bind_orgs(
    db: &D1Database,
    mut caller: Caller,
    trusted: &[(String, String)],
    slug_key: &[u8; 32],
) -> ApiResult<Caller> {
    let tenants: Vec<String> = caller.orgs.iter().filter_map(|o| o.tenant.clone()).collect();
    let cached: Option<Vec<Binding>> = BINDINGS.with(|b| {
        let b = b.borrow();
        tenants.iter().map(|t| b.get(t).map(|slug| Binding { slug: slug.clone(), tenant: t.clone() })).collect()
    });
    let bound = match cached {
        Some(known) => orgs::bind(std::mem::take(&mut caller.orgs), &known, trusted, slug_key),
        None => {
            let candidates: Vec<String> =
                caller.orgs.iter().filter(|o| o.tenant.is_some()).flat_map(|o| orgs::candidates(o, slug_key)).collect();
            let slugs: Vec<&str> = candidates.iter().map(String::as_str).collect();
            let tenant_refs: Vec<&str> = tenants.iter().map(String::as_str).collect();
            let known = db::org_bindings(db, &tenant_refs, &slugs).await?;
            let first = orgs::bind(caller.orgs.clone(), &known, trusted, slug_key);
            if first.new.is_empty() && first.taken_over.is_empty() {
                first
            } else {
                db::add_org_bindings(db, &first.new, &first.taken_over).await?;
                // Read again: a binding may have lost a race; whatever is still unbound is left out.
                let known = db::org_bindings(db, &tenant_refs, &slugs).await?;
                let mut second = orgs::bind(std::mem::take(&mut caller.orgs), &known, trusted, slug_key);
                let unbound: Vec<String> =
                    second.new.drain(..).chain(second.taken_over.drain(..)).map(|b| b.tenant).collect();
                second.orgs.retain(|o| o.tenant.as_ref().is_none_or(|t| !unbound.contains(t)));
                second
            }
        }
    };
    BINDINGS.with(|b| {
        let mut b = b.borrow_mut();
        for o in &bound.orgs {
            if let Some(t) = &o.tenant {
                insert_bounded(&mut b, t.clone(), o.org.clone());
            }
        }
    });
    caller.orgs = bound.orgs;
    if caller.orgs.is_empty() {
        return Err(ApiError::forbidden(match bound.reserved.first() {
            Some(slug) => orgs::reserved_message(slug),
            None => descope::NO_ROLE_MESSAGE.to_owned(),
        }));
    }
    Ok(caller)
}

/// Three dot-separated base64url parts starting with a JSON header: a JWT, not an access key.
fn looks_like_jwt(s: &str) -> bool {
    s.starts_with("eyJ") && s.split('.').count() == 3
}

#[derive(Serialize, Deserialize)]
struct CacheEntry {
    caller: Caller,
    expires: u64,
}

async fn cached(cache_key: &str, t: u64) -> Option<Caller> {
    let hit = CALLERS.with(|c| c.borrow().get(cache_key).filter(|(_, exp)| *exp > t).map(|(c, _)| c.clone()));
    if hit.is_some() {
        return hit;
    }
    let mut resp = Cache::default().get(format!("{CACHE_URL}{cache_key}"), false).await.ok()??;
    let entry: CacheEntry = resp.json().await.ok()?;
    if entry.expires <= t {
        return None;
    }
    keep_in_isolate(cache_key, &entry.caller, entry.expires, t);
    Some(entry.caller)
}

async fn remember(cache_key: &str, caller: &Caller, ttl: Option<u64>, t: u64) {
    let Some(ttl) = ttl else { return };
    let expires = t + ttl;
    keep_in_isolate(cache_key, caller, expires, t);
    let stored = async {
        let body = serde_json::to_string(&CacheEntry { caller: caller.clone(), expires })?;
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        // Not `private`: the Cache API does not store private responses. The URL is synthetic and never served.
        headers.set("cache-control", &format!("max-age={ttl}"))?;
        let resp = Response::ok(body)?.with_headers(headers);
        Cache::default().put(format!("{CACHE_URL}{cache_key}"), resp).await
    }
    .await;
    if let Err(e) = stored {
        // The isolate cache still holds it; the Cache API is an optimization across isolates.
        worker::console_warn!("could not store the caller in the Cache API: {e}");
    }
}

/// The Cache API entry of a refused key (a different URL space from the callers').
fn refusal_url(cache_key: &str) -> String {
    format!("{CACHE_URL}refused/{cache_key}")
}

async fn refused_recently(cache_key: &str, t: u64) -> bool {
    super::memo::recall(&REFUSED, &refusal_url(cache_key), cache_key, t).await
}

async fn remember_refusal(cache_key: &str, t: u64) {
    let ttl = descope::REFUSAL_TTL_SECS;
    super::memo::remember(&REFUSED, &refusal_url(cache_key), cache_key, t + ttl, ttl, "a refused key").await;
}

fn keep_in_isolate(cache_key: &str, caller: &Caller, expires: u64, t: u64) {
    CALLERS.with(|c| {
        let mut map = c.borrow_mut();
        // When full, expired callers go first; `insert_bounded` empties the map only if that was not enough.
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (_, exp)| *exp > t);
        }
        insert_bounded(&mut map, cache_key.to_owned(), (caller.clone(), expires));
    });
}

/// A request to Descope with a timeout; a network failure or timeout is a 503.
async fn call(url: &str, method: Method, auth: Option<String>, body: Option<&str>) -> ApiResult<(u16, Headers, String)> {
    let headers = Headers::new();
    if let Some(a) = auth {
        headers.set("authorization", &a)?;
    }
    if body.is_some() {
        headers.set("content-type", "application/json")?;
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(b.into()));
    }
    let req = Request::new_with_init(url, &init)?;
    let mut resp = match send_within(Fetch::Request(req), DESCOPE_TIMEOUT).await {
        Ok(resp) => resp,
        Err(NoAnswer::Failed(e)) => {
            worker::console_error!("Descope unreachable ({url}): {e}");
            return Err(descope::unavailable());
        }
        Err(NoAnswer::TimedOut) => {
            worker::console_error!("Descope did not answer within {DESCOPE_TIMEOUT:?} ({url})");
            return Err(descope::unavailable());
        }
    };
    let status = resp.status_code();
    let headers = resp.headers().clone();
    let text = resp.text().await.map_err(|_| descope::unavailable())?;
    Ok((status, headers, text))
}

async fn exchange(settings: &DescopeSettings, key: &str) -> ApiResult<descope::Exchanged> {
    let auth = settings.authorization(key);
    let (status, headers, body) =
        call(&settings.exchange_url(), Method::Post, Some(auth), Some(descope::EXCHANGE_BODY)).await?;
    if !(200..300).contains(&status) {
        let summary = descope::error_summary(&body).unwrap_or_default();
        worker::console_warn!("access key exchange refused by Descope: {status} {summary}");
        return Err(descope::exchange_failure(status, headers.get("retry-after").ok().flatten().as_deref()));
    }
    descope::parse_exchange_response(&body)
}

/// Creates an access key through the management API (`create` is the JSON body); returns its cleartext.
///
/// # Errors
/// A configuration error when Descope refuses the management key; 429/503 for Descope's own trouble.
pub async fn create_access_key(settings: &DescopeSettings, management_key: &str, create: &str) -> ApiResult<String> {
    let body = management_call(settings, management_key, &settings.create_access_key_url(), create, "creating an access key").await?;
    descope::created_access_key(&body)
}

/// How many working access keys are bound to `user_id`.
pub async fn working_keys_of(settings: &DescopeSettings, management_key: &str, user_id: &str, t: u64) -> ApiResult<usize> {
    let search = descope::search_user_keys_body(user_id).to_string();
    let body = management_call(settings, management_key, &settings.search_access_keys_url(), &search, "listing access keys").await?;
    descope::count_working_keys(&body, t)
}

/// A management API call's 2xx body, or the error `descope::management_failure` makes of Descope's answer.
async fn management_call(settings: &DescopeSettings, management_key: &str, url: &str, body: &str, what: &str) -> ApiResult<String> {
    let auth = settings.authorization(management_key);
    let (status, headers, answer) = call(url, Method::Post, Some(auth), Some(body)).await?;
    if (200..300).contains(&status) {
        return Ok(answer);
    }
    let summary = descope::error_summary(&answer).unwrap_or_default();
    worker::console_error!("{what} failed: {status} {summary}");
    Err(descope::management_failure(status, headers.get("retry-after").ok().flatten().as_deref()))
}

async fn fetch_keys(settings: &DescopeSettings, t: u64) -> ApiResult<KeySet> {
    let fetched = async {
        let (status, headers, body) = call(&settings.jwks_url(), Method::Get, None, None).await?;
        if !(200..300).contains(&status) {
            worker::console_error!("fetching the Descope keys failed: {status}");
            return Err(descope::upstream_failure(status, headers.get("retry-after").ok().flatten().as_deref()));
        }
        KeySet::from_jwks_json(&body)
    }
    .await;
    // Every failed fetch is remembered, so an outage costs Descope one fetch per retry interval (`keys::plan`).
    let keys = fetched.inspect_err(|_| {
        KEYS.with(|k| k.borrow_mut().as_mut().map(|c| c.failed_at = Some(t)));
    })?;
    KEYS.with(|k| *k.borrow_mut() = Some(CachedKeys { keys: keys.clone(), fetched_at: t, failed_at: None }));
    Ok(keys)
}

/// The key set for one request: cached, fetched, or during a Descope outage the last good one for a bounded time.
async fn current_keys(settings: &DescopeSettings, t: u64) -> ApiResult<(KeySet, Option<u64>)> {
    use crate::auth::descope::keys::{plan, stale_usable, KeysPlan};
    let cached = KEYS.with(|k| k.borrow().as_ref().map(|c| (c.keys.clone(), c.fetched_at, c.failed_at)));
    let (fetched_at, failed_at) = (cached.as_ref().map(|c| c.1), cached.as_ref().and_then(|c| c.2));
    match (plan(fetched_at, failed_at, settings.cache_ttl_secs, t), cached) {
        (KeysPlan::Cached, Some((keys, fetched_at, _))) => Ok((keys, Some(fetched_at))),
        // Stale keys never refetch on an unknown `kid`: that fetch just failed.
        (KeysPlan::Stale, Some((keys, _, _))) => Ok((keys, None)),
        (_, cached) => match fetch_keys(settings, t).await {
            Ok(keys) => Ok((keys, None)),
            Err(e) => match cached.filter(|(_, fetched_at, _)| stale_usable(*fetched_at, t)) {
                Some((keys, fetched_at, _)) => {
                    worker::console_warn!("fetching the Descope keys failed; using the keys fetched at {fetched_at}");
                    Ok((keys, None))
                }
                None => Err(e),
            },
        },
    }
}

/// Verifies a session JWT, fetching the project's keys when they are missing or stale, and once more on an
/// unknown `kid` (key rotation) — always for a token from our own exchange (`trusted`), otherwise at most every
/// [`UNTRUSTED_REFETCH_SECS`].
async fn verify(settings: &DescopeSettings, token: &str, t: u64, trusted: bool) -> ApiResult<Claims> {
    // `may_refetch`: the keys came from the cache, and a refetch is allowed for this token.
    let (keys, may_refetch) = match current_keys(settings, t).await? {
        (keys, Some(fetched_at)) => (keys, trusted || t >= fetched_at + UNTRUSTED_REFETCH_SECS),
        (keys, None) => (keys, false),
    };
    match jwt::verify(token, &keys, t, &settings.project_id, settings.jwt_max_age_secs) {
        Err(JwtError::UnknownKid) if may_refetch => {
            let keys = fetch_keys(settings, t).await?;
            Ok(jwt::verify(token, &keys, t, &settings.project_id, settings.jwt_max_age_secs)?)
        }
        result => Ok(result?),
    }
}
