//! Org slugs are bound to Descope tenants on the server, first come and for good.
//!
//! A session names its tenants in the signed `tenants` claim, which Descope controls; the slug each tenant goes by
//! comes from softer sources (a custom claim, an editable tenant name). Trusting those alone would let a tenant
//! admin rename their tenant, or a key carry a claim, to walk into another tenant's organization. So the first
//! tenant to use a slug owns it (a row in D1, never changed), and a tenant keeps the slug it was first seen with.
//!
//! A tenant whose claimed slug belongs to another tenant is not locked out: it falls back to its tenant ID, then
//! to a slug derived from the ID under a server key (`tenant-<PRF of the ID>`, unpredictable without the key),
//! whichever is free first. One tenant owns one slug (the table's `tenant_id` is unique), so a squatter can block
//! at most one candidate per tenant it controls, and never the derived one.
//!
//! Organizations that had stacks before slugs were bound (migration 0004) are reserved: their row names no tenant
//! ([`RESERVED_PREFIX`]). A reserved slug is taken over only by a tenant that names it in `procellaOrgs` of an
//! access key this backend made and exchanged itself (the keys users already hold), never by a tenant name. A
//! tenant that claims a reserved slug any other way is left out of the caller rather than bound to a fallback:
//! a stored fallback would keep it from ever taking over its own organization.

use crate::auth::OrgRole;
use crate::names::OrgName;
use hkdf::Hkdf;
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet};

/// The `tenant_id` of a reserved slug's row: `reserved:<slug>`.
pub const RESERVED_PREFIX: &str = "reserved:";

/// A stored binding: `slug` belongs to `tenant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub slug: String,
    pub tenant: String,
}

/// The caller's orgs after the bindings, the bindings still to store (slugs no tenant owns yet), and the reserved
/// slugs this caller takes over.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bound {
    pub orgs: Vec<OrgRole>,
    pub new: Vec<Binding>,
    pub taken_over: Vec<Binding>,
    /// Reserved slugs the caller claimed without a key of ours: left out (see the module docs).
    pub reserved: Vec<String>,
}

/// The 403 for a caller left with no organization because the one it claims is reserved.
pub fn reserved_message(slug: &str) -> String {
    format!(
        "organization '{slug}' is reserved for the stacks it had before tenants were bound to organizations: sign in \
         once with an access key this server made for it, or ask an operator to bind it to your tenant"
    )
}

