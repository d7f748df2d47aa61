//! Verified Descope claims to a [`Caller`]: who the caller is and their role in each organization.
//!
//! Descope tenants are Procella organizations. A tenant's roles are `tenants[T].roles`; without a `tenants` claim,
//! the top-level `roles` apply to the current tenant `dct`. Only `viewer`, `member` and `admin` mean anything here
//! (Descope's "Tenant Admin" is for its widgets), and the highest one wins.
//!
//! An organization's name (slug) comes, in order, from: the custom claim `procellaOrgs` (`{tenantId: slug}`), the
//! custom claim `procellaOrg` (one slug, for the `dct` tenant or the only tenant), the tenant's name if the JWT
//! template includes it (`tenants[T].name` / `tenants[T].tenantName`, or top-level `tenantName` for `dct`), and
//! finally the tenant ID. The first candidate present decides: if it is not a valid organization name the tenant
//! is skipped, rather than silently becoming another organization. Prefer the custom claims (set by this backend
//! when it creates an access key) or tenant IDs: a tenant name can be edited by that tenant's admins.

use crate::auth::jwt::Claims;
use crate::auth::{Caller, OrgRole, Role};
use crate::error::ApiError;
use crate::names::OrgName;
use serde_json::Value;
use std::collections::BTreeMap;

/// The 403 for a valid session that grants nothing here.
pub const NO_ROLE_MESSAGE: &str = "no Procella role (viewer, member or admin) in any tenant";

/// Builds the caller from a verified session JWT's claims.
///
/// - `user_id`: `dsub` (the real subject of an access key bound to a user) if present, else `sub`.
/// - `login`: the custom claim `procellaLogin`, else `login`, else the `user_id`.
/// - `name`: the `name` claim, else the login; `email`: the `email` claim, else empty.
/// - `orgs`: one per tenant with a recognised role, named as the module docs say; the `dct` tenant first (it is the
///   default organization), then by name. Two tenants that would share a name are both dropped: merging them would
///   let one tenant's roles act in the other's organization.
/// - `token_name`: the custom claim `procellaTokenName`, else `access_key_id` (the `keyId` of the exchange this JWT
///   came from), else `sub` when `amr` says the session is an access key's; `None` for a personal browser session.
///
/// # Errors
/// 403 [`NO_ROLE_MESSAGE`] when no tenant gives a Procella role.
pub fn caller_from_claims(claims: &Claims, access_key_id: Option<&str>) -> Result<Caller, ApiError> {
    let user_id = claims.str_claim("dsub").unwrap_or(&claims.sub).to_owned();
    let login = ["procellaLogin", "login"]
        .into_iter()
        .filter_map(|c| claims.str_claim(c))
        .find(|l| is_plausible_login(l))
        .unwrap_or(&user_id)
        .to_owned();
    let name = claims.str_claim("name").unwrap_or(&login).to_owned();
    let email = claims.str_claim("email").unwrap_or_default().to_owned();
    let token_name = claims
        .str_claim("procellaTokenName")
        .or(access_key_id.filter(|k| !k.is_empty()))
        .or_else(|| is_access_key_session(claims).then_some(claims.sub.as_str()))
        .map(str::to_owned);

    let orgs = orgs(claims);
    if orgs.is_empty() {
        return Err(ApiError::forbidden(NO_ROLE_MESSAGE));
    }
    Ok(Caller { user_id, login, name, email, orgs, token_name, token_org: None, via_oidc: false })
}

