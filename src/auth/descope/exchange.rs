//! The access-key exchange with Descope: its response, what its failures mean to our client, and how long its
//! result may be cached.
//!
//! A Descope failure is never our 500 and never a success: a refused key is the client's 401, a rate limit is
//! passed on as 429, and anything else (5xx, Cloudflare 52x, timeouts, unreadable answers) is a 503 the client
//! may retry. Messages never include the access key, the session JWT or Descope's error text.

use crate::error::ApiError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt::{self, Write as _};

/// The body of `POST /v1/auth/accesskey/exchange`: no tenant selection, no extra claims.
pub const EXCHANGE_BODY: &str = r#"{"loginOptions":{}}"#;

/// Retry-After for a 503 (and a 429 without a usable `Retry-After`): long enough not to hammer, short enough
/// that `pulumi` users do not notice a blip.
pub const DEFAULT_RETRY_AFTER_SECS: u32 = 5;
/// Descope's own `Retry-After` is passed on, but a client should never be told to wait more than this.
const MAX_RETRY_AFTER_SECS: u32 = 300;

/// A cached exchange expires this long before its JWT: more than the verifier's 5 s leeway, so a cached caller
/// never outlives the token it came from, even with some clock skew.
pub const CACHE_EXPIRY_MARGIN_SECS: u64 = 30;

/// Domain separation: these hashes are cache keys for Descope access keys and nothing else.
const CACHE_KEY_DOMAIN: &[u8] = b"procella/descope/access-key/v1\0";

/// A successful exchange.
#[derive(Clone, PartialEq, Eq)]
pub struct Exchanged {
    /// The access key's ID (`keyId`), used as the caller's token name.
    pub key_id: Option<String>,
    /// The session JWT to verify. A bearer credential: `Debug` does not print it.
    pub session_jwt: String,
    /// `expiration` (Unix seconds) as Descope reports it; the JWT's own `exp` is what caching relies on.
    pub expiration: Option<u64>,
}

impl fmt::Debug for Exchanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exchanged")
            .field("key_id", &self.key_id)
            .field("session_jwt", &"<redacted>")
            .field("expiration", &self.expiration)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeResponse {
    key_id: Option<String>,
    session_jwt: Option<String>,
    expiration: Option<u64>,
}

/// Parses the 2xx body of an access-key exchange (`{"keyId", "sessionJwt", "expiration"}`).
///
/// # Errors
/// [`unavailable`] (503) when the body is not JSON or has no `sessionJwt`: Descope answered something we cannot
/// use, which the client can only retry.
pub fn parse_exchange_response(body: &str) -> Result<Exchanged, ApiError> {
    let r: ExchangeResponse = serde_json::from_str(body).map_err(|_| unavailable())?;
    let session_jwt = r.session_jwt.filter(|j| !j.is_empty()).ok_or_else(unavailable)?;
    Ok(Exchanged { key_id: r.key_id.filter(|k| !k.is_empty()), session_jwt, expiration: r.expiration })
}

/// How long a refused access key is answered 401 without asking Descope again, in seconds: random tokens must not
/// each cost an exchange, or an unauthenticated flood spends the project's Descope rate limit for everyone. A key
/// activated within that minute waits out the rest of it.
pub const REFUSAL_TTL_SECS: u64 = 60;

/// The error for an exchange Descope answered with a non-2xx `status`.
///
/// 400, 401 and 403 mean Descope refused the key (bad, revoked, expired, wrong project): 401 "invalid access
/// key". Everything else is [`upstream_failure`]. `retry_after` is the raw `Retry-After` header. The response
/// body does not change the answer: Descope's error text is for our logs ([`error_summary`]), not for the client.
///
/// # Errors
/// This function returns the error to answer; it is never a success.
pub fn exchange_failure(status: u16, retry_after: Option<&str>) -> ApiError {
    match status {
        400 | 401 | 403 => ApiError::unauthorized("invalid access key"),
        _ => upstream_failure(status, retry_after),
    }
}

