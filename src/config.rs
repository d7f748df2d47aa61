//! The worker's configuration, read from wrangler vars and secrets by name and validated here.
//!
//! Reading is a function from variable name to value, so the rules are tested natively; the edge passes
//! a closure over `worker::Env`.

use crate::auth::dev::{DevUsers, DevVars};
use crate::error::ApiError;

/// How API tokens are authenticated (`PROCELLA_AUTH_MODE`).
#[derive(Debug, Clone)]
pub enum AuthConfig {
    Dev(DevUsers),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub auth: AuthConfig,
}

impl Config {
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
            "descope" => {
                return Err(ApiError::config(
                    "PROCELLA_AUTH_MODE=descope is not supported by this build yet; use PROCELLA_AUTH_MODE=dev",
                ))
            }
            "" => return Err(ApiError::config("PROCELLA_AUTH_MODE is not set (expected \"dev\" or \"descope\")")),
            other => {
                return Err(ApiError::config(format!(
                    "PROCELLA_AUTH_MODE has an unknown value \"{other}\" (expected \"dev\" or \"descope\")"
                )))
            }
        };
        Ok(Self { auth })
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
        let AuthConfig::Dev(d) = c.auth;
        assert_eq!(d.authenticate("t").unwrap().login, "me");
    }

    #[test]
    fn the_mode_must_be_set_and_known() {
        assert!(from(&[]).unwrap_err().message.contains("PROCELLA_AUTH_MODE is not set"));
        assert!(from(&[("PROCELLA_AUTH_MODE", "prod")]).unwrap_err().message.contains("unknown value \"prod\""));
        let e = from(&[("PROCELLA_AUTH_MODE", "descope"), ("PROCELLA_DEV_AUTH_TOKEN", "t")]).unwrap_err();
        assert!(e.message.contains("descope is not supported"), "{}", e.message);
    }
}
