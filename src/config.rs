//! The worker's configuration, read from wrangler vars and secrets by name and validated here.
//!
//! Reading is a function from variable name to value, so the rules are tested natively; the edge passes
//! a closure over `worker::Env`.

use crate::auth::descope::DescopeSettings;
use crate::auth::dev::{DevUsers, DevVars};
use crate::error::ApiError;
use crate::secrets::{MasterKey, DEV_FALLBACK_KEY_HEX};

/// How API tokens are authenticated (`PROCELLA_AUTH_MODE`).
#[derive(Debug, Clone)]
pub enum AuthConfig {
    Dev(DevUsers),
    Descope(DescopeSettings),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub auth: AuthConfig,
    /// The master key of the service secrets provider (`PROCELLA_ENCRYPTION_KEY`).
    pub encryption_key: MasterKey,
    /// True when dev mode runs on the fixed development key because `PROCELLA_ENCRYPTION_KEY` is unset.
    pub uses_dev_key: bool,
    /// How long an update's lease lasts from its start or last renewal (`PROCELLA_LEASE_SECONDS`, default 300,
    /// the lease the CLI assumes). Shorter values exist for tests of abandoned updates.
    pub lease_ms: i64,
    /// Whether updates are offered journaling (`PROCELLA_JOURNALING`, default `true`); `false` keeps the CLI on
    /// checkpoint uploads (for measuring, and as an escape hatch).
    pub journaling: bool,
    /// The largest inflated `journalentries` body (`PROCELLA_JOURNAL_BATCH_MAX_BYTES`); over it the CLI is told
    /// 413 and splits its batch.
    pub journal_batch_max: usize,
    /// Origins allowed to call the API from a browser (`PROCELLA_CORS_ORIGINS`; empty: same origin only).
    pub cors_origins: crate::cors::CorsOrigins,
    /// Whether dev mode may answer requests addressed to a host that is not loopback
    /// (`PROCELLA_ALLOW_DEV_MODE=true`, set on purpose for a shared test deployment; default `false`).
    pub allow_dev_mode: bool,
    /// `PROCELLA_RATE_LIMIT_PER_MINUTE` and `PROCELLA_AUTH_ATTEMPTS_PER_MINUTE` (see `crate::ratelimit`).
    pub limits: crate::ratelimit::Limits,
    /// The key of derived organization slugs (`MasterKey::slug_key`), computed once.
    pub org_slug_key: [u8; 32],
    /// How long audit log entries are kept (`PROCELLA_AUDIT_RETENTION_DAYS`, default 365): the daily Cron
    /// Trigger removes older ones.
    pub audit_retention_days: i64,
    /// The longest an exchanged OIDC token lives (`PROCELLA_OIDC_MAX_TOKEN_SECONDS`, default 2 h), whatever the
    /// CLI asks for and the policy allows.
    pub oidc_max_token_secs: u64,
}

/// Whether `delta-checkpoint-uploads-v2` is advertised (`PROCELLA_DELTA_CHECKPOINTS`, default `true`). Turning it
/// off makes the CLI upload whole checkpoints; the benchmark compares the two.
///
/// # Errors
/// A configuration error for a value other than `true` or `false`.
pub fn delta_checkpoints(var: impl Fn(&str) -> Option<String>) -> Result<bool, ApiError> {
    match var("PROCELLA_DELTA_CHECKPOINTS").as_deref().map(str::trim) {
        None | Some("") | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::config("PROCELLA_DELTA_CHECKPOINTS must be \"true\" or \"false\"")),
    }
}

fn flag(var: &impl Fn(&str) -> Option<String>, name: &str, default: bool) -> Result<bool, ApiError> {
    match var(name).as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(_) => Err(ApiError::config(format!("{name} must be \"true\" or \"false\""))),
    }
}

/// A single journal entry larger than the batch cap cannot be split and fails its update, so the cap stays well
/// above an ordinary entry (a few KB).
const MIN_JOURNAL_BATCH_BYTES: usize = 16 << 10;

