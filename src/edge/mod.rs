//! The Workers runtime side: the fetch entry point and the adapters to D1, R2 and the Durable Object.
//!
//! A request flows one way: route → authenticate (`Caller`) → authorize (org membership, role for the method)
//! → handler → storage. Every failure on the way is an `ApiError`, turned into a response in one place.

pub(crate) mod audit;
mod backends;
mod checkpoints;
mod console;
mod db;
mod descope;
mod http;
mod lease;
mod ledger;
mod limits;
mod memo;
mod oidc;
mod oidc_admin;
mod secrets;
mod stacks;
mod updates;
mod user;

use crate::auth::{parse_authorization, Caller, Credential};
use crate::config::{AuthConfig, Config};
use crate::error::ApiError;
use crate::routes::{Route, UpdateOp};
use http::{json, ApiResult};
use crate::audit::Entry;
use worker::{event, Context, D1Database, Env, Request, Response, ScheduleContext, ScheduledEvent};

/// The variables the configuration reads; secrets arrive the same way as vars.
fn env_var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let method = req.method().to_string();
    let path = req.path();
    // Bytes on the wire as sent (compressed when the CLI gzips): the benchmark sums these per route.
    let sent = req.headers().get("content-length").ok().flatten().unwrap_or_else(|| "0".into());
    let started = worker::Date::now().as_millis();
    let mut seen = Seen::default();
    let result = handle(&mut req, &env, &method, &mut seen).await;
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            if e.status >= 500 {
                let detail = e.detail.as_deref().unwrap_or("");
                worker::console_error!("{method} {path} -> {} {} {detail}", e.status, e.message);
            }
            http::error_response(&e)?
        }
    };
    allow_origin(&env, &req, &mut response)?;
    let status = response.status_code();
    let entries = std::mem::take(&mut seen.entries);
    if !entries.is_empty() {
        // Entries whose outcome was not known when they were made are the answer's; written after it is sent.
        let entries = entries.into_iter().map(|e| Entry { status: if e.status == 0 { status } else { e.status }, ..e });
        ctx.wait_until(audit::write(env.clone(), entries.collect()));
    }
    let ms = worker::Date::now().as_millis() - started;
    // One JSON line per request, what Workers Logs and Logpush take in: never a token, a secret or a body.
    let id = request_id(&req);
    let line = serde_json::json!({
        "requestId": id, "method": method, "path": path, "route": seen.route, "status": status, "ms": ms,
        "bytesIn": sent.parse::<u64>().unwrap_or(0), "org": seen.org, "actor": seen.actor,
    });
    worker::console_log!("{line}");
    let _ = response.headers_mut().set("x-request-id", &id);
    Ok(response)
}

/// The daily Cron Trigger: audit log entries past retention go, and so do expired OIDC tokens.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let days = match config_of(&env).as_ref() {
        Ok(c) => c.audit_retention_days,
        Err(e) => return worker::console_error!("audit log purge: {}", e.message),
    };
    let db = match env.d1("DB") {
        Ok(db) => db,
        Err(e) => return worker::console_error!("daily purge: no database: {e}"),
    };
    let now = memo::now_ms();
    match audit::purge(&db, days, now).await {
        Ok(n) => worker::console_log!("audit log purge: {n} entries older than {days} days removed"),
        Err(e) => worker::console_error!("audit log purge failed: {e}"),
    }
    match oidc_admin::purge_expired(&db, now).await {
        Ok(n) => worker::console_log!("OIDC token purge: {n} expired tokens removed"),
        Err(e) => worker::console_error!("OIDC token purge failed: {e}"),
    }
}

thread_local! {
    /// The configuration, read once per isolate: vars and secrets do not change while an isolate lives, and
    /// parsing them (the dev users' JSON, the keys) on every request costs the hot routes time.
    static CONFIG: std::cell::RefCell<Option<std::rc::Rc<Result<Config, ApiError>>>> = const { std::cell::RefCell::new(None) };
}