/// The slugs `o`'s tenant may go by, in order: the one it claims, its tenant ID, and one derived from the ID under
/// `slug_key` (`crate::secrets::MasterKey::slug_key`).
pub fn candidates(o: &OrgRole, slug_key: &[u8; 32]) -> Vec<String> {
    let Some(tenant) = &o.tenant else { return vec![o.org.clone()] };
    // HKDF-extract is HMAC-SHA256 keyed by the salt: a PRF of the tenant ID.
    let (prf, _) = Hkdf::<Sha256>::extract(Some(slug_key), tenant.as_bytes());
    let derived = format!("tenant-{}", hex12(&prf));
    let mut out = vec![o.org.clone()];
    for c in [tenant.clone(), derived] {
        if OrgName::parse(&c).is_ok() && !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

fn hex12(bytes: &[u8]) -> String {
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Applies `known` bindings (every stored row whose slug or tenant the caller mentions, for every candidate) to
/// `orgs`. `trusted` lists the `(tenant, slug)` pairs of `procellaOrgs` in a session this backend exchanged
/// itself: only those take over a reserved slug. Orgs without a tenant (dev mode) pass through unchanged; the
/// order of `orgs` is kept (the first is the default); a tenant with no free candidate is left out.
pub fn bind(orgs: Vec<OrgRole>, known: &[Binding], trusted: &[(String, String)], slug_key: &[u8; 32]) -> Bound {
    let by_tenant: BTreeMap<&str, &str> = known.iter().map(|b| (b.tenant.as_str(), b.slug.as_str())).collect();
    let by_slug: BTreeMap<&str, &str> = known.iter().map(|b| (b.slug.as_str(), b.tenant.as_str())).collect();
    let mut out = Bound::default();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for mut o in orgs {
        let Some(tenant) = o.tenant.clone() else {
            out.orgs.push(o);
            continue;
        };
        if let Some(slug) = by_tenant.get(tenant.as_str()) {
            o.org = (*slug).to_owned();
        } else {
            let reserved_for = |slug: &str| by_slug.get(slug) == Some(&format!("{RESERVED_PREFIX}{slug}").as_str());
            let is_trusted = |slug: &str| trusted.iter().any(|(t, s)| *t == tenant && s == slug);
            if reserved_for(&o.org) && !is_trusted(&o.org) {
                out.reserved.push(o.org.clone());
                continue;
            }
            let pick = candidates(&o, slug_key).into_iter().find_map(|slug| {
                if used.contains(&slug) {
                    None
                } else if !by_slug.contains_key(slug.as_str()) {
                    Some((slug, false))
                } else if reserved_for(&slug) && is_trusted(&slug) {
                    Some((slug, true))
                } else {
                    None
                }
            });
            let Some((slug, take_over)) = pick else { continue };
            let binding = Binding { slug: slug.clone(), tenant };
            if take_over {
                out.taken_over.push(binding);
            } else {
                out.new.push(binding);
            }
            o.org = slug;
        }
        // Two of the caller's tenants never share one slug (the stored binding wins over a new claim).
        if used.insert(o.org.clone()) {
            out.orgs.push(o);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn org(slug: &str, tenant: &str, role: Role) -> OrgRole {
        OrgRole { org: slug.into(), role, tenant: Some(tenant.into()) }
    }

    const KEY: [u8; 32] = [7; 32];

    fn b(slug: &str, tenant: &str) -> Binding {
        Binding { slug: slug.into(), tenant: tenant.into() }
    }

    #[test]
    fn a_new_slug_is_bound_to_its_tenant() {
        let out = bind(vec![org("acme", "T1", Role::Admin)], &[], &[], &KEY);
        assert_eq!(out.orgs, vec![org("acme", "T1", Role::Admin)]);
        assert_eq!(out.new, vec![b("acme", "T1")]);
    }

    #[test]
    fn another_tenant_cannot_take_a_bound_slug_and_falls_back_to_its_id() {
        // T9's admin renamed their tenant "acme", or a key claims procellaOrgs {T9: acme}.
        let out = bind(vec![org("acme", "T9", Role::Admin), org("mallory", "T8", Role::Admin)], &[b("acme", "T1")], &[], &KEY);
        assert_eq!(out.orgs, vec![org("T9", "T9", Role::Admin), org("mallory", "T8", Role::Admin)]);
        assert_eq!(out.new, vec![b("T9", "T9"), b("mallory", "T8")]);
    }

    #[test]
    fn a_tenant_whose_name_and_id_were_squatted_still_gets_in() {
        // T1 is named "acme"; T8 signed in first as "acme", T9 first as "T1".
        let known = [b("acme", "T8"), b("T1", "T9")];
        let out = bind(vec![org("acme", "T1", Role::Admin)], &known, &[], &KEY);
        let derived = candidates(&org("acme", "T1", Role::Admin), &KEY)[2].clone();
        assert_ne!(derived, candidates(&org("acme", "T1", Role::Admin), &[8; 32])[2], "keyed: unpredictable");
        assert!(derived.starts_with("tenant-") && derived.len() == 19, "{derived}");
        assert_eq!(out.orgs, vec![org(&derived, "T1", Role::Admin)]);
        assert_eq!(out.new, vec![b(&derived, "T1")]);
    }

    #[test]
    fn a_reserved_slug_goes_only_to_a_tenant_our_own_key_names() {
        let known = [b("legacy", "reserved:legacy")];
        let trusted = [("T1".to_owned(), "legacy".to_owned())];
        let out = bind(vec![org("legacy", "T1", Role::Admin)], &known, &trusted, &KEY);
        assert_eq!(out.orgs, vec![org("legacy", "T1", Role::Admin)]);
        assert_eq!((out.new, out.taken_over), (vec![], vec![b("legacy", "T1")]));
        // A tenant merely named "legacy" (or a browser session of T1 itself) is left out, unbound: it may still take
        // the slug over with one of its keys later.
        let out = bind(vec![org("legacy", "T2", Role::Admin), org("other", "T3", Role::Viewer)], &known, &trusted, &KEY);
        assert_eq!(out.orgs, vec![org("other", "T3", Role::Viewer)]);
        assert!(out.taken_over.is_empty() && out.new == vec![b("other", "T3")]);
        let browser = bind(vec![org("legacy", "T1", Role::Admin)], &known, &[], &KEY);
        assert!(browser.orgs.is_empty() && browser.new.is_empty());
        assert_eq!(browser.reserved, ["legacy"]);
        assert!(reserved_message("legacy").contains("reserved"));
    }

    #[test]
    fn a_tenant_keeps_the_slug_it_was_first_seen_with() {
        let out = bind(vec![org("new-name", "T1", Role::Member)], &[b("acme", "T1")], &[], &KEY);
        assert_eq!(out.orgs, vec![org("acme", "T1", Role::Member)]);
        assert!(out.new.is_empty());
    }

    #[test]
    fn orgs_without_tenants_pass_through_and_order_is_kept() {
        let dev = OrgRole { org: "dev-org".into(), role: Role::Admin, tenant: None };
        let out = bind(vec![org("b", "T2", Role::Viewer), dev.clone(), org("a", "T1", Role::Admin)], &[], &[], &KEY);
        assert_eq!(out.orgs.iter().map(|o| o.org.as_str()).collect::<Vec<_>>(), ["b", "dev-org", "a"]);
        assert_eq!(out.orgs[1], dev);
    }

    #[test]
    fn two_tenants_never_end_up_under_one_slug() {
        // T2 claims "acme" while T1 (bound to acme) is also in the session: T2 goes by its ID.
        let out = bind(vec![org("acme", "T1", Role::Viewer), org("acme", "T2", Role::Admin)], &[b("acme", "T1")], &[], &KEY);
        assert_eq!(out.orgs, vec![org("acme", "T1", Role::Viewer), org("T2", "T2", Role::Admin)]);
    }
}
