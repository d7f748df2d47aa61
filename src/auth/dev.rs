//! Dev mode: static tokens from `PROCELLA_DEV_AUTH_TOKEN`/`_USER_LOGIN`/`_ORG_LOGIN` and `PROCELLA_DEV_USERS`.
//!
//! Configuration mistakes are errors that name the variable, the entry and the problem, never a silent default
//! and never the token itself (a token is a secret even in dev).

use super::{constant_time_eq, Caller, OrgRole, Role};
use crate::error::ApiError;
use crate::names::OrgName;
use serde_json::Value;

/// The raw variables of dev mode, as read from the environment.
#[derive(Debug, Default, Clone)]
pub struct DevVars {
    pub auth_token: Option<String>,
    pub user_login: Option<String>,
    pub org_login: Option<String>,
    pub users: Option<String>,
}

#[derive(Debug, Clone)]
struct DevUser {
    token: String,
    caller: Caller,
}

/// The parsed, validated dev users: a token resolves to exactly one `Caller`.
#[derive(Debug, Clone)]
pub struct DevUsers {
    users: Vec<DevUser>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn login_ok(var: &str, what: &str, login: &str) -> Result<(), ApiError> {
    OrgName::parse(login)
        .map(|_| ())
        .map_err(|e| ApiError::config(format!("{var}: {what} is not a valid login ({})", e.message)))
}

impl DevUsers {
    /// Parses and validates dev mode's variables.
    ///
    /// The primary user (`PROCELLA_DEV_AUTH_TOKEN`) is an admin of `PROCELLA_DEV_ORG_LOGIN`, which defaults to
    /// the user's own login (a personal organization). Entries of `PROCELLA_DEV_USERS` that share a token are one
    /// user in several organizations.
    ///
    /// # Errors
    /// A configuration error naming the variable and what is wrong with it.
    pub fn parse(vars: &DevVars) -> Result<Self, ApiError> {
        let mut entries: Vec<(String, String, String, Role)> = Vec::new();
        if let Some(token) = nonempty(&vars.auth_token) {
            let login = nonempty(&vars.user_login).ok_or_else(|| {
                ApiError::config("PROCELLA_DEV_USER_LOGIN must be set when PROCELLA_DEV_AUTH_TOKEN is set")
            })?;
            login_ok("PROCELLA_DEV_USER_LOGIN", "the value", login)?;
            let org = nonempty(&vars.org_login).unwrap_or(login);
            login_ok("PROCELLA_DEV_ORG_LOGIN", "the value", org)?;
            entries.push((token.to_owned(), login.to_owned(), org.to_owned(), Role::Admin));
        }
        if let Some(raw) = nonempty(&vars.users) {
            entries.extend(parse_users_json(raw)?);
        }
        if entries.is_empty() {
            return Err(ApiError::config(
                "dev mode needs PROCELLA_DEV_AUTH_TOKEN (with PROCELLA_DEV_USER_LOGIN) or PROCELLA_DEV_USERS",
            ));
        }

        let mut users: Vec<DevUser> = Vec::new();
        for (token, login, org, role) in entries {
            match users.iter_mut().find(|u| u.token == token) {
                Some(u) if u.caller.login != login => {
                    return Err(ApiError::config(format!(
                        "PROCELLA_DEV_USERS: one token is given to two logins ('{}' and '{login}')",
                        u.caller.login
                    )));
                }
                Some(u) => match u.caller.orgs.iter_mut().find(|o| o.org == org) {
                    Some(o) if o.role != role => {
                        return Err(ApiError::config(format!(
                            "PROCELLA_DEV_USERS: '{login}' is given two roles in organization '{org}'"
                        )));
                    }
                    Some(_) => {}
                    None => u.caller.orgs.push(OrgRole { org, role, tenant: None }),
                },
                None => users.push(DevUser {
                    token,
                    caller: Caller {
                        user_id: login.clone(),
                        name: login.clone(),
                        email: String::new(),
                        orgs: vec![OrgRole { org, role, tenant: None }],
                        token_name: None,
                        token_org: None,
                        via_oidc: false,
                        login,
                    },
                }),
            }
        }
        Ok(Self { users })
    }

    /// The caller a token belongs to. Every configured token is compared in constant time, so response timing
    /// does not reveal how much of a guess was right.
    pub fn resolve(&self, token: &str) -> Option<Caller> {
        let mut found = None;
        for u in &self.users {
            if constant_time_eq(u.token.as_bytes(), token.as_bytes()) {
                found = Some(&u.caller);
            }
        }
        found.cloned()
    }