fn config_of(env: &Env) -> std::rc::Rc<Result<Config, ApiError>> {
    if let Some(c) = CONFIG.with(|c| c.borrow().clone()) {
        return c;
    }
    let c = std::rc::Rc::new(Config::from_vars(|name| env_var(env, name)));
    if c.as_ref().as_ref().is_ok_and(|c| c.uses_dev_key) {
        worker::console_warn!(
            "PROCELLA_ENCRYPTION_KEY is not set: secrets use the fixed DEVELOPMENT key. Never run production like this."
        );
    }
    CONFIG.with(|slot| *slot.borrow_mut() = Some(c.clone()));
    c
}

/// A response to a listed origin names it (never `*`); `Vary` keeps caches from serving it to another origin.
fn allow_origin(env: &Env, req: &Request, response: &mut Response) -> worker::Result<()> {
    let shared = config_of(env);
    let Ok(config) = shared.as_ref() else { return Ok(()) };
    let origin = req.headers().get("origin")?;
    if let Some(origin) = config.cors_origins.allowed(origin.as_deref()) {
        let h = response.headers_mut();
        h.set("access-control-allow-origin", origin)?;
        h.set("vary", "Origin")?;
    }
    Ok(())
}

/// `OPTIONS`: a CORS preflight, answered only for a listed origin.
fn preflight(config: &Config, req: &Request) -> ApiResult<Response> {
    let origin = req.headers().get("origin")?;
    if config.cors_origins.allowed(origin.as_deref()).is_none() {
        return Err(ApiError::forbidden("cross-origin requests from this origin are not allowed"));
    }
    let h = worker::Headers::new();
    h.set("access-control-allow-methods", crate::cors::ALLOW_METHODS)?;
    h.set("access-control-allow-headers", crate::cors::ALLOW_HEADERS)?;
    h.set("access-control-max-age", crate::cors::MAX_AGE)?;
    Ok(Response::empty()?.with_status(204).with_headers(h))
}

/// The request's host as addressed (`host[:port]`).
fn host_of(req: &Request) -> ApiResult<String> {
    let url = req.url()?;
    let host = url.host_str().unwrap_or_default();
    Ok(url.port().map_or_else(|| host.to_owned(), |p| format!("{host}:{p}")))
}

