//! OIDC token exchange at the edge (`crate::oidc` decides): `POST /api/oauth/token`, the issuers' keys fetched
//! by discovery and cached in the isolate, and authentication of the tokens it issued.

use super::http::{collect_capped, json, read_body, send_within, ApiResult, NoAnswer};
use super::memo::{insert_bounded, now_ms};
use super::{limits, Seen};
use crate::auth::Caller;
use crate::config::Config;
use crate::error::ApiError;
use crate::oidc::exchange::{self, refusal, Granted};
use crate::oidc::issuer::jwks_uri_of;
use crate::oidc::token::StoredToken;
use crate::oidc::verify::{self, Keys, Refusal};
use crate::oidc::{policy, token_hash, Issuer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;
use worker::{D1Database, Env, Fetch, Method, Request, RequestInit, RequestRedirect, Response};

/// How long an issuer's keys are used before discovery runs again.
const KEYS_TTL_SECS: u64 = 600;
/// An unknown `kid` refetches the keys (the issuer rotated them), at most this often per issuer: a stream of
/// tokens naming made-up keys must not turn into a stream of fetches from the issuer.
const REFETCH_SECS: u64 = 5;
/// An issuer that does not answer within this fails the exchange (a 502); the CI job can retry.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Discovery documents and key sets are a few KB; anything far larger is refused, not held in the 128 MB isolate.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// How long an isolate trusts a token row it read: another isolate's revocation takes effect within this.
const CALLER_TTL_SECS: u64 = 60;
/// Key sets an isolate keeps (one per issuer URL in use); past it the cache starts over. A set holds at most
/// `verify::MAX_KEYS` keys, so the cache stays far inside the isolate's 128 MB.
const MAX_CACHED_ISSUERS: usize = 256;

struct CachedKeys {
    keys: Keys,
    fetched_at: u64,
}

thread_local! {
    /// Issuer URL -> its key set.
    static KEYS: RefCell<HashMap<String, CachedKeys>> = RefCell::new(HashMap::new());
    /// Token hash -> its row and until when (Unix seconds) this isolate uses it without reading D1.
    static TOKENS: RefCell<HashMap<String, (StoredToken, u64)>> = RefCell::new(HashMap::new());
}

/// `POST /api/oauth/token`. A refused exchange costs its client IP an authentication attempt, like a failed
/// login (past the limit the answer is 429: a valid ID token cannot be guessed, so checking it first costs only
/// a signature check); a granted one counts against its org and issuer's per-minute limit. Refusals are audited
/// as failed authentications, grants as `token.exchange`.
pub async fn exchange(env: &Env, db: &D1Database, config: &Config, req: &mut Request, trail: &mut Seen) -> ApiResult<Response> {
    let t = limits::now_secs();
    let result = grant(env, db, config, req, trail, t).await;
    match &result {
        Ok(_) => {
            let actor = trail.actor.clone();
            trail.note(actor.as_deref(), crate::audit::TOKEN_EXCHANGE, 200);
        }
        Err(e) if e.status == 401 || e.status == 403 => {
            trail.note(None, crate::audit::AUTH_FAILED, e.status);
            worker::console_log!("oidc exchange refused: org {}: {}", trail.org.as_deref().unwrap_or("-"), e.message);
            limits::count_auth_attempt(env, &config.limits, trail.ip.as_deref(), t).await?;
        }
        Err(_) => {}
    }
    let mut response = result?;
    // RFC 6749 §5.1: a response carrying a token is never stored by a cache.
    response.headers_mut().set("cache-control", "no-store")?;
    Ok(response)
}

async fn grant(env: &Env, db: &D1Database, config: &Config, req: &mut Request, trail: &mut Seen, t: u64) -> ApiResult<Response> {
    let body = read_body(req, exchange::MAX_FORM_BYTES).await?;
    let asked = exchange::parse_form(&body)?;
    let org = asked.org.as_str();
    trail.org = Some(org.to_owned());
    // What a refusal's entry names; a grant's adds the token's name, so what a personal token later does as its
    // user can be traced to it.
    let asked_for = match &asked.personal {
        None => format!("{org}: organization token"),
        Some(user) => format!("{org}: personal token for {user}"),
    };
    trail.target = Some(asked_for.clone());
    let iss = verify::unverified_issuer(&asked.subject_token)?;
    let Some(issuer) = super::oidc_admin::issuer_by_url(db, org, &iss).await? else {
        let shown: String = iss.chars().take(200).collect();
        return Err(refusal(
            401,
            "invalid_grant",
            format!("OIDC token refused: issuer unknown: '{shown}' is not a registered issuer of organization '{org}'"),
        ));
    };
    let claims = verified(&issuer, &asked.subject_token, t).await?;
    let granted = policy::decide(&issuer.policies, &claims, asked.requested())?;
    // Counted once the token is known good: junk sent in an org's name cannot use up its pipelines' budget.
    limits::count_exchange(env, &config.limits, org, &issuer.url, t).await?;
    let secs = exchange::lifetime(
        asked.expiration,
        &[granted.max_expiration_seconds, issuer.max_expiration_seconds],
        config.oidc_max_token_secs,
    );
    let sub = claims.get("sub").and_then(|s| s.as_str()).unwrap_or_default();
    let name = exchange::token_name(&issuer.name, sub);
    let mut secret = [0u8; 32];
    getrandom::getrandom(&mut secret).map_err(|e| {
        worker::console_error!("no randomness for a token: {e}");
        ApiError::internal("internal error: the server could not make a token")
    })?;
    let token = exchange::new_token(&secret);
    let now = now_ms();
    let row = StoredToken {
        id: super::updates::random_hex(8)?,
        org: org.to_owned(),
        issuer_id: issuer.id.clone(),
        name: name.clone(),
        kind: if asked.personal.is_some() { "personal" } else { "organization" }.into(),
        login: asked.personal.clone(),
        role: granted.role.as_str().into(),
        created_at: now,
        expires_at: now + (secs as i64) * 1000,
    };
    // Only if the issuer is still as it was read: a removal or an edit that landed during the key fetch wins.
    if !super::oidc_admin::insert_token(db, &token_hash(&token), &row, issuer.updated_at).await? {
        return Err(refusal(409, "invalid_grant", "the issuer's settings changed during this exchange; try again"));
    }
    trail.target = Some(format!("{asked_for} {name}"));
    trail.actor = Some(match &asked.personal {
        None => name,
        Some(user) => user.clone(),
    });
    worker::console_log!(
        "oidc exchange: org {org}, issuer {}, policy {}, role {}, {secs} s",
        issuer.name,
        granted.policy,
        granted.role
    );
    json(&Granted {
        access_token: token,
        issued_token_type: asked.token_type(),
        token_type: "token",
        expires_in: secs,
        scope: asked.scope.clone(),
    })
}

/// The token's claims, verified with the issuer's keys; an unknown `kid` refetches them once (a rotation).
async fn verified(issuer: &Issuer, token: &str, t: u64) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
    let cached = KEYS.with(|k| {
        k.borrow()
            .get(&issuer.url)
            .filter(|c| t < c.fetched_at + KEYS_TTL_SECS)
            .map(|c| (c.keys.clone(), c.fetched_at))
    });
    let (keys, fetched_at) = match cached {
        Some(c) => c,
        None => (fetch_keys(&issuer.url, t).await?, t),
    };
    match verify::verify(token, &keys, t, &issuer.url, &issuer.audiences) {
        Err(Refusal::UnknownKid) if t >= fetched_at + REFETCH_SECS => {
            let keys = fetch_keys(&issuer.url, t).await?;
            Ok(verify::verify(token, &keys, t, &issuer.url, &issuer.audiences)?)
        }
        result => Ok(result?),
    }
}

