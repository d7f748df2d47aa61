//! The `PROCELLA_DESCOPE_*` variables, validated once, and the Descope URLs and headers they imply.
//!
//! Errors name the variable and the problem but never the value: the management key is a secret, and the other
//! values are not worth the habit of printing configuration.

use crate::config::{number, read};
use crate::error::ApiError;
use std::fmt;

const PROJECT_ID: &str = "PROCELLA_DESCOPE_PROJECT_ID";
const MANAGEMENT_KEY: &str = "PROCELLA_DESCOPE_MANAGEMENT_KEY";
const BASE_URL: &str = "PROCELLA_DESCOPE_BASE_URL";
const CACHE_TTL: &str = "PROCELLA_DESCOPE_CACHE_TTL_SECONDS";
const JWT_MAX_AGE: &str = "PROCELLA_JWT_MAX_AGE_SECONDS";
const CLI_TOKEN_TTL: &str = "PROCELLA_CLI_TOKEN_TTL_DAYS";
const CLI_TOKEN_MAX: &str = "PROCELLA_CLI_TOKEN_MAX_PER_USER";

const DEFAULT_BASE_URL: &str = "https://api.descope.com";
/// Descope project IDs are 28 characters today, 32+ with a region; anything much longer is a pasted mistake.
const MAX_PROJECT_ID_LEN: usize = 64;
const DEFAULT_CACHE_TTL_SECS: u64 = 3600;
/// A day: an exchanged session is re-checked with Descope at least this often, so a revoked key stops working.
const MAX_CACHE_TTL_SECS: u64 = 86_400;
/// The guide's maximum token age: a session JWT issued more than a day ago is refused, whatever its `exp`.
const DEFAULT_JWT_MAX_AGE_SECS: u64 = 86_400;
/// Thirty days: a longer maximum would not bound anything a session's own `exp` does not.
const MAX_JWT_AGE_SECS: u64 = 30 * 86_400;
/// Keys made by browser login carry a copy of the user's roles at that moment, so they expire: a demoted or
/// removed user's keys stop working within this many days.
const DEFAULT_CLI_TOKEN_TTL_DAYS: u64 = 90;
const DEFAULT_CLI_TOKEN_MAX: u32 = 10;

/// Descope mode's configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct DescopeSettings {
    /// The project ID (`P...`): the JWT issuer and audience, and the user part of every `Authorization` header.
    pub project_id: String,
    /// Where the Descope API lives, without a trailing slash.
    pub base_url: String,
    /// The longest an exchanged access key is cached, in seconds (it is never cached past its JWT's `exp`).
    pub cache_ttl_secs: u64,
    /// The oldest a session JWT's `iat` may be, in seconds (`PROCELLA_JWT_MAX_AGE_SECONDS`, default 86400).
    pub jwt_max_age_secs: u64,
    /// How long an access key made by browser login works (`PROCELLA_CLI_TOKEN_TTL_DAYS`, default 90).
    pub cli_token_ttl_days: u64,
    /// The most working access keys a user may hold for browser login to make another
    /// (`PROCELLA_CLI_TOKEN_MAX_PER_USER`, default 10).
    pub cli_token_max: u32,
    management_key: Option<String>,
}