/// Cloudflare's id of the request (`CF-Ray`), or a random one where there is none (`wrangler dev`).
fn request_id(req: &Request) -> String {
    if let Ok(Some(ray)) = req.headers().get("cf-ray") {
        return ray;
    }
    let mut bytes = [0u8; 8];
    let _ = getrandom::getrandom(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What one request's handling learned for its log line and its audit entries (`crate::audit`, made as it
/// goes; status 0 is the answer's status).
#[derive(Default)]
struct Seen {
    route: &'static str,
    org: Option<String>,
    actor: Option<String>,
    target: Option<String>,
    ip: Option<String>,
    entries: Vec<Entry>,
}

impl Seen {
    fn note(&mut self, actor: Option<&str>, action: &str, status: u16) {
        self.entries.push(Entry {
            time: memo::now_ms(),
            org: self.org.clone(),
            actor: actor.map(str::to_owned),
            action: action.to_owned(),
            target: self.target.clone(),
            status,
            ip: self.ip.clone(),
        });
    }
}

async fn handle(req: &mut Request, env: &Env, method: &str, trail: &mut Seen) -> ApiResult<Response> {
    let shared = config_of(env);
    let config = shared.as_ref().as_ref().map_err(Clone::clone);
    if method == "OPTIONS" {
        return preflight(config?, req);
    }
    let route = Route::parse(method, &req.path())?;
    trail.route = route.template();
    trail.org = route.org().map(str::to_owned);
    let db = env.d1("DB")?;

    // A health check that says what is wrong (configuration first, then storage) and what a monitor should
    // alert on (dev mode, the development key).
    if route == Route::Health {
        let config = config?;
        db::ping(&db).await?;
        let mut health = config.health();
        health["rateLimits"] = limits::bound(env).into();
        return json(&health);
    }
    if let Ok(c) = config {
        c.check_host(&host_of(req)?)?;
    }
    match route {
        Route::Page(page) => {
            let url = req.url()?;
            return console::page(config?, &page, &url);
        }
        Route::Capabilities => {
            let delta = crate::config::delta_checkpoints(|name| env_var(env, name))?;
            return json(&crate::api::user::Capabilities::current(delta));
        }
        _ => {}
    }

    let config = config?;
    let action = crate::audit::action(&route, method);
    trail.target = crate::audit::target(&route);
    trail.ip = req.headers().get("cf-connecting-ip")?;
    // The token endpoint's credential is the ID token in its form.
    if route == Route::OAuthToken {
        return oidc::exchange(env, &db, config, req, trail).await;
    }
    // The execution routes of a running update are authenticated by its lease token alone.
    if let Route::Update(p, id, op) = &route {
        if op.uses_lease_token() {
            let header = req.headers().get("authorization")?;
            let Credential::UpdateToken(token) = parse_authorization(header.as_deref())? else {
                return Err(ApiError::unauthorized("this route needs `Authorization: update-token <lease token>`"));
            };
            let result = updates::execute(env, &db, config, p, id, *op, token, req).await;
            // Never a 429 for a valid lease; a refused one costs its IP an attempt, so a flood of guessed lease
            // tokens ends in 429s like any other failed authentication.
            match &result {
                Err(e) if e.status == 401 || e.status == 403 => {
                    trail.note(None, crate::audit::AUTH_FAILED, e.status);
                    limits::count_auth_attempt(env, &config.limits, trail.ip.as_deref(), limits::now_secs()).await?;
                }
                _ => {
                    if let Some(action) = action {
                        trail.note(None, action, 0);
                    }
                }
            }
            return result;
        }
    }

    // Rate limits (crate::ratelimit): a credential this isolate has not accepted costs its client IP an attempt
    // before it is checked; an accepted one counts against its own per-minute limit.
    let t = limits::now_secs();
    let header = req.headers().get("authorization")?;
    let hash = parse_authorization(header.as_deref()).ok().map(|c| crate::ratelimit::credential_hash(&c));
    let known = match &hash {
        Some(h) => limits::accepted_recently(h, t).await,
        None => false,
    };
    if !known {
        limits::count_auth_attempt(env, &config.limits, trail.ip.as_deref(), t).await?;
    }
    let caller = match authenticate(config, &db, req).await {
        Ok(c) => c,
        Err(e) => {
            if e.status == 401 || e.status == 403 {
                trail.note(None, crate::audit::AUTH_FAILED, e.status);
            }
            return Err(e);
        }
    };
    trail.actor = Some(caller.actor().to_owned());
    let hash = hash.unwrap_or_default();
    limits::remember_accepted(&hash, t).await;
    // The secrets routes are counted in `dispatch`, once it knows whether an update is running on the stack.
    if !matches!(route, Route::Secrets(..)) {
        limits::count_request(env, &config.limits, &hash, t).await?;
    }
    if let Some(org) = route.org() {
        if let Err(e) = caller.authorize(org, method, || route.not_found()) {
            trail.note(Some(caller.actor()), crate::audit::DENIED, e.status);
            return Err(e);
        }
    }
    if let Some(action) = action {
        trail.note(Some(caller.actor()), action, 0);
    }
    let result = dispatch(route, &caller, config, env, &db, req, &hash).await;
    if action.is_none() && result.as_ref().is_err_and(|e| e.status == 403) {
        // A refusal the handler made (an admin-only page for a member, say).
        trail.note(Some(caller.actor()), crate::audit::DENIED, 403);
    }
    result
}

async fn authenticate(config: &Config, db: &D1Database, req: &Request) -> ApiResult<Caller> {
    let header = req.headers().get("authorization")?;
    let credential = parse_authorization(header.as_deref())?;
    match (&config.auth, credential) {
        (_, Credential::UpdateToken(_)) => {
            Err(ApiError::unauthorized("an update token is only valid on the routes of its running update"))
        }
        // Tokens from an OIDC exchange are ours in either mode: looked up in D1, never sent to Descope.
        (_, Credential::Token(token)) if crate::oidc::is_exchanged_token(token) => oidc::authenticate(db, token).await,
        (AuthConfig::Dev(users), Credential::Token(token)) => users.authenticate(token),
        (AuthConfig::Dev(_), Credential::Bearer(_)) => Err(ApiError::unauthorized(
            "Bearer sessions are not accepted in dev mode; use `Authorization: token <access-token>`",
        )),
        (AuthConfig::Descope(settings), credential) => {
            descope::authenticate(settings, db, credential, &config.org_slug_key).await
        }
    }
}

async fn dispatch(
    route: Route,
    caller: &Caller,
    config: &Config,
    env: &Env,
    db: &D1Database,
    req: &mut Request,
    credential_hash: &str,
) -> ApiResult<Response> {
    let url = req.url()?;
    match route {
        Route::Health | Route::Capabilities | Route::Page(_) => Err(ApiError::internal("unreachable route")),
        Route::CliToken => console::cli_token(config, caller, req).await,
        Route::ConsoleSettings => console::settings(config, caller, &url),
        Route::ConsoleTokens => console::tokens(config, caller),
        Route::User => user::get_user(caller),
        Route::DefaultOrg => user::default_org(caller),
        Route::UserStacks => user::list_stacks(caller, db, &url).await,
        Route::Project { org, project } => match req.method().to_string().as_str() {
            "HEAD" => stacks::project_exists(db, &org, &project).await,
            _ => stacks::create(db, &org, &project, req).await,
        },
        Route::Stack(p) => match req.method().to_string().as_str() {
            "DELETE" => stacks::delete(env, db, &p, &url).await,
            _ => stacks::get(db, &p).await,
        },
        Route::StackRename(p) => stacks::rename(env, db, &p, req).await,
        Route::MisnamedStack { org } => stacks::delete_misnamed(env, db, &org, &url).await,
        Route::AuditLogs { org } => audit::list(db, caller, &org, &url).await,
        Route::OAuthToken => Err(ApiError::internal("unreachable route")),
        Route::OidcIssuers { org } => match req.method().to_string().as_str() {
            "POST" => oidc_admin::create_issuer(db, caller, &org, req).await,
            _ => oidc_admin::list_issuers(db, caller, &org).await,
        },
        Route::OidcIssuer { org, id } => match req.method().to_string().as_str() {
            "DELETE" => oidc_admin::delete_issuer(db, caller, &org, &id).await,
            _ => oidc_admin::replace_issuer(db, caller, &org, &id, req).await,
        },
        Route::OidcTokens { org } => oidc_admin::list_tokens(db, caller, &org).await,
        Route::OidcToken { org, id } => oidc_admin::revoke_token(db, caller, &org, &id).await,
        Route::StackTags(p) => stacks::replace_tags(db, &p, req).await,
        Route::CreateUpdate(p, kind) => updates::create(env, db, caller, &p, kind, req).await,
        Route::Update(p, id, op) => match op {
            UpdateOp::Start => updates::start(env, db, config, &p, &id, req).await,
            UpdateOp::Get => updates::status(db, &p, &id).await,
            UpdateOp::Cancel => updates::cancel(env, db, &p, &id).await,
            UpdateOp::ListEvents => updates::events(db, &p, &id, &url).await,
            UpdateOp::Live => updates::live(env, db, &p, &id).await,
            _ => Err(ApiError::unauthorized("this route needs `Authorization: update-token <lease token>`")),
        },
        Route::Export(p, version) => updates::export(env, db, &p, version).await,
        Route::Import(p) => updates::import(env, db, caller, &p, req).await,
        Route::History(p) => updates::history(db, &p, &url).await,
        Route::LatestUpdate(p) => updates::one_update(db, &p, None).await,
        Route::UpdateByVersion(p, v) => updates::one_update(db, &p, Some(v)).await,
        #[cfg(feature = "faults")]
        Route::Faults(p) => lease::faults(env, stacks::load_stack(db, &p).await?.id, req).await,
        Route::Secrets(p, op) => {
            let stack = stacks::load_stack(db, &p).await?;
            // The CLI encrypts and decrypts through these while its update runs: bounded by the lease then.
            if stack.active_update.is_none() {
                limits::count_request(env, &config.limits, credential_hash, limits::now_secs()).await?;
            }
            secrets::handle(&config.encryption_key, &stack, op, req).await
        }
    }
}