/// The error for any other Descope call (the JWKS fetch) that answered a non-2xx `status`.
///
/// 429 stays 429, with Descope's `Retry-After` (seconds; a date or garbage falls back to
/// [`DEFAULT_RETRY_AFTER_SECS`]). Everything else, including a 2xx passed here by mistake, is [`unavailable`].
///
/// # Errors
/// This function returns the error to answer; it is never a success.
pub fn upstream_failure(status: u16, retry_after: Option<&str>) -> ApiError {
    if status == 429 {
        let mut e = ApiError::new(429, "too many requests to the identity provider, try again later");
        e.retry_after = Some(retry_after_secs(retry_after));
        return e;
    }
    unavailable()
}

/// 503 "identity provider unavailable, try again": for 5xx, Cloudflare's 520-530, timeouts, network errors and
/// answers we cannot read.
///
/// # Errors
/// This function returns the error to answer.
pub fn unavailable() -> ApiError {
    let mut e = ApiError::new(503, "identity provider unavailable, try again");
    e.retry_after = Some(DEFAULT_RETRY_AFTER_SECS);
    e
}

/// A log line for a Descope error body (`{"errorCode", "errorDescription", "errorMessage"}`): the code and the
/// generic description only, since `errorMessage` may quote what we sent. `None` when the body is not that shape.
pub fn error_summary(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct DescopeError {
        error_code: Option<String>,
        error_description: Option<String>,
    }
    let e: DescopeError = serde_json::from_str(body).ok()?;
    let code = e.error_code?;
    let mut line: String = code.chars().filter(char::is_ascii_alphanumeric).take(16).collect();
    if let Some(d) = e.error_description {
        line.push_str(": ");
        line.extend(d.chars().filter(|c| !c.is_control()).take(200));
    }
    Some(line)
}

fn retry_after_secs(header: Option<&str>) -> u32 {
    header
        .and_then(|h| h.trim().parse::<u32>().ok())
        .map_or(DEFAULT_RETRY_AFTER_SECS, |s| s.clamp(1, MAX_RETRY_AFTER_SECS))
}

/// How long to cache an exchange whose JWT expires at `jwt_exp`: until [`CACHE_EXPIRY_MARGIN_SECS`] before `exp`,
/// and no longer than `configured_ttl`. `None` when that leaves nothing (do not cache). Stores with a minimum TTL
/// (Workers KV: 60 s) should also skip values below it.
pub fn cache_ttl(now: u64, jwt_exp: u64, configured_ttl: u64) -> Option<u64> {
    let remaining = jwt_exp.checked_sub(CACHE_EXPIRY_MARGIN_SECS)?.checked_sub(now)?;
    Some(remaining.min(configured_ttl)).filter(|&t| t > 0)
}

