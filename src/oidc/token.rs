//! An exchanged token as D1 keeps it (by hash, `migrations/0006_oidc.sql`), and the `Caller` it authenticates.
//! It works like any other token in both auth modes: the same role checks, the same org boundary.

use crate::auth::{Caller, OrgRole, Role};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// One row of `oidc_tokens`, without its hash; also what `GET /api/orgs/{org}/oidc/tokens` lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    pub id: String,
    pub org: String,
    pub issuer_id: String,
    pub name: String,
    /// `organization` or `personal`.
    pub kind: String,
    /// The user a personal token acts as.
    pub login: Option<String>,
    pub role: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl StoredToken {
    /// The caller this token authenticates at `now_ms`.
    ///
    /// An organization token acts as the organization (Pulumi Cloud's shape: its login is the org's, so `pulumi
    /// stack init` defaults to it) and is named in `whoami -v` and the audit log by its name; a personal token
    /// acts as its user, in this one organization only, with the policy's role, and is audited under that login.
    ///
    /// # Errors
    /// 401 once it has expired, or when the row holds a role or kind this version does not know.
    pub fn caller(&self, now_ms: i64) -> Result<Caller, ApiError> {
        if now_ms >= self.expires_at {
            return Err(ApiError::unauthorized(
                "this OIDC token has expired; exchange a new ID token (pulumi login --oidc-token)",
            ));
        }
        let role = Role::parse(&self.role).ok_or_else(|| ApiError::unauthorized("this OIDC token is no longer valid"))?;
        let orgs = vec![OrgRole { org: self.org.clone(), role, tenant: None }];
        let caller = match (self.kind.as_str(), &self.login) {
            ("organization", _) => Caller {
                user_id: format!("oidc-token:{}", self.id),
                login: self.org.clone(),
                name: self.name.clone(),
                email: String::new(),
                orgs,
                token_name: Some(self.name.clone()),
                token_org: Some(self.org.clone()),
                via_oidc: true,
            },
            ("personal", Some(login)) => Caller {
                user_id: login.clone(),
                login: login.clone(),
                name: login.clone(),
                email: String::new(),
                orgs,
                // Named in `whoami -v` (the CLI keeps a local tokenInfo for any exchanged token, so it could not
                // say "personal" anyway), audited under the login.
                token_name: Some(self.name.clone()),
                token_org: None,
                via_oidc: true,
            },
            _ => return Err(ApiError::unauthorized("this OIDC token is no longer valid")),
        };
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(kind: &str, login: Option<&str>) -> StoredToken {
        StoredToken {
            id: "t1".into(),
            org: "acme".into(),
            issuer_id: "i1".into(),
            name: "oidc:github:repo:acme/app".into(),
            kind: kind.into(),
            login: login.map(Into::into),
            role: "member".into(),
            created_at: 0,
            expires_at: 10_000,
        }
    }

    #[test]
    fn an_organization_token_acts_as_its_org_with_the_policys_role_and_nothing_else() {
        let c = token("organization", None).caller(9_999).unwrap();
        assert_eq!((c.login.as_str(), c.default_org(), c.role_in("acme")), ("acme", Some("acme"), Some(Role::Member)));
        assert_eq!(c.actor(), "oidc:github:repo:acme/app");
        assert_eq!(c.token_org.as_deref(), Some("acme"));
        assert!(c.via_oidc);
        assert_eq!(c.role_in("other"), None);
        assert_eq!(c.authorize("acme", "DELETE", || ApiError::not_found("x")).unwrap_err().status, 403);
        assert_eq!(c.authorize("other", "GET", || ApiError::not_found("x")).unwrap_err().status, 404);
    }

    #[test]
    fn a_personal_token_acts_as_its_user_in_that_org_only() {
        let c = token("personal", Some("ada")).caller(0).unwrap();
        assert_eq!((c.login.as_str(), c.actor(), c.token_org.as_deref()), ("ada", "ada", None));
        assert_eq!(c.token_name.as_deref(), Some("oidc:github:repo:acme/app"));
        assert_eq!(c.orgs.len(), 1);
        assert!(token("personal", None).caller(0).is_err(), "a personal token needs its user");
    }

    #[test]
    fn an_expired_token_is_refused_and_says_what_to_do() {
        let e = token("organization", None).caller(10_000).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("expired") && e.message.contains("--oidc-token"), "{}", e.message);
        let mut odd = token("organization", None);
        odd.role = "owner".into();
        assert_eq!(odd.caller(0).unwrap_err().status, 401);
    }
}
