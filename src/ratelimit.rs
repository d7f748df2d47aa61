//! Rate limits: what is counted, under which key, against which limit, and what a client is told past it.
//!
//! The counting is the Workers rate-limiting binding's (one counter per key per Cloudflare location, shared by
//! every isolate there; `wrangler dev` runs the same binding locally). A counter in an isolate would not be a
//! limit: a worker runs in many isolates. Three limits, all per minute:
//!
//! - **Per credential** (`PROCELLA_RATE_LIMIT_PER_MINUTE`, default 100): every authenticated API request, keyed by
//!   a hash of its `Authorization` value. The execution routes of a running update are exempt (the CLI treats a
//!   429 there as fatal, and a 1000-resource `up` sends thousands a minute; the lease bounds them), and so are
//!   the secrets routes of a stack while an update runs on it (the CLI encrypts and decrypts through them mid-update).
//! - **Per client IP** (`PROCELLA_AUTH_ATTEMPTS_PER_MINUTE`, default 20): every credential this isolate has not
//!   already accepted costs its client IP (`CF-Connecting-IP`) one attempt *before* it is checked, so failed
//!   authentications (guessed dev tokens, junk access keys) are limited, a correct guess past the limit is not even
//!   looked at, and callers this isolate already knows are never slowed by a noisy neighbour behind the same IP.
//!   Every OIDC token exchange (`POST /api/oauth/token`) costs one too: its ID token is a credential never seen.
//! - **Per organization and issuer** (`PROCELLA_OIDC_EXCHANGES_PER_MINUTE`, default 60): OIDC token exchanges,
//!   keyed by the org asked for and the issuer the ID token claims, counted before the token is verified.

use crate::auth::Credential;
use crate::error::ApiError;
use sha2::{Digest, Sha256};

/// The window of both limits: the binding counts per 10 or 60 seconds.
pub const PERIOD_SECS: u64 = 60;
pub const DEFAULT_PER_CREDENTIAL: u32 = 100;
pub const DEFAULT_AUTH_ATTEMPTS_PER_IP: u32 = 20;
/// A pipeline exchanges once per job; 60 a minute per org and issuer is a busy monorepo's CI, not a flood.
pub const DEFAULT_OIDC_EXCHANGES: u32 = 60;
/// A key names at most this much of a client-chosen header (`CF-Connecting-IP` is set by Cloudflare, but locally
/// it is whatever the client sends).
const MAX_IP_LEN: usize = 64;

/// The configured limits (requests per [`PERIOD_SECS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_credential: u32,
    pub auth_attempts_per_ip: u32,
    /// OIDC token exchanges per organization and issuer (`PROCELLA_OIDC_EXCHANGES_PER_MINUTE`).
    pub oidc_exchanges: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            per_credential: DEFAULT_PER_CREDENTIAL,
            auth_attempts_per_ip: DEFAULT_AUTH_ATTEMPTS_PER_IP,
            oidc_exchanges: DEFAULT_OIDC_EXCHANGES,
        }
    }
}