/// The cache key for an access key of `project_id`: a prefix and the hex SHA-256 of the key (domain-separated,
/// with the project so a changed project ID never reuses old entries). The key itself never reaches the cache,
/// and access keys are random enough that a plain hash does not reveal them.
pub fn cache_key(project_id: &str, access_key: &str) -> String {
    let mut h = Sha256::new();
    h.update(CACHE_KEY_DOMAIN);
    h.update(project_id.as_bytes());
    h.update(b"\0");
    h.update(access_key.as_bytes());
    let mut key = String::from("descope-access-key:");
    for b in h.finalize() {
        // Writing to a String cannot fail.
        let _ = write!(key, "{b:02x}");
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_successful_exchange_is_parsed_and_its_jwt_not_printed() {
        let e = parse_exchange_response(r#"{"keyId":"K2x","sessionJwt":"a.b.c","expiration":1700000600}"#).unwrap();
        assert_eq!(e.key_id.as_deref(), Some("K2x"));
        assert_eq!(e.session_jwt, "a.b.c");
        assert_eq!(e.expiration, Some(1_700_000_600));
        assert!(!format!("{e:?}").contains("a.b.c"));
        // Extra fields are fine; keyId and expiration are optional.
        let e = parse_exchange_response(r#"{"sessionJwt":"a.b.c","other":1}"#).unwrap();
        assert_eq!((e.key_id, e.expiration), (None, None));
    }

    #[test]
    fn an_unreadable_exchange_is_a_503() {
        for body in ["", "not json", "{}", r#"{"sessionJwt":""}"#, r#"{"sessionJwt":42}"#, "[]"] {
            let e = parse_exchange_response(body).unwrap_err();
            assert_eq!((e.status, e.retry_after), (503, Some(DEFAULT_RETRY_AFTER_SECS)), "{body}");
            assert_eq!(e.message, "identity provider unavailable, try again");
        }
    }

    #[test]
    fn refused_keys_are_401_without_echo() {
        for status in [400, 401, 403] {
            let e = exchange_failure(status, None);
            assert_eq!((e.status, e.message.as_str(), e.retry_after), (401, "invalid access key", None));
        }
    }

    #[test]
    fn rate_limits_pass_on_retry_after() {
        assert_eq!(exchange_failure(429, Some("12")).retry_after, Some(12));
        assert_eq!(exchange_failure(429, Some(" 7 ")).status, 429);
        assert_eq!(exchange_failure(429, None).retry_after, Some(DEFAULT_RETRY_AFTER_SECS));
        assert_eq!(exchange_failure(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")).retry_after, Some(5));
        assert_eq!(exchange_failure(429, Some("0")).retry_after, Some(1));
        assert_eq!(exchange_failure(429, Some("86400")).retry_after, Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(upstream_failure(429, Some("3")).retry_after, Some(3));
    }

    #[test]
    fn everything_else_is_a_retryable_503_never_500_or_success() {
        for status in [200, 204, 302, 404, 405, 409, 500, 502, 503, 504, 520, 521, 522, 524, 530, 599] {
            for e in [exchange_failure(status, Some("9")), upstream_failure(status, None)] {
                assert_eq!(e.status, 503, "{status}");
                assert_eq!(e.retry_after, Some(DEFAULT_RETRY_AFTER_SECS));
            }
        }
        assert_eq!(upstream_failure(401, None).status, 503, "a refused JWKS fetch is not the client's fault");
    }

    #[test]
    fn error_bodies_are_summarized_for_logs_without_the_message() {
        let body = r#"{"errorCode":"E061103","errorDescription":"Access key expired","errorMessage":"key K2s3cret"}"#;
        assert_eq!(error_summary(body).as_deref(), Some("E061103: Access key expired"));
        assert_eq!(error_summary(r#"{"errorCode":"E130429"}"#).as_deref(), Some("E130429"));
        assert_eq!(error_summary("<html>bad gateway</html>"), None);
        assert_eq!(error_summary(r#"{"errorDescription":"x"}"#), None);
    }

    #[test]
    fn cache_until_shortly_before_exp_and_within_the_ttl() {
        let now = 1_000_000;
        assert_eq!(cache_ttl(now, now + 600, 3600), Some(570));
        assert_eq!(cache_ttl(now, now + 86_400 * 28, 3600), Some(3600));
        assert_eq!(cache_ttl(now, now + 31, 3600), Some(1));
        assert_eq!(cache_ttl(now, now + 30, 3600), None);
        assert_eq!(cache_ttl(now, now + 5, 3600), None);
        assert_eq!(cache_ttl(now, now - 100, 3600), None);
        assert_eq!(cache_ttl(now, 10, 3600), None);
        assert_eq!(cache_ttl(now, now + 600, 0), None);
    }

    #[test]
    fn cache_keys_hide_the_key_and_separate_projects() {
        let k = cache_key("P2x", "K2secret:abc");
        assert!(k.starts_with("descope-access-key:"));
        assert_eq!(k.len(), "descope-access-key:".len() + 64);
        assert!(!k.contains("secret"));
        assert_eq!(k, cache_key("P2x", "K2secret:abc"), "stable");
        assert_ne!(k, cache_key("P2y", "K2secret:abc"));
        assert_ne!(k, cache_key("P2x", "K2secret:abd"));
        // The separator keeps (project, key) pairs apart.
        assert_ne!(cache_key("P2", "xK"), cache_key("P2x", "K"));
    }
}