/// A login is shown by `pulumi whoami` and used in messages: one printable token, not a sentence.
fn is_plausible_login(s: &str) -> bool {
    s.len() <= 100 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Descope marks how a session was authenticated in `amr`; access-key sessions say so there.
/// An access key's session: `amr` says so, or `dsub` names the user a key is bound to.
fn is_access_key_session(claims: &Claims) -> bool {
    claims.str_claim("dsub").is_some()
        || strings(claims.other.get("amr")).any(|m| m.eq_ignore_ascii_case("accesskey") || m.eq_ignore_ascii_case("access_key"))
}

/// Descope's access key IDs are `K` and a digit (`K2...`), as user IDs are `U2...`.
fn is_access_key_id(id: &str) -> bool {
    let mut c = id.chars();
    c.next() == Some('K') && c.next().is_some_and(|d| d.is_ascii_digit())
}

/// `Authorization: Bearer` is for browser sessions only. An access key's holder can exchange it at Descope
/// themselves, adding custom claims (`loginOptions.customClaims`), and present that JWT; so any sign of an
/// access key refuses it: `amr` or `dsub` saying so, a subject that is an access key ID, or one of the `procella*`
/// claims, which only the keys this backend creates carry (a user's session never does).
///
/// # Errors
/// 401 saying to send the access key as `token`.
pub fn check_browser_session(claims: &Claims) -> Result<(), ApiError> {
    let ours = claims.other.keys().any(|k| k.starts_with("procella"));
    if is_access_key_session(claims) || is_access_key_id(&claims.sub) || ours {
        return Err(ApiError::unauthorized(
            "an access key's session is not a browser session: send the access key as `Authorization: token <key>`",
        ));
    }
    Ok(())
}

/// The `(tenant, slug)` pairs of `procellaOrgs`. Only the keys this backend makes carry the claim, and Descope copies
/// it into the sessions those keys are exchanged for; call this only for a session this backend exchanged itself
/// (the holder of a key cannot add claims to that exchange).
pub fn trusted_slugs(claims: &Claims) -> Vec<(String, String)> {
    let Some(map) = claims.other.get("procellaOrgs").and_then(Value::as_object) else { return Vec::new() };
    map.iter().filter_map(|(t, s)| Some((t.clone(), s.as_str()?.to_owned()))).collect()
}

/// The string items of a JSON array claim; anything else (missing, wrong type) is no items.
fn strings(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
}

/// The highest Procella role among `roles`, ignoring names we do not know.
fn best_role(roles: Option<&Value>) -> Option<Role> {
    strings(roles).filter_map(Role::parse).max()
}

/// One tenant as the claims describe it.
struct Tenant<'a> {
    id: &'a str,
    role: Option<Role>,
    /// The tenant's display name, if the JWT template includes it.
    name: Option<&'a str>,
}

fn tenants(claims: &Claims) -> Vec<Tenant<'_>> {
    let dct = claims.str_claim("dct");
    match claims.other.get("tenants") {
        Some(Value::Object(all)) => all
            .iter()
            .map(|(id, t)| Tenant {
                id: id.as_str(),
                role: best_role(t.get("roles")),
                name: ["name", "tenantName"].into_iter().find_map(|k| t.get(k).and_then(Value::as_str)),
            })
            .collect(),
        // No tenants claim: the project-level roles apply to the current tenant, if there is one.
        None | Some(Value::Null) => dct
            .map(|id| Tenant { id, role: best_role(claims.other.get("roles")), name: claims.str_claim("tenantName") })
            .into_iter()
            .collect(),
        Some(_) => Vec::new(),
    }
}

/// The slug candidate for tenant `t`, by the precedence in the module docs.
fn slug_for<'a>(claims: &'a Claims, t: &Tenant<'a>, is_primary: bool) -> &'a str {
    let mapped = claims.other.get("procellaOrgs").and_then(Value::as_object).and_then(|m| m.get(t.id)?.as_str());
    let single = claims.str_claim("procellaOrg").filter(|_| is_primary);
    mapped.or(single).or(t.name).unwrap_or(t.id)
}

