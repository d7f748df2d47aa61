//! `POST /api/oauth/token`: the form the CLI sends (`ExchangeOidcToken` and `RefreshAccessToken` in pulumi/pulumi
//! `pkg/backend/httpstate/client/client.go`, v3.274.1), the lifetime of what it gets back, the token itself and
//! the answer (`apitype.TokenExchangeGrantResponse`).
//!
//! The issued token is 256 random bits, stored in D1 only as its SHA-256 with its org, role and expiry. Chosen
//! over a worker-signed token with a revocation list: revoking is deleting one row and takes effect at once (no
//! list to keep and consult, no signing key to guard and rotate), a leaked table holds nothing usable, and the
//! token carries nothing to decode. The cost is one D1 read when an isolate first sees a token; the edge then
//! keeps the caller in memory for at most a minute (`src/edge/oidc.rs`), which bounds how late a revocation is
//! seen by another isolate.

use super::policy::Requested;
use crate::error::ApiError;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const SUBJECT_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TYPE_ORGANIZATION: &str = "urn:pulumi:token-type:access_token:organization";
pub const TYPE_TEAM: &str = "urn:pulumi:token-type:access_token:team";
pub const TYPE_PERSONAL: &str = "urn:pulumi:token-type:access_token:personal";
const AUDIENCE_PREFIX: &str = "urn:pulumi:org:";
/// What every issued token starts with, so authentication knows it without asking Descope.
pub const TOKEN_PREFIX: &str = "pul-oidc-";
/// The form is a few hundred bytes plus the ID token (at most 16 KB, `verify::MAX_TOKEN_BYTES`).
pub const MAX_FORM_BYTES: usize = 32 * 1024;
/// `PROCELLA_OIDC_MAX_TOKEN_SECONDS`' default: the CLI's own default `--oidc-expiration`.
pub const DEFAULT_MAX_TOKEN_SECONDS: u64 = 7200;

/// An error of the token endpoint, in both shapes (`{"code","message"}` and RFC 6749's `{"error",...}`).
pub fn refusal(status: u16, error: &'static str, message: impl Into<String>) -> ApiError {
    ApiError { oauth: Some(error), ..ApiError::new(status, message) }
}

/// A parsed token-exchange request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest {
    pub org: String,
    pub subject_token: String,
    /// `None`: an organization token; `Some(login)`: a personal token for that login.
    pub personal: Option<String>,
    /// Seconds asked for; `None` (or 0) means as long as allowed.
    pub expiration: Option<u64>,
    pub scope: String,
}

impl ExchangeRequest {
    pub fn requested(&self) -> Requested<'_> {
        self.personal.as_deref().map_or(Requested::Organization, Requested::Personal)
    }

    pub fn token_type(&self) -> &'static str {
        if self.personal.is_some() {
            TYPE_PERSONAL
        } else {
            TYPE_ORGANIZATION
        }
    }
}

/// Parses the form body of `POST /api/oauth/token`.
///
/// # Errors
/// 400 `unsupported_grant_type` for a refresh-token grant (this backend issues no refresh tokens) or an unknown
/// grant; 400 `invalid_request` for a missing or malformed field; 400 `invalid_target` for a team token.
pub fn parse_form(body: &[u8]) -> Result<ExchangeRequest, ApiError> {
    let mut f = std::collections::HashMap::<String, String>::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if f.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(refusal(400, "invalid_request", format!("the form field `{k}` is given twice")));
        }
    }
    let field = |name: &str| f.get(name).map(String::as_str).filter(|v| !v.is_empty());
    match field("grant_type") {
        Some(GRANT_TOKEN_EXCHANGE) => {}
        Some("refresh_token") => {
            return Err(refusal(
                400,
                "unsupported_grant_type",
                "refresh_token grants are not supported: this backend issues no refresh tokens; exchange a new OIDC token",
            ))
        }
        Some(other) => {
            let shown: String = other.chars().take(80).collect();
            return Err(refusal(400, "unsupported_grant_type", format!("unsupported grant_type '{shown}'")));
        }
        None => return Err(refusal(400, "invalid_request", "grant_type is required")),
    }
    if field("subject_token_type") != Some(SUBJECT_ID_TOKEN) {
        return Err(refusal(400, "invalid_request", format!("subject_token_type must be {SUBJECT_ID_TOKEN}")));
    }
    let subject_token = field("subject_token").ok_or_else(|| refusal(400, "invalid_request", "subject_token is required"))?;
    let org = field("audience")
        .and_then(|a| a.strip_prefix(AUDIENCE_PREFIX))
        .filter(|o| crate::names::OrgName::parse(o).is_ok())
        .ok_or_else(|| refusal(400, "invalid_request", "audience must be urn:pulumi:org:<organization>"))?;
    let scope = field("scope").unwrap_or("").to_owned();
    let personal = match field("requested_token_type").unwrap_or(TYPE_ORGANIZATION) {
        TYPE_ORGANIZATION => None,
        TYPE_TEAM => {
            return Err(refusal(
                400,
                "invalid_target",
                "team tokens are not supported: this backend has no teams; ask for an organization token (drop --oidc-team)",
            ))
        }
        TYPE_PERSONAL => {
            let user = scope.strip_prefix("user:").filter(|u| !u.is_empty()).ok_or_else(|| {
                refusal(400, "invalid_request", "a personal token needs scope user:<login> (--oidc-user)")
            })?;
            // Checked here, before it reaches a message, the audit log or a policy.
            if crate::names::OrgName::parse(user).is_err() {
                return Err(refusal(400, "invalid_request", "scope user:<login> does not name a valid login"));
            }
            Some(user.to_owned())
        }
        _ => return Err(refusal(400, "invalid_request", "unknown requested_token_type")),
    };
    let expiration = match field("expiration") {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            refusal(400, "invalid_request", "expiration must be a whole number of seconds")
        })?),
    };
    Ok(ExchangeRequest { org: org.to_owned(), subject_token: subject_token.to_owned(), personal, expiration, scope })
}