fn journal_batch_max(var: &impl Fn(&str) -> Option<String>) -> Result<usize, ApiError> {
    let Some(v) = var("PROCELLA_JOURNAL_BATCH_MAX_BYTES").filter(|v| !v.trim().is_empty()) else {
        return Ok(crate::journal::batch::DEFAULT_MAX_BATCH_BYTES);
    };
    match v.trim().parse::<usize>() {
        Ok(n) if (MIN_JOURNAL_BATCH_BYTES..=crate::journal::batch::DEFAULT_MAX_BATCH_BYTES).contains(&n) => Ok(n),
        _ => Err(ApiError::config(format!(
            "PROCELLA_JOURNAL_BATCH_MAX_BYTES must be a number of bytes from {MIN_JOURNAL_BATCH_BYTES} to {}",
            crate::journal::batch::DEFAULT_MAX_BATCH_BYTES
        ))),
    }
}

/// A variable's value, trimmed; `None` when unset or blank.
pub(crate) fn read(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A whole number from `min` to `max`, or `default` when unset; the error names the variable, the `unit` and the
/// range, never the value.
pub(crate) fn number(
    var: &impl Fn(&str) -> Option<String>,
    name: &str,
    min: u64,
    max: u64,
    default: u64,
    unit: &str,
) -> Result<u64, ApiError> {
    match read(var, name) {
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| ApiError::config(format!("{name} must be a whole number of {unit} from {min} to {max}"))),
        None => Ok(default),
    }
}

/// A per-minute limit: 1 to a million.
fn per_minute(var: &impl Fn(&str) -> Option<String>, name: &str, default: u32) -> Result<u32, ApiError> {
    Ok(number(var, name, 1, 1_000_000, u64::from(default), "requests a minute")? as u32)
}

fn oidc_max_token_secs(var: &impl Fn(&str) -> Option<String>) -> Result<u64, ApiError> {
    let default = crate::oidc::exchange::DEFAULT_MAX_TOKEN_SECONDS;
    number(var, "PROCELLA_OIDC_MAX_TOKEN_SECONDS", 1, 86_400, default, "seconds")
}

fn lease_ms(var: &impl Fn(&str) -> Option<String>) -> Result<i64, ApiError> {
    let default = (crate::engine::DEFAULT_LEASE_MS / 1000) as u64;
    Ok(number(var, "PROCELLA_LEASE_SECONDS", 1, 3600, default, "seconds")? as i64 * 1000)
}

/// Whether a request's host is this machine: `localhost`, 127.0.0.0/8 or `[::1]` (the port aside).
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { host })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name == "::1"
        || name.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

impl Config {
    /// Dev mode is for a developer's own machine: its tokens are static and, without `PROCELLA_ENCRYPTION_KEY`,
    /// its secrets are under a public key. Off loopback it answers nothing unless `PROCELLA_ALLOW_DEV_MODE=true`
    /// was set on purpose, and even then never with the development key.
    ///
    /// # Errors
    /// 403 naming what to set, for a request to a host that is not loopback.
    pub fn check_host(&self, host: &str) -> Result<(), ApiError> {
        if !matches!(self.auth, AuthConfig::Dev(_)) || is_loopback_host(host) {
            return Ok(());
        }
        if !self.allow_dev_mode {
            return Err(ApiError::forbidden(
                "this server runs in dev mode, which answers only on loopback: set PROCELLA_AUTH_MODE=descope \
                 (or PROCELLA_ALLOW_DEV_MODE=true, on purpose, for a shared test deployment)",
            ));
        }
        if self.uses_dev_key {
            return Err(ApiError::forbidden(
                "this server runs in dev mode on the fixed development key, which is never used off loopback: \
                 set PROCELLA_ENCRYPTION_KEY",
            ));
        }
        Ok(())
    }

    /// What `/healthz` reports beside `status`, so a monitor can alert on a development setup in production.
    pub fn health(&self) -> serde_json::Value {
        let mode = match self.auth {
            AuthConfig::Dev(_) => "dev",
            AuthConfig::Descope(_) => "descope",
        };
        serde_json::json!({
            "status": "ok",
            "authMode": mode,
            "devMode": mode == "dev",
            "devKey": self.uses_dev_key,
        })
    }