/// Discovery, then the key set it names; both over https (or loopback), each within [`FETCH_TIMEOUT`].
async fn fetch_keys(issuer_url: &str, t: u64) -> ApiResult<Keys> {
    let discovery = get(&format!("{issuer_url}/.well-known/openid-configuration"), "discovery document").await?;
    let jwks_uri = jwks_uri_of(&discovery, issuer_url).map_err(|why| unavailable(issuer_url, &why))?;
    let body = get(&jwks_uri, "key set").await?;
    let keys = Keys::from_jwks_json(&body).map_err(|why| unavailable(issuer_url, &why))?;
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if k.len() >= MAX_CACHED_ISSUERS && !k.contains_key(issuer_url) {
            k.clear();
        }
        k.insert(issuer_url.to_owned(), CachedKeys { keys: keys.clone(), fetched_at: t });
    });
    Ok(keys)
}

/// A 502: the issuer, not the token, is the problem, and a retry may work.
fn unavailable(issuer_url: &str, why: &str) -> ApiError {
    worker::console_error!("OIDC issuer {issuer_url}: {why}");
    refusal(502, "temporarily_unavailable", format!("the OIDC issuer could not be used: {why}; try again"))
}

async fn get(url: &str, what: &str) -> ApiResult<String> {
    // Redirects are not followed: each URL was checked to be https (or loopback), and a redirect could lead
    // anywhere. A 3xx is then an answer like any other non-2xx.
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).map_err(|_| unavailable(url, &format!("its {what} URL is invalid")))?;
    let fetch = Fetch::Request(request);
    let mut resp = match send_within(fetch, FETCH_TIMEOUT).await {
        Ok(resp) => resp,
        Err(NoAnswer::Failed(e)) => {
            worker::console_error!("fetching {url}: {e}");
            return Err(unavailable(url, &format!("its {what} could not be fetched")));
        }
        Err(NoAnswer::TimedOut) => return Err(unavailable(url, &format!("its {what} did not arrive within 5 s"))),
    };
    let status = resp.status_code();
    if !(200..300).contains(&status) {
        return Err(unavailable(url, &format!("fetching its {what} answered HTTP {status}")));
    }
    let too_large = || unavailable(url, &format!("its {what} is larger than 256 KB"));
    let declared = resp.headers().get("content-length").ok().flatten().and_then(|l| l.trim().parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES) {
        return Err(too_large());
    }
    // Read as it streams and cut off at the cap: the isolate's 128 MB is not the issuer's to fill.
    let unreadable = || unavailable(url, &format!("its {what} could not be read"));
    let stream = resp.stream().map_err(|_| unreadable())?;
    let body = collect_capped(stream, MAX_DOCUMENT_BYTES).await.map_err(|_| unreadable())?.ok_or_else(too_large)?;
    String::from_utf8(body).map_err(|_| unreadable())
}

