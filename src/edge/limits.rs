//! The Workers rate-limiting binding (`[[ratelimits]]` in wrangler.toml; infra/ deploys the same two), and this
//! isolate's memory of credentials it accepted. What is counted and why is `crate::ratelimit`.

use super::http::ApiResult;
use crate::ratelimit::{self, Limits, PERIOD_SECS};
use std::cell::RefCell;
use std::collections::HashMap;
use worker::js_sys::{Function, Object, Promise, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Env;

/// Counts API requests per credential.
const CREDENTIALS: &str = "CREDENTIAL_LIMITER";
/// Counts authentication attempts per client IP.
const AUTH_ATTEMPTS: &str = "AUTH_ATTEMPT_LIMITER";
/// Counts OIDC token exchanges per organization and issuer.
const EXCHANGES: &str = "OIDC_EXCHANGE_LIMITER";
/// How long an accepted credential spares its IP's attempt budget. It never grants access: the credential is
/// still checked on every request.
const ACCEPTED_TTL_SECS: u64 = 300;

/// The Cache API keys entries by URL; this host is never resolved.
const ACCEPTED_URL: &str = "https://procella-limits.invalid/accepted/";

thread_local! {
    /// Credential hash -> until when it counts as accepted here.
    static ACCEPTED: RefCell<HashMap<String, u64>> = RefCell::new(HashMap::new());
}

pub use super::memo::now_secs;

fn accepted_in_isolate(hash: &str, t: u64) -> bool {
    ACCEPTED.with(|a| a.borrow().get(hash).is_some_and(|until| *until > t))
}

/// Whether the credential with this hash was accepted lately: by this isolate, or by another isolate of this data
/// center (the Cache API, the same scope as the limiter's counters), so a caller new to an isolate does not pay
/// its IP an attempt.
pub async fn accepted_recently(hash: &str, t: u64) -> bool {
    super::memo::recall(&ACCEPTED, &format!("{ACCEPTED_URL}{hash}"), hash, t).await
}

/// Remembers an accepted credential, in the isolate and (once per isolate and period) in the Cache API.
pub async fn remember_accepted(hash: &str, t: u64) {
    if accepted_in_isolate(hash, t) {
        return;
    }
    let url = format!("{ACCEPTED_URL}{hash}");
    super::memo::remember(&ACCEPTED, &url, hash, t + ACCEPTED_TTL_SECS, ACCEPTED_TTL_SECS, "an accepted credential").await;
}

/// One authentication attempt from `ip`, for a credential this isolate does not know.
///
/// # Errors
/// 429 with `Retry-After` past `PROCELLA_AUTH_ATTEMPTS_PER_MINUTE`.
pub async fn count_auth_attempt(env: &Env, limits: &Limits, ip: Option<&str>, t: u64) -> ApiResult<()> {
    if allow(env, AUTH_ATTEMPTS, &ratelimit::ip_key(ip), limits.auth_attempts_per_ip).await {
        Ok(())
    } else {
        Err(ratelimit::too_many_requests("authenticating from this address", limits.auth_attempts_per_ip, t))
    }
}

/// One API request made with the credential of this hash.
///
/// # Errors
/// 429 with `Retry-After` past `PROCELLA_RATE_LIMIT_PER_MINUTE`.
pub async fn count_request(env: &Env, limits: &Limits, hash: &str, t: u64) -> ApiResult<()> {
    if allow(env, CREDENTIALS, &ratelimit::credential_key(hash), limits.per_credential).await {
        Ok(())
    } else {
        Err(ratelimit::too_many_requests("this token", limits.per_credential, t))
    }
}

/// One OIDC token exchange for `org` of a token claiming issuer `issuer_url`.
///
/// # Errors
/// 429 with `Retry-After` past `PROCELLA_OIDC_EXCHANGES_PER_MINUTE`.
pub async fn count_exchange(env: &Env, limits: &Limits, org: &str, issuer_url: &str, t: u64) -> ApiResult<()> {
    if allow(env, EXCHANGES, &ratelimit::exchange_key(org, issuer_url), limits.oidc_exchanges).await {
        Ok(())
    } else {
        let what = format!("exchanging this issuer's tokens for organization '{org}'");
        Err(ratelimit::too_many_requests(&what, limits.oidc_exchanges, t))
    }
}

/// Whether every limiter is bound (for `/healthz`).
pub fn bound(env: &Env) -> bool {
    [CREDENTIALS, AUTH_ATTEMPTS, EXCHANGES].iter().all(|b| Reflect::get(env, &JsValue::from_str(b)).is_ok_and(|v| !v.is_undefined()))
}

/// Counts one request under `key` and says whether it is within `limit`. The limit goes with the call, which
/// `wrangler dev`'s binding honours (so the variables decide it locally and in the tests); on Cloudflare the
/// binding's configured limit is the one enforced, and infra/ sets it and the variable from one value (a plain
/// `wrangler deploy` would reset the bindings to wrangler.toml's defaults). A limiter that fails lets the
/// request through, logged: a limit protects capacity and must not become an outage of its own.
async fn allow(env: &Env, binding: &str, key: &str, limit: u32) -> bool {
    match call(env, binding, key, limit).await {
        Ok(within) => within,
        Err(e) => {
            worker::console_error!("rate limiter {binding} failed, request let through: {e:?}");
            true
        }
    }
}

async fn call(env: &Env, binding: &str, key: &str, limit: u32) -> Result<bool, JsValue> {
    let limiter = Reflect::get(env, &JsValue::from_str(binding))?;
    if limiter.is_undefined() {
        return Err(JsValue::from_str("the binding is missing"));
    }
    let limit_fn: Function = Reflect::get(&limiter, &JsValue::from_str("limit"))?.dyn_into()?;
    let options = Object::new();
    Reflect::set(&options, &JsValue::from_str("key"), &JsValue::from_str(key))?;
    Reflect::set(&options, &JsValue::from_str("limit"), &JsValue::from_f64(f64::from(limit)))?;
    Reflect::set(&options, &JsValue::from_str("period"), &JsValue::from_f64(PERIOD_SECS as f64))?;
    let promise: Promise = limit_fn.call1(&limiter, &options)?.dyn_into()?;
    let outcome = JsFuture::from(promise).await?;
    Ok(Reflect::get(&outcome, &JsValue::from_str("success"))?.as_bool().unwrap_or(true))
}