/// A hash of a parsed credential (its scheme and value, so `Token  X` and `token X` are one credential): its counter
/// key, and how the edge remembers credentials it accepted. The credential itself is never a key, a log line or a
/// map entry.
pub fn credential_hash(credential: &Credential<'_>) -> String {
    let (scheme, value) = match credential {
        Credential::Token(v) => ("token", v),
        Credential::UpdateToken(v) => ("update-token", v),
        Credential::Bearer(v) => ("bearer", v),
    };
    let mut h = Sha256::new();
    h.update(scheme.as_bytes());
    h.update(b"\0");
    h.update(value.as_bytes());
    h.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The counter key of a credential (by its [`credential_hash`]).
pub fn credential_key(hash: &str) -> String {
    format!("credential:{hash}")
}

/// The counter key of a client IP's authentication attempts. An IPv6 client is counted by its /64, the block one
/// subscriber gets (rotating addresses inside it is free).
pub fn ip_key(ip: Option<&str>) -> String {
    let ip = ip.map(str::trim).filter(|i| !i.is_empty()).unwrap_or("unknown");
    if let Ok(v6) = ip.parse::<std::net::Ipv6Addr>() {
        let s = v6.segments();
        return format!("auth-ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]);
    }
    format!("auth-ip:{}", ip.chars().take(MAX_IP_LEN).collect::<String>())
}

/// The counter key of an organization's exchanges of one issuer's tokens (the issuer by a hash of its URL, which
/// the client chose: it is counted before it is known to be registered).
pub fn exchange_key(org: &str, issuer_url: &str) -> String {
    let h = Sha256::digest(issuer_url.as_bytes());
    let hex: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("oidc:{org}:{hex}")
}

/// Seconds until the current window ends (windows are aligned to the clock), at least 1.
pub fn retry_after(now_unix_secs: u64) -> u32 {
    (PERIOD_SECS - now_unix_secs % PERIOD_SECS).max(1) as u32
}

/// The 429 past a limit, with `Retry-After`; the CLI reports it as a rate-limit error.
pub fn too_many_requests(what: &str, limit: u32, now_unix_secs: u64) -> ApiError {
    let mut e = ApiError::new(429, format!("too many requests: {what} is limited to {limit} a minute; try again later"));
    e.retry_after = Some(retry_after(now_unix_secs));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_hold_the_credential_and_spellings_of_one_are_one() {
        use crate::auth::parse_authorization;
        let hash = |header: &str| credential_hash(&parse_authorization(Some(header)).unwrap());
        let h = hash("token pul-s3cret-token");
        assert_eq!(h.len(), 32);
        assert!(!credential_key(&h).contains("s3cret"));
        for same in ["Token pul-s3cret-token", "TOKEN    pul-s3cret-token", "  token pul-s3cret-token  "] {
            assert_eq!(hash(same), h, "{same:?}");
        }
        assert_ne!(h, hash("token pul-s3cret-tokeN"));
        assert_ne!(h, hash("Bearer pul-s3cret-token"), "another scheme is another credential");
    }

    #[test]
    fn ip_keys_are_bounded_and_never_empty() {
        assert_eq!(ip_key(Some(" 203.0.113.7 ")), "auth-ip:203.0.113.7");
        assert_eq!(ip_key(None), "auth-ip:unknown");
        assert_eq!(ip_key(Some("")), "auth-ip:unknown");
        assert_eq!(ip_key(Some(&"x".repeat(500))).len(), "auth-ip:".len() + 64);
        assert_eq!(ip_key(Some("2001:db8:1:2:aaaa::1")), "auth-ip:2001:db8:1:2::/64");
        assert_eq!(ip_key(Some("2001:db8:1:2:bbbb:cccc:dddd:eeee")), ip_key(Some("2001:db8:1:2::9")));
    }

    #[test]
    fn exchanges_are_counted_per_org_and_issuer() {
        let k = exchange_key("acme", "https://token.actions.githubusercontent.com");
        assert!(k.starts_with("oidc:acme:") && k.len() == "oidc:acme:".len() + 16, "{k}");
        assert_ne!(k, exchange_key("beta", "https://token.actions.githubusercontent.com"));
        assert_ne!(k, exchange_key("acme", "https://gitlab.com"));
        assert!(exchange_key("acme", &"x".repeat(10_000)).len() < 40, "a client-chosen issuer cannot grow a key");
    }

    #[test]
    fn past_a_limit_the_client_is_told_when_to_come_back() {
        let minute = 1_699_999_980; // a multiple of 60
        let e = too_many_requests("this token", 100, minute + 40);
        assert_eq!((e.status, e.retry_after), (429, Some(20)));
        assert_eq!(e.body()["code"], 429);
        assert!(e.message.contains("100 a minute"), "{}", e.message);
        assert_eq!(retry_after(minute + 59), 1);
        assert_eq!(retry_after(minute), 60);
    }
}