    /// Authenticates an API token.
    ///
    /// # Errors
    /// 401 for an unknown token.
    pub fn authenticate(&self, token: &str) -> Result<Caller, ApiError> {
        self.resolve(token).ok_or_else(|| ApiError::unauthorized("invalid access token"))
    }
}

fn parse_users_json(raw: &str) -> Result<Vec<(String, String, String, Role)>, ApiError> {
    const VAR: &str = "PROCELLA_DEV_USERS";
    // Parse to a Value first: serde's typed errors can quote input values, and this input holds tokens.
    let value: Value = serde_json::from_str(raw).map_err(|e| {
        ApiError::config(format!("{VAR} is not valid JSON (line {}, column {})", e.line(), e.column()))
    })?;
    let Value::Array(items) = value else {
        return Err(ApiError::config(format!(
            "{VAR} must be a JSON array of {{\"token\", \"login\", \"org\", \"role\"}} objects"
        )));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Value::Object(obj) = item else {
            return Err(ApiError::config(format!("{VAR} entry {n} is not a JSON object")));
        };
        let field = |name: &str| -> Result<String, ApiError> {
            match obj.get(name) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                Some(Value::String(_)) => Err(ApiError::config(format!("{VAR} entry {n}: \"{name}\" is empty"))),
                Some(_) => Err(ApiError::config(format!("{VAR} entry {n}: \"{name}\" must be a string"))),
                None => Err(ApiError::config(format!("{VAR} entry {n}: \"{name}\" is missing"))),
            }
        };
        if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "token" | "login" | "org" | "role")) {
            return Err(ApiError::config(format!(
                "{VAR} entry {n}: unknown field \"{k}\" (expected token, login, org, role)"
            )));
        }
        let token = field("token")?;
        let login = field("login")?;
        let org = field("org")?;
        let role_name = field("role")?;
        let role = Role::parse(&role_name).ok_or_else(|| {
            ApiError::config(format!(
                "{VAR} entry {n}: unknown role \"{role_name}\" (expected viewer, member or admin)"
            ))
        })?;
        login_ok(VAR, &format!("entry {n} \"login\""), &login)?;
        login_ok(VAR, &format!("entry {n} \"org\""), &org)?;
        out.push((token, login, org, role));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(token: Option<&str>, user: Option<&str>, org: Option<&str>, users: Option<&str>) -> DevVars {
        DevVars {
            auth_token: token.map(Into::into),
            user_login: user.map(Into::into),
            org_login: org.map(Into::into),
            users: users.map(Into::into),
        }
    }

    #[test]
    fn the_primary_user_is_admin_of_their_org() {
        let d = DevUsers::parse(&vars(Some("t0"), Some("dev"), Some("acme"), None)).unwrap();
        let c = d.authenticate("t0").unwrap();
        assert_eq!(c.login, "dev");
        assert_eq!(c.orgs, vec![OrgRole { org: "acme".into(), role: Role::Admin, tenant: None }]);
        assert_eq!(d.authenticate("t1").unwrap_err().status, 401);
        assert_eq!(d.authenticate("t").unwrap_err().status, 401, "a prefix is not the token");
    }

    #[test]
    fn the_org_defaults_to_the_users_own_login() {
        let d = DevUsers::parse(&vars(Some("t0"), Some("dev"), None, None)).unwrap();
        assert_eq!(d.authenticate("t0").unwrap().default_org(), Some("dev"));
    }

    #[test]
    fn extra_users_with_roles_and_several_orgs() {
        let users = r#"[
            {"token": "token-alice", "login": "alice", "org": "acme", "role": "admin"},
            {"token": "token-bob", "login": "bob", "org": "acme", "role": "viewer"},
            {"token": "token-bob", "login": "bob", "org": "bobs", "role": "member"}
        ]"#;
        let d = DevUsers::parse(&vars(None, None, None, Some(users))).unwrap();
        let bob = d.authenticate("token-bob").unwrap();
        assert_eq!(bob.role_in("acme"), Some(Role::Viewer));
        assert_eq!(bob.role_in("bobs"), Some(Role::Member));
        assert_eq!(bob.default_org(), Some("acme"));
        assert_eq!(d.authenticate("token-alice").unwrap().role_in("acme"), Some(Role::Admin));
    }

    #[test]
    fn mistakes_are_named_and_never_echo_tokens() {
        let cases = [
            (vars(None, None, None, None), "needs PROCELLA_DEV_AUTH_TOKEN"),
            (vars(Some("s3cret"), None, None, None), "PROCELLA_DEV_USER_LOGIN must be set"),
            (vars(None, None, None, Some("[{\"token\": \"s3cret\",")), "is not valid JSON"),
            (vars(None, None, None, Some("{\"token\": \"s3cret\"}")), "must be a JSON array"),
            (
                vars(None, None, None, Some(r#"[{"token":"s3cret","login":"a","org":"o","role":"owner"}]"#)),
                "entry 1: unknown role \"owner\"",
            ),
            (vars(None, None, None, Some(r#"[{"token":"s3cret","login":"a","org":"o"}]"#)), "\"role\" is missing"),
            (
                vars(None, None, None, Some(r#"[{"token":"s3cret","login":"a","org":"o","role":1}]"#)),
                "\"role\" must be a string",
            ),
            (
                vars(None, None, None, Some(r#"[{"token":"s3cret","login":"a b","org":"o","role":"admin"}]"#)),
                "entry 1 \"login\" is not a valid login",
            ),
            (
                vars(None, None, None, Some(r#"[{"token":"s3cret","login":"a","org":"o","role":"admin","x":1}]"#)),
                "unknown field \"x\"",
            ),
            (
                vars(
                    None,
                    None,
                    None,
                    Some(
                        r#"[{"token":"s3cret","login":"a","org":"o","role":"admin"},
                            {"token":"s3cret","login":"b","org":"o","role":"admin"}]"#,
                    ),
                ),
                "one token is given to two logins",
            ),
        ];
        for (v, want) in cases {
            let e = DevUsers::parse(&v).unwrap_err();
            assert_eq!(e.status, 500);
            assert!(e.message.contains(want), "want {want:?} in {:?}", e.message);
            assert!(!e.message.contains("s3cret"), "{}", e.message);
        }
    }
}