/// Authenticates a token this backend issued: by its hash in D1, then from this isolate's memory for at most
/// [`CALLER_TTL_SECS`]. Never a call to Descope, in either auth mode.
///
/// # Errors
/// 401 for a token that is unknown, revoked or expired.
pub async fn authenticate(db: &D1Database, token: &str) -> ApiResult<Caller> {
    let hash = token_hash(token);
    let (now, t) = (now_ms(), limits::now_secs());
    let known = TOKENS.with(|m| m.borrow().get(&hash).filter(|(_, until)| *until > t).map(|(row, _)| row.clone()));
    if let Some(row) = known {
        return row.caller(now);
    }
    let row: Option<StoredToken> = db
        .prepare(
            "SELECT id, org, issuer_id, name, kind, login, role, created_at, expires_at FROM oidc_tokens WHERE hash = ?1",
        )
        .bind(&[super::db::s(&hash)])?
        .first(None)
        .await?;
    let Some(row) = row else {
        return Err(ApiError::unauthorized(
            "this OIDC token is unknown or was revoked; exchange a new ID token (pulumi login --oidc-token)",
        ));
    };
    let caller = row.caller(now)?;
    let until = (t + CALLER_TTL_SECS).min((row.expires_at / 1000).max(0) as u64);
    TOKENS.with(|m| insert_bounded(&mut m.borrow_mut(), hash, (row, until)));
    Ok(caller)
}

/// Drops revoked tokens from this isolate's memory (other isolates drop them within [`CALLER_TTL_SECS`]).
pub fn forget(hashes: impl IntoIterator<Item = String>) {
    TOKENS.with(|m| {
        let mut m = m.borrow_mut();
        for h in hashes {
            m.remove(&h);
        }
    });
}
