//! Who is calling, and what they may do: the `Caller` every auth mode produces, the role ladder, and the
//! decision for one request. Pure logic, tested natively; the edge only feeds it headers and a method.

pub mod descope;
pub mod dev;
pub mod jwt;
#[cfg(test)]
pub(crate) mod test_keys;

use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Roles in an organization, ordered: viewer(1) < member(2) < admin(3). A role satisfies every role below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer = 1,
    Member = 2,
    Admin = 3,
}

impl Role {
    /// Parses a role name exactly as written in configuration or claims (`viewer`, `member`, `admin`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::Admin => "admin",
        }
    }

    /// AtLeast semantics: an admin satisfies a member requirement.
    pub fn satisfies(self, required: Role) -> bool {
        self >= required
    }

    /// The role an HTTP method requires: reads need viewer, writes member, deletes admin.
    /// Unknown methods need admin, so a method we forgot to list is never more open than DELETE.
    pub fn required_for(method: &str) -> Role {
        match method {
            "GET" | "HEAD" | "OPTIONS" => Role::Viewer,
            "POST" | "PATCH" | "PUT" => Role::Member,
            _ => Role::Admin,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One organization the caller belongs to, with their role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRole {
    pub org: String,
    pub role: Role,
    /// The identity provider's id for the org (a Descope tenant ID); `None` in dev mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// The authenticated identity behind a request, the same whatever the auth mode. Serializable so descope mode
/// can cache it (it holds no secret: no token, no key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Stable user id (the login in dev mode, the JWT `sub` in descope mode).
    pub user_id: String,
    pub login: String,
    pub name: String,
    pub email: String,
    /// The caller's organizations; the first is the default organization.
    pub orgs: Vec<OrgRole>,
    /// The name of a named credential (an access key), shown by `pulumi whoami -v`; `None` for a personal token.
    pub token_name: Option<String>,
    /// The organization an organization token belongs to (an OIDC exchange's, `src/oidc`): `pulumi whoami -v`
    /// shows it, and the audit log names the token rather than the org as the actor. `None` for anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_org: Option<String>,
    /// Whether the credential came from an OIDC exchange: such a caller may not change the OIDC trust that let
    /// it in (an admin-role CI token could otherwise register an issuer of its own and outlive its revocation).
    #[serde(default)]
    pub via_oidc: bool,
}

impl Caller {
    pub fn role_in(&self, org: &str) -> Option<Role> {
        self.orgs.iter().find(|o| o.org == org).map(|o| o.role)
    }

    /// Who the audit log and the request log say acted: an organization token by its name, anyone else by login.
    pub fn actor(&self) -> &str {
        match (&self.token_org, &self.token_name) {
            (Some(_), Some(name)) => name,
            _ => &self.login,
        }
    }

    pub fn default_org(&self) -> Option<&str> {
        self.orgs.first().map(|o| o.org.as_str())
    }

    /// Decides whether this caller may send `method` to a resource of `org`.
    ///
    /// A caller outside the org gets `not_found` (the same 404 a missing resource gives, so nothing about the
    /// org's stacks leaks); a member whose role is short of what the method needs gets 403.
    ///
    /// # Errors
    /// `not_found` or a 403 naming the role needed.
    pub fn authorize(&self, org: &str, method: &str, not_found: impl FnOnce() -> ApiError) -> Result<Role, ApiError> {
        let Some(role) = self.role_in(org) else {
            return Err(not_found());
        };
        let required = Role::required_for(method);
        if !role.satisfies(required) {
            return Err(ApiError::forbidden(format!(
                "{method} requires the {required} role in organization '{org}'; you are a {role}"
            )));
        }
        Ok(role)
    }
}

/// Compares secrets (tokens) in time that depends only on their length, not on where they first differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credential in an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential<'a> {
    /// `token <t>`: an API token (a dev token or a Descope access key).
    Token(&'a str),
    /// `update-token <lease>`: the lease token of a running update.
    UpdateToken(&'a str),
    /// `Bearer <jwt>`: a browser session.
    Bearer(&'a str),
}

/// Splits an `Authorization` header into its scheme and credential.
///
/// # Errors
/// 401 when the header is missing, empty, or uses an unknown scheme. The message never echoes the credential.
pub fn parse_authorization(header: Option<&str>) -> Result<Credential<'_>, ApiError> {
    let Some(header) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Err(ApiError::unauthorized(
            "missing Authorization header: log in with `pulumi login` or set PULUMI_ACCESS_TOKEN",
        ));
    };
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let value = rest.trim();
    if value.is_empty() {
        return Err(ApiError::unauthorized("malformed Authorization header: the credential is empty"));
    }
    match scheme.to_ascii_lowercase().as_str() {
        "token" => Ok(Credential::Token(value)),
        "update-token" => Ok(Credential::UpdateToken(value)),
        "bearer" => Ok(Credential::Bearer(value)),
        _ => Err(ApiError::unauthorized(
            "malformed Authorization header: expected `token <access-token>`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(orgs: &[(&str, Role)]) -> Caller {
        Caller {
            user_id: "u".into(),
            login: "alice".into(),
            name: "alice".into(),
            email: String::new(),
            orgs: orgs.iter().map(|(o, r)| OrgRole { org: (*o).into(), role: *r, tenant: None }).collect(),
            token_name: None,
            token_org: None,
            via_oidc: false,
        }
    }

    #[test]
    fn roles_are_ordered_with_at_least_semantics() {
        assert!(Role::Viewer < Role::Member && Role::Member < Role::Admin);
        assert_eq!((Role::Viewer as u8, Role::Member as u8, Role::Admin as u8), (1, 2, 3));
        assert!(Role::Admin.satisfies(Role::Member));
        assert!(Role::Member.satisfies(Role::Member));
        assert!(!Role::Viewer.satisfies(Role::Member));
        assert_eq!(Role::parse("owner"), None);
        assert_eq!(Role::parse("Admin"), None, "role names are exact");
    }

    #[test]
    fn each_method_requires_its_role() {
        for (m, r) in [
            ("GET", Role::Viewer),
            ("HEAD", Role::Viewer),
            ("POST", Role::Member),
            ("PATCH", Role::Member),
            ("PUT", Role::Member),
            ("DELETE", Role::Admin),
            ("TRACE", Role::Admin),
        ] {
            assert_eq!(Role::required_for(m), r, "{m}");
        }
    }

    #[test]
    fn the_role_table_against_every_method() {
        let nf = || ApiError::not_found("nope");
        for (role, allowed) in [
            (Role::Viewer, ["GET", "HEAD"].as_slice()),
            (Role::Member, ["GET", "HEAD", "POST", "PATCH", "PUT"].as_slice()),
            (Role::Admin, ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"].as_slice()),
        ] {
            let c = caller(&[("acme", role)]);
            for m in ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"] {
                let r = c.authorize("acme", m, nf);
                assert_eq!(r.is_ok(), allowed.contains(&m), "{role} {m}");
                if let Err(e) = r {
                    assert_eq!(e.status, 403);
                    assert!(e.message.contains("requires the"), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn outsiders_get_the_resources_not_found() {
        let c = caller(&[("acme", Role::Admin)]);
        let e = c.authorize("other", "GET", || ApiError::not_found("stack 'other/p/s' not found")).unwrap_err();
        assert_eq!(e.status, 404);
        assert_eq!(e.message, "stack 'other/p/s' not found");
        // Org names are exact: no case folding into someone else's org.
        assert_eq!(c.authorize("ACME", "GET", || ApiError::not_found("x")).unwrap_err().status, 404);
    }

    #[test]
    fn authorization_header_schemes() {
        assert_eq!(parse_authorization(Some("token abc")).unwrap(), Credential::Token("abc"));
        assert_eq!(parse_authorization(Some("update-token l1")).unwrap(), Credential::UpdateToken("l1"));
        assert_eq!(parse_authorization(Some("Bearer j.w.t")).unwrap(), Credential::Bearer("j.w.t"));
        for bad in [None, Some(""), Some("token"), Some("token   "), Some("Basic abc")] {
            let e = parse_authorization(bad).unwrap_err();
            assert_eq!(e.status, 401, "{bad:?}");
        }
        assert!(!parse_authorization(Some("Basic s3cret")).unwrap_err().message.contains("s3cret"));
    }
}