/// The lifetime granted: what was asked for (all that is allowed when 0 or absent), capped by the policy, the
/// issuer and the server. Asking for more is not an error; the answer's `expires_in` says what was given.
pub fn lifetime(requested: Option<u64>, caps: &[Option<u64>], server_cap: u64) -> u64 {
    let cap = caps.iter().flatten().copied().fold(server_cap, u64::min);
    requested.filter(|r| *r > 0).map_or(cap, |r| r.min(cap))
}

/// A new token from 32 random bytes.
pub fn new_token(random: &[u8; 32]) -> String {
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    format!("{TOKEN_PREFIX}{hex}")
}

/// Whether a `token` credential is one of ours (and so is looked up in D1, never sent to Descope).
pub fn is_exchanged_token(token: &str) -> bool {
    token.strip_prefix(TOKEN_PREFIX).is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The name a token is listed, audited and shown by `pulumi whoami -v` under: its issuer and subject.
pub fn token_name(issuer: &str, sub: &str) -> String {
    let mut name = format!("oidc:{issuer}:{sub}");
    if name.len() > 200 {
        let mut end = 200;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// `apitype.TokenExchangeGrantResponse`.
#[derive(Debug, Serialize)]
pub struct Granted {
    pub access_token: String,
    pub issued_token_type: &'static str,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
    }

    fn cli_form(extra: &[(&str, &str)]) -> Vec<u8> {
        let mut pairs = vec![
            ("audience", "urn:pulumi:org:acme"),
            ("grant_type", GRANT_TOKEN_EXCHANGE),
            ("requested_token_type", TYPE_ORGANIZATION),
            ("scope", ""),
            ("subject_token_type", SUBJECT_ID_TOKEN),
            ("subject_token", "eyJ.a.b"),
            ("expiration", "7200"),
        ];
        for (k, v) in extra {
            pairs.retain(|(pk, _)| pk != k);
            pairs.push((k, v));
        }
        form(&pairs)
    }

    #[test]
    fn the_clis_form_parses() {
        let r = parse_form(&cli_form(&[])).unwrap();
        assert_eq!((r.org.as_str(), r.subject_token.as_str(), r.expiration), ("acme", "eyJ.a.b", Some(7200)));
        assert_eq!(r.personal, None);
        assert_eq!(r.token_type(), TYPE_ORGANIZATION);
        let p = parse_form(&cli_form(&[("requested_token_type", TYPE_PERSONAL), ("scope", "user:ada")])).unwrap();
        assert_eq!(p.personal.as_deref(), Some("ada"));
    }

    #[test]
    fn refusals_carry_both_error_shapes() {
        let e = parse_form(&form(&[("grant_type", "refresh_token"), ("refresh_token", "r")])).unwrap_err();
        assert_eq!((e.status, e.oauth), (400, Some("unsupported_grant_type")));
        let body = e.body();
        assert_eq!(body["error"], "unsupported_grant_type");
        assert_eq!(body["code"], 400);
        assert_eq!(body["error_description"], body["message"]);
        let team = parse_form(&cli_form(&[("requested_token_type", TYPE_TEAM), ("scope", "team:ops")])).unwrap_err();
        assert!(team.message.contains("team tokens are not supported"), "{}", team.message);
        for (k, v, why) in [
            ("audience", "acme", "audience must be"),
            ("audience", "urn:pulumi:org:-bad", "audience must be"),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt", "subject_token_type"),
            ("subject_token", "", "subject_token is required"),
            ("expiration", "1h", "whole number"),
            ("grant_type", "password", "unsupported grant_type"),
            ("requested_token_type", TYPE_PERSONAL, "user:<login>"),
        ] {
            let e = parse_form(&cli_form(&[(k, v)])).unwrap_err();
            assert!(e.message.contains(why), "{k}={v}: {}", e.message);
            assert_eq!(e.status, 400);
        }
        let long = format!("user:{}", "x".repeat(5000));
        let e = parse_form(&cli_form(&[("requested_token_type", TYPE_PERSONAL), ("scope", &long)])).unwrap_err();
        assert!(e.message.contains("valid login") && !e.message.contains("xxxx"), "{}", e.message);
        let twice = [cli_form(&[]), b"&scope=x".to_vec()].concat();
        assert!(parse_form(&twice).unwrap_err().message.contains("twice"));
    }

    #[test]
    fn the_lifetime_is_capped_not_refused() {
        assert_eq!(lifetime(Some(36_000), &[None, None], 7200), 7200);
        assert_eq!(lifetime(Some(600), &[Some(900), None], 7200), 600);
        assert_eq!(lifetime(Some(3600), &[Some(900), Some(1800)], 7200), 900);
        assert_eq!(lifetime(None, &[None, Some(1800)], 7200), 1800);
        assert_eq!(lifetime(Some(0), &[], 3600), 3600);
    }

    #[test]
    fn tokens_are_recognised_by_shape_and_stored_by_hash() {
        let t = new_token(&[0xab; 32]);
        assert!(is_exchanged_token(&t));
        assert!(!is_exchanged_token("pul-oidc-xyz"));
        assert!(!is_exchanged_token(&t.replace("pul-oidc-", "pul-")));
        let h = token_hash(&t);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&t[9..30]));
        assert_ne!(h, token_hash(&new_token(&[0xac; 32])));
        assert_eq!(token_name("github", "repo:acme/app"), "oidc:github:repo:acme/app");
        assert!(token_name("g", &"é".repeat(300)).len() <= 200);
    }
}