fn orgs(claims: &Claims) -> Vec<OrgRole> {
    let dct = claims.str_claim("dct");
    let all = tenants(claims);
    let only_one = all.len() == 1;
    // slug -> (role, is the dct tenant, tenant id); None once two tenants claim the same slug.
    let mut by_slug: BTreeMap<String, Option<(Role, bool, &str)>> = BTreeMap::new();
    for t in &all {
        let Some(role) = t.role else { continue };
        let is_dct = dct == Some(t.id);
        let slug = slug_for(claims, t, is_dct || (dct.is_none() && only_one));
        if OrgName::parse(slug).is_err() {
            continue;
        }
        by_slug.entry(slug.to_owned()).and_modify(|v| *v = None).or_insert(Some((role, is_dct, t.id)));
    }
    let mut orgs: Vec<(bool, OrgRole)> = by_slug
        .into_iter()
        .filter_map(|(org, v)| v.map(|(role, is_dct, id)| (is_dct, OrgRole { org, role, tenant: Some(id.to_owned()) })))
        .collect();
    // The BTreeMap already sorted by slug; a stable sort moves the dct tenant to the front.
    orgs.sort_by_key(|(is_dct, _)| !is_dct);
    orgs.into_iter().map(|(_, o)| o).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Claims as `verify` would return them for this payload.
    fn claims(payload: Value) -> Claims {
        let Value::Object(mut other) = payload else { panic!("object") };
        let sub = other.remove("sub").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| "U2user".into());
        Claims { sub, iss: "P2x".into(), exp: 1_700_000_600, iat: Some(1_700_000_000), other }
    }

    #[test]
    fn only_a_users_own_session_is_a_browser_session() {
        let user = json!({"sub":"U2x","amr":["email"],"dct":"T1","tenants":{"T1":{"roles":["admin"]}}});
        assert!(check_browser_session(&claims(user.clone())).is_ok());
        let refused = |change: Value| {
            let mut p = user.clone();
            for (k, v) in change.as_object().unwrap() {
                p[k] = v.clone();
            }
            check_browser_session(&claims(p)).unwrap_err()
        };
        // An access key's session that says nothing of it in `amr` or `dsub` is still known by its subject...
        let e = refused(json!({"sub":"K2abc","amr":[]}));
        assert!(e.status == 401 && e.message.contains("not a browser session"), "{}", e.message);
        // ...or by the claims only our keys carry, however a holder got them into a session.
        refused(json!({"procellaOrgs":{"T1":"acme"}}));
        refused(json!({"procellaLogin":"root"}));
        refused(json!({"amr":["accesskey"]}));
        refused(json!({"dsub":"U2x"}));
        assert!(check_browser_session(&claims(json!({"sub":"Kate"}))).is_ok(), "a K that is a name, not a key ID");
    }

    fn org_roles(c: &Caller) -> Vec<(&str, Role)> {
        c.orgs.iter().map(|o| (o.org.as_str(), o.role)).collect()
    }

    #[test]
    fn the_documented_example() {
        let c = caller_from_claims(
            &claims(json!({"sub":"U2x","amr":["email"],"drn":"DS","dct":"T1",
                "tenants":{"T1":{"roles":["admin"],"permissions":["stacks:write"]}},"roles":[],"permissions":[]})),
            None,
        )
        .unwrap();
        assert_eq!(
            (c.user_id.as_str(), c.login.as_str(), c.name.as_str(), c.email.as_str()),
            ("U2x", "U2x", "U2x", "")
        );
        assert_eq!(org_roles(&c), [("T1", Role::Admin)]);
        assert_eq!(c.token_name, None);
    }

    #[test]
    fn the_highest_known_role_wins_and_others_are_ignored() {
        let c = caller_from_claims(
            &claims(json!({"tenants":{
                "T1":{"roles":["viewer","admin","member"]},
                "T2":{"roles":["Tenant Admin","member", 7]},
                "T3":{"roles":["Tenant Admin","Admin","owner"]},
                "T4":{},
                "T5":{"roles":"admin"}
            }})),
            None,
        )
        .unwrap();
        assert_eq!(org_roles(&c), [("T1", Role::Admin), ("T2", Role::Member)]);
    }

    #[test]
    fn without_a_tenants_claim_the_top_level_roles_apply_to_dct() {
        let c = caller_from_claims(&claims(json!({"dct":"T9","roles":["member","Tenant Admin"]})), None).unwrap();
        assert_eq!(org_roles(&c), [("T9", Role::Member)]);
        // With a tenants claim, top-level roles do not leak into dct.
        let e = caller_from_claims(&claims(json!({"dct":"T9","roles":["admin"],"tenants":{"T9":{"roles":[]}}})), None);
        assert_eq!(e.unwrap_err().status, 403);
        // Project-level roles without a current tenant are no organization.
        assert_eq!(caller_from_claims(&claims(json!({"roles":["admin"]})), None).unwrap_err().status, 403);
    }

    #[test]
    fn no_role_anywhere_is_403() {
        for payload in [
            json!({}),
            json!({"tenants":{}}),
            json!({"tenants":{"T1":{"roles":["Tenant Admin"]}}}),
            json!({"tenants":["T1"]}),
            json!({"dct":"T1","roles":[]}),
        ] {
            let e = caller_from_claims(&claims(payload.clone()), None).unwrap_err();
            assert_eq!((e.status, e.message.as_str()), (403, NO_ROLE_MESSAGE), "{payload}");
        }
    }

    #[test]
    fn dct_comes_first_then_orgs_by_name() {
        let c = caller_from_claims(
            &claims(json!({"dct":"T2","tenants":{
                "T3":{"roles":["viewer"]}, "T2":{"roles":["member"]}, "T1":{"roles":["admin"]}
            }})),
            None,
        )
        .unwrap();
        assert_eq!(org_roles(&c), [("T2", Role::Member), ("T1", Role::Admin), ("T3", Role::Viewer)]);
        assert_eq!(c.default_org(), Some("T2"));
    }

    #[test]
    fn org_names_come_from_custom_claims_then_tenant_names_then_ids() {
        let c = caller_from_claims(
            &claims(json!({
                "dct":"T1",
                "procellaOrg":"acme",
                "procellaOrgs":{"T2":"globex"},
                "tenants":{
                    "T1":{"roles":["admin"],"name":"ignored-for-dct"},
                    "T2":{"roles":["member"],"name":"ignored-mapped"},
                    "T3":{"roles":["viewer"],"name":"initech"},
                    "T4":{"roles":["viewer"],"tenantName":"umbrella"},
                    "T5":{"roles":["viewer"]}
                }
            })),
            None,
        )
        .unwrap();
        assert_eq!(
            org_roles(&c),
            [
                ("acme", Role::Admin),
                ("T5", Role::Viewer),
                ("globex", Role::Member),
                ("initech", Role::Viewer),
                ("umbrella", Role::Viewer)
            ]
        );
        // procellaOrg names the only tenant when there is no dct, and the dct tenant's name comes from tenantName.
        let c = caller_from_claims(&claims(json!({"procellaOrg":"solo","tenants":{"T1":{"roles":["member"]}}})), None);
        assert_eq!(org_roles(&c.unwrap()), [("solo", Role::Member)]);
        let c = caller_from_claims(&claims(json!({"dct":"T1","tenantName":"acme","roles":["viewer"]})), None);
        assert_eq!(org_roles(&c.unwrap()), [("acme", Role::Viewer)]);
        // With several tenants and no dct, procellaOrg names none of them.
        let c = caller_from_claims(
            &claims(json!({"procellaOrg":"x","tenants":{"T1":{"roles":["member"]},"T2":{"roles":["viewer"]}}})),
            None,
        );
        assert_eq!(org_roles(&c.unwrap()), [("T1", Role::Member), ("T2", Role::Viewer)]);
    }

    #[test]
    fn invalid_or_colliding_names_drop_the_tenant() {
        let c = caller_from_claims(
            &claims(json!({"tenants":{
                "T1":{"roles":["admin"],"name":"Acme Corp"},
                "T2":{"roles":["admin"],"name":"dup"},
                "T3":{"roles":["viewer"],"name":"dup"},
                "T4":{"roles":["member"],"name":"ok"}
            }})),
            None,
        )
        .unwrap();
        assert_eq!(org_roles(&c), [("ok", Role::Member)]);
        let e = caller_from_claims(&claims(json!({"tenants":{"T1":{"roles":["admin"],"name":"-bad"}}})), None);
        assert_eq!(e.unwrap_err().status, 403);
    }

    #[test]
    fn identity_claims() {
        let c = caller_from_claims(
            &claims(json!({"sub":"K2key","dsub":"U2real","procellaLogin":"alice","login":"other",
                "name":"Alice A.","email":"alice@example.com","dct":"T1","roles":["viewer"]})),
            None,
        )
        .unwrap();
        assert_eq!(
            (c.user_id.as_str(), c.login.as_str(), c.name.as_str(), c.email.as_str()),
            ("U2real", "alice", "Alice A.", "alice@example.com")
        );
        let c = caller_from_claims(&claims(json!({"login":"bob","dct":"T1","roles":["viewer"]})), None).unwrap();
        assert_eq!((c.login.as_str(), c.name.as_str()), ("bob", "bob"));
        // A login that is not one token falls back to the subject.
        let c = caller_from_claims(&claims(json!({"procellaLogin":"a b","dct":"T1","roles":["viewer"]})), None);
        assert_eq!(c.unwrap().login, "U2user");
    }

    #[test]
    fn access_key_sessions_are_named() {
        let base = json!({"sub":"K2key","dct":"T1","roles":["member"]});
        assert_eq!(
            caller_from_claims(&claims(base.clone()), Some("K2key")).unwrap().token_name.as_deref(),
            Some("K2key")
        );
        assert_eq!(caller_from_claims(&claims(base.clone()), None).unwrap().token_name, None);
        let mut by_amr = base.clone();
        by_amr["amr"] = json!(["accessKey"]);
        assert_eq!(caller_from_claims(&claims(by_amr), None).unwrap().token_name.as_deref(), Some("K2key"));
        let mut named = base;
        named["procellaTokenName"] = json!("ci-deploy");
        assert_eq!(caller_from_claims(&claims(named), Some("K2key")).unwrap().token_name.as_deref(), Some("ci-deploy"));
    }
}
