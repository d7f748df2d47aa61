//! `GET /api/user`, `GET /api/user/organizations/default` and `GET /api/capabilities` bodies.

use crate::auth::Caller;
use serde::Serialize;

/// An organization as `GET /api/user` lists it (`apitype.OrganizationSummary`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationSummary {
    pub github_login: String,
    pub name: String,
    pub avatar_url: String,
}

/// Token details `pulumi whoami -v` prints (`apitype.TokenInfo`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub organization: String,
}

/// `GET /api/user` (`apitype.ServiceUser`). The CLI refuses a login whose `githubLogin`, or any org's, is empty.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceUser {
    pub id: String,
    pub github_login: String,
    pub name: String,
    pub email: String,
    pub avatar_url: String,
    pub organizations: Vec<OrganizationSummary>,
    /// Absent for personal tokens, which `pulumi whoami -v` then shows as "Token type: personal".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_info: Option<TokenInfo>,
}

impl ServiceUser {
    pub fn of(caller: &Caller) -> Self {
        Self {
            id: caller.user_id.clone(),
            github_login: caller.login.clone(),
            name: caller.name.clone(),
            email: caller.email.clone(),
            avatar_url: String::new(),
            organizations: caller
                .orgs
                .iter()
                .map(|o| OrganizationSummary { github_login: o.org.clone(), name: o.org.clone(), avatar_url: String::new() })
                .collect(),
            token_info: caller
                .token_name
                .clone()
                .map(|name| TokenInfo { name, organization: caller.token_org.clone().unwrap_or_default() }),
        }
    }
}

/// `GET /api/user/organizations/default` (`apitype.GetDefaultOrganizationResponse`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultOrganization {
    pub git_hub_login: String,
    pub messages: Vec<serde_json::Value>,
}

/// One entry of `GET /api/capabilities`.
#[derive(Debug, Serialize)]
pub struct Capability {
    pub capability: &'static str,
    pub version: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration: Option<serde_json::Value>,
}

/// `GET /api/capabilities`: only what this server implements, so the CLI never uses a path we lack.
#[derive(Debug, Serialize)]
pub struct Capabilities {
    pub capabilities: Vec<Capability>,
}

/// Checkpoints smaller than this are uploaded whole; above it the CLI sends deltas. Deltas pay off once a
/// checkpoint is more than a few resources, and keep the bytes per checkpoint near the size of the change.
pub const DELTA_CUTOFF_BYTES: u64 = 4096;

impl Capabilities {
    /// What this server offers; `delta_checkpoints` is off only to measure whole-checkpoint uploads.
    pub fn current(delta_checkpoints: bool) -> Self {
        let mut capabilities = vec![Capability { capability: "batch-encrypt", version: 1, configuration: None }];
        if delta_checkpoints {
            capabilities.insert(
                0,
                Capability {
                    capability: "delta-checkpoint-uploads-v2",
                    version: 2,
                    configuration: Some(serde_json::json!({ "checkpointCutoffSizeBytes": DELTA_CUTOFF_BYTES })),
                },
            );
        }
        Self { capabilities }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{OrgRole, Role};

    #[test]
    fn user_body_lists_every_org_with_a_login() {
        let c = Caller {
            user_id: "u1".into(),
            login: "alice".into(),
            name: "Alice".into(),
            email: "a@example.com".into(),
            orgs: vec![OrgRole { org: "acme".into(), role: Role::Admin, tenant: None }, OrgRole { org: "beta".into(), role: Role::Viewer, tenant: None }],
            token_name: Some("ci key".into()),
            token_org: None,
            via_oidc: false,
        };
        let v = serde_json::to_value(ServiceUser::of(&c)).unwrap();
        assert_eq!(v["githubLogin"], "alice");
        assert_eq!(v["organizations"][1]["githubLogin"], "beta");
        assert_eq!(v["tokenInfo"]["name"], "ci key");
        assert_eq!(v["tokenInfo"].get("organization"), None);
        let org_token = Caller { token_org: Some("acme".into()), ..c.clone() };
        let v = serde_json::to_value(ServiceUser::of(&org_token)).unwrap();
        assert_eq!((v["tokenInfo"]["name"].as_str(), v["tokenInfo"]["organization"].as_str()), (Some("ci key"), Some("acme")));
        let personal = Caller { token_name: None, ..c };
        assert!(serde_json::to_value(ServiceUser::of(&personal)).unwrap().get("tokenInfo").is_none());
    }

    #[test]
    fn delta_checkpoints_are_advertised_unless_turned_off() {
        let names = |c: Capabilities| c.capabilities.iter().map(|c| c.capability).collect::<Vec<_>>();
        assert_eq!(names(Capabilities::current(true)), ["delta-checkpoint-uploads-v2", "batch-encrypt"]);
        assert_eq!(names(Capabilities::current(false)), ["batch-encrypt"]);
    }
}
