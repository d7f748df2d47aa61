//! Descope mode (`PROCELLA_AUTH_MODE=descope`): API tokens are Descope access keys, exchanged for a session JWT
//! whose tenants and roles become the caller's organizations.
//!
//! Everything here is pure. The edge does the I/O in this order, calling these functions between the steps:
//! 1. [`cache_key`] of the access key; on a hit, use the cached caller.
//! 2. `POST` [`DescopeSettings::exchange_url`] with [`DescopeSettings::authorization`] and [`EXCHANGE_BODY`];
//!    a failure or timeout goes through [`exchange_failure`] / [`unavailable`], a 2xx body through
//!    [`parse_exchange_response`].
//! 3. [`crate::auth::jwt::verify`] the session JWT against the key set from [`DescopeSettings::jwks_url`]
//!    (cached; refetched once on [`crate::auth::jwt::JwtError::UnknownKid`]).
//! 4. [`caller_from_claims`], then cache the caller for [`cache_ttl`] seconds.
//!
//! The Descope API as this backend uses it is described in `docs/descope-api.md`.

mod caller;
mod exchange;
pub mod keys;
mod management;
pub mod orgs;
mod settings;

pub use caller::{caller_from_claims, check_browser_session, trusted_slugs, NO_ROLE_MESSAGE};
pub use exchange::{
    cache_key, cache_ttl, error_summary, exchange_failure, parse_exchange_response, unavailable, upstream_failure,
    Exchanged, CACHE_EXPIRY_MARGIN_SECS, DEFAULT_RETRY_AFTER_SECS, EXCHANGE_BODY, REFUSAL_TTL_SECS,
};
pub use management::{
    count_working_keys, create_access_key_body, management_failure, created_access_key, search_user_keys_body, too_many_keys,
};
pub use settings::DescopeSettings;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::{verify, KeySet};
    use crate::auth::test_keys::{private_key, public_jwk, sign_rs256, KEY_A};
    use crate::auth::Role;
    use serde_json::json;

    /// The edge's path for `Authorization: token <access-key>`, with Descope's answers inlined.
    #[test]
    fn an_access_key_becomes_a_caller() {
        let settings =
            DescopeSettings::from_vars(|k| (k == "PROCELLA_DESCOPE_PROJECT_ID").then(|| "P2proj".into())).unwrap();
        let now = 1_700_000_100;
        let jwt = sign_rs256(
            &json!({"alg": "RS256", "kid": "k1"}),
            &json!({"sub": "K2key", "iss": "https://api.descope.com/P2proj", "iat": now - 1, "exp": now + 600,
                    "amr": ["accessKey"], "drn": "DS", "dct": "T1", "procellaLogin": "alice",
                    "procellaOrgs": {"T1": "acme"}, "tenants": {"T1": {"roles": ["member"]}}}),
            &private_key(KEY_A),
        );
        let exchange_body = json!({"keyId": "K2key", "sessionJwt": jwt, "expiration": now + 600}).to_string();
        let jwks_body = json!({"keys": [public_jwk(&private_key(KEY_A), "k1")]}).to_string();

        let exchanged = parse_exchange_response(&exchange_body).unwrap();
        let keys = KeySet::from_jwks_json(&jwks_body).unwrap();
        let claims = verify(&exchanged.session_jwt, &keys, now, &settings.project_id, settings.jwt_max_age_secs).unwrap();
        let caller = caller_from_claims(&claims, exchanged.key_id.as_deref()).unwrap();

        assert_eq!(caller.login, "alice");
        assert_eq!(caller.role_in("acme"), Some(Role::Member));
        assert_eq!(caller.token_name.as_deref(), Some("K2key"));
        assert_eq!(cache_ttl(now, claims.exp, settings.cache_ttl_secs), Some(570));
        assert!(!cache_key(&settings.project_id, "K2key:secret").contains("secret"));
    }
}