impl fmt::Debug for DescopeSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DescopeSettings")
            .field("project_id", &self.project_id)
            .field("base_url", &self.base_url)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("jwt_max_age_secs", &self.jwt_max_age_secs)
            .field("cli_token_ttl_days", &self.cli_token_ttl_days)
            .field("cli_token_max", &self.cli_token_max)
            .field("management_key", &self.management_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A variable's value, trimmed; blank counts as unset (a secret pasted with a newline is still the secret).
impl DescopeSettings {
    /// Reads and validates the `PROCELLA_DESCOPE_*` variables through `var` (name to value).
    ///
    /// `PROCELLA_DESCOPE_PROJECT_ID` is required; `PROCELLA_DESCOPE_MANAGEMENT_KEY` is optional (only the browser
    /// login and token management need it); `PROCELLA_DESCOPE_BASE_URL` defaults to the URL Descope's SDKs derive
    /// from the project ID; `PROCELLA_DESCOPE_CACHE_TTL_SECONDS` defaults to 3600 and must be 1..=86400.
    ///
    /// # Errors
    /// A configuration error (500) naming the variable and what is wrong with it, never its value.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let project_id = read(&var, PROJECT_ID)
            .ok_or_else(|| ApiError::config(format!("{PROJECT_ID} must be set when PROCELLA_AUTH_MODE=descope")))?;
        check_project_id(&project_id)?;
        let base_url = match read(&var, BASE_URL) {
            Some(url) => check_base_url(&url)?,
            None => default_base_url(&project_id),
        };
        let cache_ttl_secs = number(&var, CACHE_TTL, 1, MAX_CACHE_TTL_SECS, DEFAULT_CACHE_TTL_SECS, "seconds")?;
        let jwt_max_age_secs = number(&var, JWT_MAX_AGE, 60, MAX_JWT_AGE_SECS, DEFAULT_JWT_MAX_AGE_SECS, "seconds")?;
        let cli_token_ttl_days = number(&var, CLI_TOKEN_TTL, 1, 3650, DEFAULT_CLI_TOKEN_TTL_DAYS, "days")?;
        let cli_token_max = number(&var, CLI_TOKEN_MAX, 1, 100, u64::from(DEFAULT_CLI_TOKEN_MAX), "keys")? as u32;
        let management_key = read(&var, MANAGEMENT_KEY);
        Ok(Self { project_id, base_url, cache_ttl_secs, jwt_max_age_secs, cli_token_ttl_days, cli_token_max, management_key })
    }

    /// When an access key made by browser login at `now` expires (Unix seconds).
    pub fn cli_token_expiry(&self, now: u64) -> u64 {
        now + self.cli_token_ttl_days * 86_400
    }

    /// The management key, for management API calls (creating access keys for `pulumi login`).
    pub fn management_key(&self) -> Option<&str> {
        self.management_key.as_deref()
    }

    /// `POST` here to exchange an access key for a session JWT.
    pub fn exchange_url(&self) -> String {
        format!("{}/v1/auth/accesskey/exchange", self.base_url)
    }

    /// `POST` here with the management key to create an access key (browser login).
    pub fn create_access_key_url(&self) -> String {
        format!("{}/v1/mgmt/accesskey/create", self.base_url)
    }

    /// `POST` here with the management key to list access keys (those bound to a user).
    pub fn search_access_keys_url(&self) -> String {
        format!("{}/v1/mgmt/accesskey/search", self.base_url)
    }

    /// `GET` here (no auth) for the project's JWKS.
    pub fn jwks_url(&self) -> String {
        format!("{}/v2/keys/{}", self.base_url, self.project_id)
    }

    /// The `Authorization` header Descope expects: `Bearer <projectId>:<secret>`, where the secret is an access
    /// key, a refresh JWT or the management key. The result holds the secret: never log it.
    pub fn authorization(&self, secret: &str) -> String {
        format!("Bearer {}:{secret}", self.project_id)
    }
}

fn check_project_id(id: &str) -> Result<(), ApiError> {
    if !id.starts_with('P') {
        return Err(ApiError::config(format!(
            "{PROJECT_ID} does not look like a Descope project ID (it starts with 'P'; copy it from the project settings)"
        )));
    }
    if id.len() > MAX_PROJECT_ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::config(format!(
            "{PROJECT_ID} must be ASCII letters and digits only, at most {MAX_PROJECT_ID_LEN} characters"
        )));
    }
    Ok(())
}

/// What Descope's SDKs do (`baseURLForProjectID` in go-sdk): a 32+ character project ID carries its region in
/// characters 1..5, and that region has its own API host.
fn default_base_url(project_id: &str) -> String {
    match project_id.get(1..5) {
        Some(region) if project_id.len() >= 32 => format!("https://api.{region}.descope.com"),
        _ => DEFAULT_BASE_URL.to_owned(),
    }
}