    /// Builds the configuration from variables looked up by name.
    ///
    /// # Errors
    /// A configuration error (HTTP 500) naming the variable and the problem; never a fallback to another mode.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ApiError> {
        let mode = var("PROCELLA_AUTH_MODE").map(|m| m.trim().to_owned()).unwrap_or_default();
        let auth = match mode.as_str() {
            "dev" => AuthConfig::Dev(DevUsers::parse(&DevVars {
                auth_token: var("PROCELLA_DEV_AUTH_TOKEN"),
                user_login: var("PROCELLA_DEV_USER_LOGIN"),
                org_login: var("PROCELLA_DEV_ORG_LOGIN"),
                users: var("PROCELLA_DEV_USERS"),
            })?),
            "descope" => AuthConfig::Descope(DescopeSettings::from_vars(&var)?),
            "" => return Err(ApiError::config("PROCELLA_AUTH_MODE is not set (expected \"dev\" or \"descope\")")),
            other => {
                return Err(ApiError::config(format!(
                    "PROCELLA_AUTH_MODE has an unknown value \"{other}\" (expected \"dev\" or \"descope\")"
                )))
            }
        };
        let (encryption_key, uses_dev_key) = match var("PROCELLA_ENCRYPTION_KEY").filter(|k| !k.trim().is_empty()) {
            Some(hex) => (MasterKey::from_hex(&hex)?, false),
            None if matches!(auth, AuthConfig::Descope(_)) => {
                return Err(ApiError::config(
                    "PROCELLA_ENCRYPTION_KEY must be set when PROCELLA_AUTH_MODE=descope (64 hex characters)",
                ))
            }
            // Dev mode only: a fixed key, logged when each isolate starts, and never used off loopback.
            None => (MasterKey::from_hex(DEV_FALLBACK_KEY_HEX)?, true),
        };
        delta_checkpoints(&var)?;
        let org_slug_key = encryption_key.slug_key();
        Ok(Self {
            org_slug_key,
            auth,
            encryption_key,
            uses_dev_key,
            lease_ms: lease_ms(&var)?,
            journaling: flag(&var, "PROCELLA_JOURNALING", true)?,
            journal_batch_max: journal_batch_max(&var)?,
            cors_origins: crate::cors::CorsOrigins::parse(var("PROCELLA_CORS_ORIGINS").as_deref())?,
            allow_dev_mode: flag(&var, "PROCELLA_ALLOW_DEV_MODE", false)?,
            limits: crate::ratelimit::Limits {
                per_credential: per_minute(&var, "PROCELLA_RATE_LIMIT_PER_MINUTE", crate::ratelimit::DEFAULT_PER_CREDENTIAL)?,
                auth_attempts_per_ip: per_minute(
                    &var,
                    "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE",
                    crate::ratelimit::DEFAULT_AUTH_ATTEMPTS_PER_IP,
                )?,
                oidc_exchanges: per_minute(&var, "PROCELLA_OIDC_EXCHANGES_PER_MINUTE", crate::ratelimit::DEFAULT_OIDC_EXCHANGES)?,
            },
            oidc_max_token_secs: oidc_max_token_secs(&var)?,
            audit_retention_days: crate::audit::retention_days(var("PROCELLA_AUDIT_RETENTION_DAYS").as_deref())
                .map_err(ApiError::config)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ApiError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_vars(|k| m.get(k).cloned())
    }

    #[test]
    fn dev_mode_reads_the_dev_variables() {
        let c = from(&[
            ("PROCELLA_AUTH_MODE", "dev"),
            ("PROCELLA_DEV_AUTH_TOKEN", "t"),
            ("PROCELLA_DEV_USER_LOGIN", "me"),
        ])
        .unwrap();
        assert!(c.uses_dev_key, "dev mode without a key uses the development key");
        let AuthConfig::Dev(d) = c.auth else { panic!("dev mode") };
        assert_eq!(d.authenticate("t").unwrap().login, "me");
    }

    #[test]
    fn a_malformed_encryption_key_is_an_error() {
        let base = [("PROCELLA_AUTH_MODE", "dev"), ("PROCELLA_DEV_AUTH_TOKEN", "t"), ("PROCELLA_DEV_USER_LOGIN", "me")];
        let with = |k: &str| {
            let mut v = base.to_vec();
            v.push(("PROCELLA_ENCRYPTION_KEY", k));
            from(&v)
        };
        assert!(with(&"a".repeat(63)).unwrap_err().message.contains("PROCELLA_ENCRYPTION_KEY must be 64"));
        assert!(with(&"g".repeat(64)).unwrap_err().message.contains("hexadecimal"));
        assert!(!with(&"ab".repeat(32)).unwrap().uses_dev_key);
    }

    #[test]
    fn lease_length_and_delta_checkpoints_are_validated() {
        let base = [("PROCELLA_AUTH_MODE", "dev"), ("PROCELLA_DEV_AUTH_TOKEN", "t"), ("PROCELLA_DEV_USER_LOGIN", "me")];
        let with = |k: &str, v: &str| {
            let mut all = base.to_vec();
            all.push((k, v));
            from(&all)
        };
        assert_eq!(from(&base).unwrap().lease_ms, 300_000);
        assert_eq!(with("PROCELLA_LEASE_SECONDS", "3").unwrap().lease_ms, 3000);
        for bad in ["0", "-5", "1.5", "soon", "3601"] {
            let e = with("PROCELLA_LEASE_SECONDS", bad).unwrap_err();
            assert!(e.message.contains("PROCELLA_LEASE_SECONDS"), "{bad}: {}", e.message);
        }
        assert!(with("PROCELLA_DELTA_CHECKPOINTS", "false").is_ok());
        assert!(with("PROCELLA_DELTA_CHECKPOINTS", "no").unwrap_err().message.contains("PROCELLA_DELTA_CHECKPOINTS"));
        assert!(!delta_checkpoints(|_| Some("false".into())).unwrap());
        assert!(delta_checkpoints(|_| None).unwrap());
    }

    #[test]
    fn journaling_is_on_unless_turned_off() {
        let base = [("PROCELLA_AUTH_MODE", "dev"), ("PROCELLA_DEV_AUTH_TOKEN", "t"), ("PROCELLA_DEV_USER_LOGIN", "me")];
        let with = |k: &str, v: &str| {
            let mut all = base.to_vec();
            all.push((k, v));
            from(&all)
        };
        let c = from(&base).unwrap();
        assert!(c.journaling);
        assert_eq!(c.journal_batch_max, 32 << 20);
        assert!(!with("PROCELLA_JOURNALING", "false").unwrap().journaling);
        assert!(with("PROCELLA_JOURNALING", "off").unwrap_err().message.contains("PROCELLA_JOURNALING"));
        assert_eq!(with("PROCELLA_JOURNAL_BATCH_MAX_BYTES", "65536").unwrap().journal_batch_max, 65536);
        for bad in ["12", "4096", "lots", "999999999999"] {
            let e = with("PROCELLA_JOURNAL_BATCH_MAX_BYTES", bad).unwrap_err();
            assert!(e.message.contains("PROCELLA_JOURNAL_BATCH_MAX_BYTES"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn loopback_hosts_are_this_machine_only() {
        for h in ["localhost", "localhost:8787", "127.0.0.1", "127.0.0.1:40665", "127.1.2.3", "[::1]:8787", "LOCALHOST."] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["procella.example.com", "10.0.0.1:80", "localhost.example.com", "127.0.0.1.nip.io", "[::2]", ""] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn dev_mode_answers_off_loopback_only_when_allowed_and_never_on_the_dev_key() {
        let base = [("PROCELLA_AUTH_MODE", "dev"), ("PROCELLA_DEV_AUTH_TOKEN", "t"), ("PROCELLA_DEV_USER_LOGIN", "me")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            from(&all).unwrap()
        };
        let key = Box::leak("ab".repeat(32).into_boxed_str());
        let plain = with(&[]);
        assert!(plain.check_host("127.0.0.1:8787").is_ok());
        let e = plain.check_host("procella.example.com").unwrap_err();
        assert!(e.status == 403 && e.message.contains("PROCELLA_ALLOW_DEV_MODE"), "{}", e.message);
        let allowed_on_dev_key = with(&[("PROCELLA_ALLOW_DEV_MODE", "true")]);
        let e = allowed_on_dev_key.check_host("procella.example.com").unwrap_err();
        assert!(e.message.contains("PROCELLA_ENCRYPTION_KEY"), "{}", e.message);
        let allowed = with(&[("PROCELLA_ALLOW_DEV_MODE", "true"), ("PROCELLA_ENCRYPTION_KEY", key)]);
        assert!(allowed.check_host("procella.example.com").is_ok());
        assert_eq!(plain.health()["devKey"], true);
        assert_eq!(allowed.health()["authMode"], "dev");
        assert_eq!(allowed.health()["devKey"], false);
    }

    #[test]
    fn rate_limits_default_to_the_guide_and_are_validated() {
        let base = [("PROCELLA_AUTH_MODE", "dev"), ("PROCELLA_DEV_AUTH_TOKEN", "t"), ("PROCELLA_DEV_USER_LOGIN", "me")];
        let with = |k: &'static str, v: &'static str| {
            let mut all = base.to_vec();
            all.push((k, v));
            from(&all)
        };
        let l = from(&base).unwrap().limits;
        assert_eq!((l.per_credential, l.auth_attempts_per_ip), (100, 20));
        assert_eq!(with("PROCELLA_RATE_LIMIT_PER_MINUTE", "5").unwrap().limits.per_credential, 5);
        assert_eq!(with("PROCELLA_AUTH_ATTEMPTS_PER_MINUTE", "7").unwrap().limits.auth_attempts_per_ip, 7);
        assert_eq!(l.oidc_exchanges, 60);
        assert_eq!(with("PROCELLA_OIDC_EXCHANGES_PER_MINUTE", "3").unwrap().limits.oidc_exchanges, 3);
        assert_eq!(from(&base).unwrap().oidc_max_token_secs, 7200, "the CLI's own default --oidc-expiration");
        assert_eq!(with("PROCELLA_OIDC_MAX_TOKEN_SECONDS", "900").unwrap().oidc_max_token_secs, 900);
        for bad in ["0", "86401", "2h"] {
            let e = with("PROCELLA_OIDC_MAX_TOKEN_SECONDS", bad).unwrap_err();
            assert!(e.message.contains("PROCELLA_OIDC_MAX_TOKEN_SECONDS"), "{bad}: {}", e.message);
        }
        for bad in ["0", "-1", "lots", "1000001"] {
            let e = with("PROCELLA_RATE_LIMIT_PER_MINUTE", bad).unwrap_err();
            assert!(e.message.contains("PROCELLA_RATE_LIMIT_PER_MINUTE"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn the_mode_must_be_set_and_known() {
        assert!(from(&[]).unwrap_err().message.contains("PROCELLA_AUTH_MODE is not set"));
        assert!(from(&[("PROCELLA_AUTH_MODE", "prod")]).unwrap_err().message.contains("unknown value \"prod\""));
    }

    #[test]
    fn descope_mode_needs_its_project_and_an_encryption_key_and_never_falls_back_to_dev_tokens() {
        let key = "ab".repeat(32);
        let e = from(&[("PROCELLA_AUTH_MODE", "descope"), ("PROCELLA_DEV_AUTH_TOKEN", "t"), ("PROCELLA_DEV_USER_LOGIN", "me")])
            .unwrap_err();
        assert!(e.message.contains("PROCELLA_DESCOPE_PROJECT_ID"), "{}", e.message);
        let e = from(&[("PROCELLA_AUTH_MODE", "descope"), ("PROCELLA_DESCOPE_PROJECT_ID", "P2abc")]).unwrap_err();
        assert!(e.message.contains("PROCELLA_ENCRYPTION_KEY must be set"), "{}", e.message);
        let c = from(&[
            ("PROCELLA_AUTH_MODE", "descope"),
            ("PROCELLA_DESCOPE_PROJECT_ID", "P2abc"),
            ("PROCELLA_DESCOPE_BASE_URL", "http://127.0.0.1:9999"),
            ("PROCELLA_ENCRYPTION_KEY", key.as_str()),
        ])
        .unwrap();
        let AuthConfig::Descope(d) = c.auth else { panic!("descope mode") };
        assert_eq!((d.project_id.as_str(), d.base_url.as_str()), ("P2abc", "http://127.0.0.1:9999"));
        assert!(!c.uses_dev_key);
    }
}
