//! OIDC token exchange (`pulumi login --oidc-token`): a CI pipeline trades the ID token its platform issues
//! (GitHub Actions, GitLab, Buildkite, CircleCI, Kubernetes) for a short-lived token of this backend.
//!
//! Trust is per organization and none by default: an org admin registers issuers (URL, accepted audiences) and
//! policies (claim conditions granting a role). Everything here is pure and natively tested; the edge
//! (`src/edge/oidc.rs`) fetches the issuer's keys, stores issuers and tokens in D1, and calls these in order:
//! 1. [`exchange::parse_form`] the `POST /api/oauth/token` body;
//! 2. [`verify::unverified_issuer`] to pick the org's registered issuer with that URL;
//! 3. [`verify::verify`] against its key set (fetched via discovery, cached, refetched on an unknown `kid`);
//! 4. [`policy::decide`] over the verified claims;
//! 5. [`exchange::lifetime`], then mint a token ([`exchange::new_token`]) and store only its hash.

pub mod exchange;
pub mod issuer;
pub mod policy;
pub mod token;
pub mod verify;

pub use exchange::{is_exchanged_token, token_hash};
pub use issuer::{Issuer, IssuerSpec, Policy, TokenKind};