/// Accepts `https://host[:port][/path]`, and `http://` only for a loopback host (a local fake: management keys and
/// access keys travel in these requests); drops trailing slashes so paths join cleanly.
fn check_base_url(url: &str) -> Result<String, ApiError> {
    if let Some(rest) = url.strip_prefix("http://") {
        if !crate::config::is_loopback_host(rest.split('/').next().unwrap_or("")) {
            return Err(ApiError::config(format!("{BASE_URL} must be https:// (http:// only for a loopback host)")));
        }
    }
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split('/').next().unwrap_or(""));
    let ok = host.is_some_and(|h| !h.is_empty() && !h.contains('@'))
        && !url.contains(['?', '#'])
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        return Err(ApiError::config(format!(
            "{BASE_URL} must be an http:// or https:// URL with a host and no query, fragment or credentials"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const PID: &str = "P2abcDEF123";

    fn from(pairs: &[(&str, &str)]) -> Result<DescopeSettings, ApiError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        DescopeSettings::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = from(&[(PROJECT_ID, PID)]).unwrap();
        assert_eq!(s.project_id, PID);
        assert_eq!(s.base_url, "https://api.descope.com");
        assert_eq!(s.cache_ttl_secs, 3600);
        assert_eq!(s.jwt_max_age_secs, 86_400);
        assert_eq!((s.cli_token_ttl_days, s.cli_token_max), (90, 10));
        assert_eq!(s.cli_token_expiry(1_700_000_000), 1_700_000_000 + 90 * 86_400);
        assert_eq!(s.management_key(), None);
        assert_eq!(s.exchange_url(), "https://api.descope.com/v1/auth/accesskey/exchange");
        assert_eq!(s.jwks_url(), format!("https://api.descope.com/v2/keys/{PID}"));
        assert_eq!(s.authorization("K1"), format!("Bearer {PID}:K1"));
    }

    #[test]
    fn long_project_ids_use_their_regional_host() {
        let pid = "Puse12345678901234567890123456789";
        assert!(pid.len() >= 32);
        assert_eq!(from(&[(PROJECT_ID, pid)]).unwrap().base_url, "https://api.use1.descope.com");
        let pid31 = &pid[..31];
        assert_eq!(from(&[(PROJECT_ID, pid31)]).unwrap().base_url, "https://api.descope.com");
    }

    #[test]
    fn overrides_are_read_and_trimmed() {
        let s = from(&[
            (PROJECT_ID, &format!(" {PID}\n")),
            (BASE_URL, "http://127.0.0.1:8788/"),
            (CACHE_TTL, "60"),
            (JWT_MAX_AGE, "3600"),
            (MANAGEMENT_KEY, "mgmt-s3cret\n"),
        ])
        .unwrap();
        assert_eq!(s.project_id, PID);
        assert_eq!(s.base_url, "http://127.0.0.1:8788");
        assert_eq!(s.jwks_url(), format!("http://127.0.0.1:8788/v2/keys/{PID}"));
        assert_eq!(s.cache_ttl_secs, 60);
        assert_eq!(s.jwt_max_age_secs, 3600);
        assert_eq!(s.management_key(), Some("mgmt-s3cret"));
        let debug = format!("{s:?}");
        assert!(!debug.contains("s3cret") && debug.contains("<redacted>"), "{debug}");
        // A path prefix is kept (a fake mounted under a path).
        assert_eq!(
            from(&[(PROJECT_ID, PID), (BASE_URL, "https://x.test/descope//")]).unwrap().base_url,
            "https://x.test/descope"
        );
    }

    #[test]
    fn mistakes_name_the_variable_not_the_value() {
        let cases: [(&[(&str, &str)], &str); 18] = [
            (&[(PROJECT_ID, PID), (CLI_TOKEN_TTL, "0")], "PROCELLA_CLI_TOKEN_TTL_DAYS must be a whole number of days"),
            (&[(PROJECT_ID, PID), (CLI_TOKEN_TTL, "forever")], "from 1 to 3650"),
            (&[(PROJECT_ID, PID), (CLI_TOKEN_MAX, "0")], "PROCELLA_CLI_TOKEN_MAX_PER_USER must be"),
            (&[(PROJECT_ID, PID), (BASE_URL, "http://descope.example.com")], "must be https://"),
            (&[(PROJECT_ID, PID), (BASE_URL, "http://10.0.0.1:8080/x")], "must be https://"),
            (&[(PROJECT_ID, PID), (JWT_MAX_AGE, "59")], "from 60 to"),
            (&[(PROJECT_ID, PID), (JWT_MAX_AGE, "a day")], "PROCELLA_JWT_MAX_AGE_SECONDS"),
            (&[], "PROCELLA_DESCOPE_PROJECT_ID must be set"),
            (&[(PROJECT_ID, "   ")], "PROCELLA_DESCOPE_PROJECT_ID must be set"),
            (&[(PROJECT_ID, "X2secretish")], "starts with 'P'"),
            (&[(PROJECT_ID, "P2 secretish")], "ASCII letters and digits"),
            (&[(PROJECT_ID, "P2secretish/")], "ASCII letters and digits"),
            (&[(PROJECT_ID, &format!("P{}", "a".repeat(64)))], "at most 64"),
            (&[(PROJECT_ID, PID), (BASE_URL, "ftp://secretish")], "PROCELLA_DESCOPE_BASE_URL must be"),
            (&[(PROJECT_ID, PID), (BASE_URL, "https://")], "PROCELLA_DESCOPE_BASE_URL must be"),
            (&[(PROJECT_ID, PID), (BASE_URL, "https://u:secretish@h")], "PROCELLA_DESCOPE_BASE_URL must be"),
            (&[(PROJECT_ID, PID), (CACHE_TTL, "0")], "from 1 to 86400"),
            (&[(PROJECT_ID, PID), (CACHE_TTL, "86401")], "from 1 to 86400"),
        ];
        for (vars, want) in cases {
            let e = from(vars).unwrap_err();
            assert_eq!(e.status, 500);
            assert!(e.message.contains(want), "want {want:?} in {:?}", e.message);
            assert!(!e.message.contains("secretish"), "{}", e.message);
        }
        assert!(from(&[(PROJECT_ID, PID), (CACHE_TTL, "1h")]).unwrap_err().message.contains(CACHE_TTL));
        assert!(from(&[(PROJECT_ID, PID), (BASE_URL, "https://h/?q=1")]).is_err());
    }
}
