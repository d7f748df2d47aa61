//! Org slugs are bound to Descope tenants on the server, first come and for good.
//!
//! A session names its tenants in the signed `tenants` claim, which Descope controls; the slug each tenant goes by
//! comes from softer sources (a custom claim, an editable tenant name). Trusting those alone would let a tenant
//! admin rename their tenant, or a key carry a claim, to walk into another tenant's organization. So the first
//! tenant to use a slug owns it (a row in D1, never changed), a tenant keeps the slug it was first seen with, and a
//! claimed slug that belongs to another tenant is dropped from the caller.

use crate::auth::OrgRole;
use std::collections::{BTreeMap, BTreeSet};

/// A stored binding: `slug` belongs to `tenant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub slug: String,
    pub tenant: String,
}

/// The caller's orgs after the bindings, and the bindings still to store (slugs no tenant owns yet).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Bound {
    pub orgs: Vec<OrgRole>,
    pub new: Vec<Binding>,
}

/// Applies `known` bindings (every stored row whose slug or tenant the caller mentions) to `orgs`.
/// Orgs without a tenant (dev mode) pass through unchanged. The order of `orgs` is kept (the first is the default).
pub fn bind(orgs: Vec<OrgRole>, known: &[Binding]) -> Bound {
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
        } else if by_slug.get(o.org.as_str()).is_some_and(|owner| *owner != tenant) {
            continue;
        } else {
            out.new.push(Binding { slug: o.org.clone(), tenant });
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

    fn b(slug: &str, tenant: &str) -> Binding {
        Binding { slug: slug.into(), tenant: tenant.into() }
    }

    #[test]
    fn a_new_slug_is_bound_to_its_tenant() {
        let out = bind(vec![org("acme", "T1", Role::Admin)], &[]);
        assert_eq!(out.orgs, vec![org("acme", "T1", Role::Admin)]);
        assert_eq!(out.new, vec![b("acme", "T1")]);
    }

    #[test]
    fn another_tenant_cannot_take_a_bound_slug() {
        // T9's admin renamed their tenant "acme", or a key claims procellaOrgs {T9: acme}.
        let out = bind(vec![org("acme", "T9", Role::Admin), org("mallory", "T8", Role::Admin)], &[b("acme", "T1")]);
        assert_eq!(out.orgs, vec![org("mallory", "T8", Role::Admin)]);
        assert_eq!(out.new, vec![b("mallory", "T8")]);
    }

    #[test]
    fn a_tenant_keeps_the_slug_it_was_first_seen_with() {
        let out = bind(vec![org("new-name", "T1", Role::Member)], &[b("acme", "T1")]);
        assert_eq!(out.orgs, vec![org("acme", "T1", Role::Member)]);
        assert!(out.new.is_empty());
    }

    #[test]
    fn orgs_without_tenants_pass_through_and_order_is_kept() {
        let dev = OrgRole { org: "dev-org".into(), role: Role::Admin, tenant: None };
        let out = bind(vec![org("b", "T2", Role::Viewer), dev.clone(), org("a", "T1", Role::Admin)], &[]);
        assert_eq!(out.orgs.iter().map(|o| o.org.as_str()).collect::<Vec<_>>(), ["b", "dev-org", "a"]);
        assert_eq!(out.orgs[1], dev);
    }

    #[test]
    fn two_tenants_never_end_up_under_one_slug() {
        // T2 claims "acme" while T1 (bound to acme) is also in the session.
        let out = bind(vec![org("acme", "T1", Role::Viewer), org("acme", "T2", Role::Admin)], &[b("acme", "T1")]);
        assert_eq!(out.orgs, vec![org("acme", "T1", Role::Viewer)]);
    }
}
