//! Registered issuers and their policies: what an org admin sends to `/api/orgs/{org}/oidc/issuers`, the rules
//! it must follow, and what is stored (one D1 row per issuer; the bounds below keep a row far under D1's 1 MB).

use crate::auth::Role;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Issuers one organization may register.
pub const MAX_ISSUERS_PER_ORG: usize = 20;
const MAX_POLICIES: usize = 50;
const MAX_CONDITIONS: usize = 20;
const MAX_AUDIENCES: usize = 10;
const MAX_URL: usize = 512;
const MAX_PATTERN: usize = 512;
const MAX_NAME: usize = 64;
/// No policy may grant tokens longer than a day, whatever the server's cap says.
const MAX_POLICY_SECONDS: u64 = 86_400;
/// Claims the server checks itself; a condition on them would suggest they are policy.
const RESERVED_CLAIMS: [&str; 5] = ["iss", "aud", "exp", "iat", "nbf"];

/// Which kind of token a policy grants (`requested_token_type`'s last segment). Teams do not exist here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    #[default]
    Organization,
    Personal,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::Personal => "personal",
        }
    }
}

/// Claim conditions that grant a role: every condition must hold (exact values or `*` globs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub token_type: TokenKind,
    /// The login a personal token acts as; only for `tokenType: personal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub claims: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_expiration_seconds: Option<u64>,
}

/// The body of a create or replace.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuerSpec {
    pub name: String,
    pub url: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub max_expiration_seconds: Option<u64>,
    #[serde(default)]
    pub policies: Vec<Policy>,
}

/// An issuer as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issuer {
    pub id: String,
    pub name: String,
    pub url: String,
    /// Never empty: the default is `urn:pulumi:org:<org>`, the audience the CLI asks for.
    pub audiences: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_expiration_seconds: Option<u64>,
    pub policies: Vec<Policy>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl IssuerSpec {
    /// The issuer a validated spec makes, under its id and times.
    pub fn into_issuer(self, id: String, created_at: i64, updated_at: i64) -> Issuer {
        Issuer {
            id,
            name: self.name,
            url: self.url,
            audiences: self.audiences,
            max_expiration_seconds: self.max_expiration_seconds,
            policies: self.policies,
            created_at,
            updated_at,
        }
    }
}

/// The audience `pulumi login --oidc-org <org>` asks for, and every issuer's default.
pub fn org_audience(org: &str) -> String {
    format!("urn:pulumi:org:{org}")
}

impl IssuerSpec {
    /// Checks the spec and fills in the defaults, giving the issuer's stored fields (id and times are the edge's).
    ///
    /// # Errors
    /// A 400 naming the field and what is wrong with it.
    pub fn validate(mut self, org: &str) -> Result<IssuerSpec, ApiError> {
        let bad = |m: String| Err(ApiError::bad_request(m));
        if !valid_name(&self.name) {
            return bad(format!(
                "invalid issuer name: use 1 to {MAX_NAME} letters, digits, '.', '_' or '-'"
            ));
        }
        check_url(&self.url)?;
        if self.audiences.is_empty() {
            self.audiences = vec![org_audience(org)];
        }
        if self.audiences.len() > MAX_AUDIENCES {
            return bad(format!("too many audiences: at most {MAX_AUDIENCES}"));
        }
        if self.audiences.iter().any(|a| a.trim().is_empty() || a.len() > 256 || a.trim() != a) {
            return bad("invalid audience: each is a non-empty string of at most 256 characters, without spaces around it".into());
        }
        check_seconds("maxExpirationSeconds", self.max_expiration_seconds)?;
        if self.policies.len() > MAX_POLICIES {
            return bad(format!("too many policies: at most {MAX_POLICIES}"));
        }
        for (i, p) in self.policies.iter().enumerate() {
            check_policy(p, &self.url).map_err(|e| ApiError::bad_request(format!("invalid policy {}: {}", label(p, i), e.message)))?;
        }
        Ok(self)
    }
}

/// How a policy is named in messages: its name, or its position.
pub fn label(p: &Policy, index: usize) -> String {
    if p.name.is_empty() {
        format!("#{}", index + 1)
    } else {
        format!("'{}'", p.name)
    }
}

fn valid_name(s: &str) -> bool {
    (1..=MAX_NAME).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn check_seconds(field: &str, v: Option<u64>) -> Result<(), ApiError> {
    match v {
        Some(s) if s == 0 || s > MAX_POLICY_SECONDS => Err(ApiError::bad_request(format!(
            "{field} must be between 1 and {MAX_POLICY_SECONDS} seconds"
        ))),
        _ => Ok(()),
    }
}

/// An issuer URL is `https://host[:port][/path]`, exactly as its tokens' `iss` says it. Plain `http` only for a
/// loopback host (a local issuer under `wrangler dev`, as the tests run one): anything else could be read or
/// altered on the way, and its keys are what the whole trust rests on.
fn check_url(raw: &str) -> Result<(), ApiError> {
    let bad = |why: &str| Err(ApiError::bad_request(format!("invalid issuer URL: {why}")));
    if raw.len() > MAX_URL || raw.chars().any(char::is_whitespace) {
        return bad("it must be at most 512 characters, without spaces");
    }
    let Ok(url) = url::Url::parse(raw) else {
        return bad("it is not an absolute URL");
    };
    if !safe_transport(&url) {
        return bad(if url.scheme() == "http" {
            "it must use https (plain http only for a loopback host)"
        } else {
            "it must use https"
        });
    }
    if url.host_str().is_none_or(str::is_empty) {
        return bad("it has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("it must not carry credentials");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return bad("it must not have a query or a fragment");
    }
    if raw.ends_with('/') {
        return bad("it must not end with '/' (it is compared with the tokens' `iss` exactly)");
    }
    Ok(())
}

/// https, or plain http to a loopback host.
fn safe_transport(url: &url::Url) -> bool {
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    url.scheme() == "https" || (url.scheme() == "http" && loopback)
}

#[derive(Deserialize)]
struct Discovery {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// The `jwks_uri` of an issuer's `/.well-known/openid-configuration`, once the document is seen to be that
/// issuer's (its `issuer` is the registered URL exactly, OpenID Connect Discovery §4.3) and the keys are served
/// over https (or from loopback, like the issuer itself).
///
/// # Errors
/// What is wrong with the document, for the log and the 502.
pub fn jwks_uri_of(discovery: &str, issuer_url: &str) -> Result<String, String> {
    let d: Discovery =
        serde_json::from_str(discovery).map_err(|_| "the discovery document is not a JSON object".to_owned())?;
    if d.issuer.as_deref() != Some(issuer_url) {
        return Err("the discovery document's `issuer` is not the registered issuer URL".into());
    }
    let uri = d.jwks_uri.ok_or("the discovery document has no `jwks_uri`")?;
    match url::Url::parse(&uri) {
        Ok(u) if safe_transport(&u) && u.username().is_empty() && u.password().is_none() => Ok(uri),
        _ => Err("the discovery document's `jwks_uri` is not an https URL".into()),
    }
}

fn check_policy(p: &Policy, issuer_url: &str) -> Result<(), ApiError> {
    let bad = |m: &str| Err(ApiError::bad_request(m.to_owned()));
    if p.name.len() > MAX_NAME {
        return bad("its name is longer than 64 characters");
    }
    match (p.token_type, &p.user) {
        (TokenKind::Organization, Some(_)) => return bad("`user` is only for personal tokens (tokenType: personal)"),
        (TokenKind::Personal, None) => return bad("a personal-token policy names the `user` its tokens act as"),
        (TokenKind::Personal, Some(u)) if crate::names::OrgName::parse(u).is_err() => return bad("`user` is not a valid login"),
        _ => {}
    }
    check_seconds("maxExpirationSeconds", p.max_expiration_seconds)?;
    if p.claims.is_empty() {
        return bad("it needs at least one claim condition (a policy without one would trust every token of the issuer)");
    }
    if p.claims.len() > MAX_CONDITIONS {
        return bad("it has more than 20 claim conditions");
    }
    for (claim, pattern) in &p.claims {
        if claim.is_empty() || claim.len() > MAX_NAME {
            return bad("a claim name is empty or longer than 64 characters");
        }
        if RESERVED_CLAIMS.contains(&claim.as_str()) {
            return Err(ApiError::bad_request(format!(
                "a condition on `{claim}`: the server checks iss, aud, exp, iat and nbf itself"
            )));
        }
        if pattern.is_empty() || pattern.len() > MAX_PATTERN {
            return Err(ApiError::bad_request(format!("the pattern of `{claim}` is empty or longer than {MAX_PATTERN} characters")));
        }
    }
    // A shared issuer (GitHub's signs for every repository in the world) must be narrowed by something.
    if p.claims.values().all(|v| v.chars().all(|c| c == '*')) {
        return bad("every condition is a bare '*': it would match every token of the issuer");
    }
    if let Some((_, owner_claims)) = SHARED_ISSUERS.iter().find(|(url, _)| *url == issuer_url) {
        if !p.claims.iter().any(|(claim, pattern)| pins_owner(owner_claims, claim, pattern)) {
            let names: Vec<&str> = owner_claims.iter().map(|o| o.claim).collect();
            return Err(ApiError::bad_request(format!(
                "this issuer signs tokens for anyone's pipelines: a policy needs a condition that names the owner in \
                 full (on one of {}, with no '*' before the owner ends; e.g. repository: acme/*)",
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// A claim that says whose pipeline a token is: `prefix` is what its value starts with before the owner, and a
/// `slash` ends the owner (`acme/app`); without one the whole value is the owner, so no `*` may appear in it.
struct OwnerClaim {
    claim: &'static str,
    prefix: &'static str,
    slash: bool,
}

const fn owner(claim: &'static str, prefix: &'static str, slash: bool) -> OwnerClaim {
    OwnerClaim { claim, prefix, slash }
}

/// Issuers that sign for every repository or project on their platform, and the claims that pin the owner.
/// With `aud` chosen by whoever asks for the token, only such a condition keeps another owner's pipeline out.
const SHARED_ISSUERS: [(&str, &[OwnerClaim]); 2] = [
    (
        "https://token.actions.githubusercontent.com",
        &[
            owner("repository_owner", "", false),
            owner("repository_owner_id", "", false),
            owner("repository_id", "", false),
            owner("repository", "", true),
            owner("sub", "repo:", true),
            owner("job_workflow_ref", "", true),
        ],
    ),
    (
        "https://gitlab.com",
        &[
            owner("namespace_path", "", false),
            owner("namespace_id", "", false),
            owner("project_id", "", false),
            owner("project_path", "", true),
            owner("sub", "project_path:", true),
        ],
    ),
];

/// Whether `pattern` on `claim` names an owner in full: its text before the first `*` holds the prefix and
/// the owner up to its `/` (or, for a claim that is the owner, there is no `*`).
fn pins_owner(owner_claims: &[OwnerClaim], claim: &str, pattern: &str) -> bool {
    let Some(o) = owner_claims.iter().find(|o| o.claim == claim) else { return false };
    let literal = pattern.split('*').next().unwrap_or_default();
    let Some(rest) = literal.strip_prefix(o.prefix) else { return false };
    if !pattern.contains('*') {
        return !rest.is_empty();
    }
    o.slash && rest.find('/').is_some_and(|i| i > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> Result<IssuerSpec, ApiError> {
        serde_json::from_value::<IssuerSpec>(v).map_err(|e| ApiError::bad_json(&e))?.validate("acme")
    }

    fn gh(policies: serde_json::Value) -> serde_json::Value {
        json!({"name": "github", "url": "https://token.actions.githubusercontent.com", "policies": policies})
    }

    #[test]
    fn an_issuer_gets_the_orgs_audience_by_default() {
        let s = spec(gh(json!([{"role": "member", "claims": {"repository": "acme/app"}}]))).unwrap();
        assert_eq!(s.audiences, ["urn:pulumi:org:acme"]);
        assert_eq!(s.policies[0].token_type, TokenKind::Organization);
        let s = spec(json!({"name": "k8s", "url": "https://kubernetes.default.svc", "audiences": ["procella"]})).unwrap();
        assert_eq!(s.audiences, ["procella"]);
    }

    #[test]
    fn issuer_urls_are_https_or_loopback_http_and_compared_exactly() {
        for ok in ["https://gitlab.com", "https://issuer.example.com/tenant/1", "http://127.0.0.1:8081/gh", "http://localhost:9/x"] {
            assert!(spec(json!({"name": "a", "url": ok})).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://issuer.example.com", "https"),
            ("ftp://issuer.example.com", "https"),
            ("issuer.example.com", "absolute"),
            ("https://user:pw@issuer.example.com", "credentials"),
            ("https://issuer.example.com/?x=1", "query"),
            ("https://issuer.example.com/", "end with"),
            ("https://issuer.example.com/ x", "spaces"),
        ] {
            let e = spec(json!({"name": "a", "url": bad})).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.starts_with("invalid issuer URL") && e.message.contains(why), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn a_policy_must_narrow_the_issuer_and_name_a_real_role() {
        for (policy, why) in [
            (json!({"role": "member", "claims": {}}), "at least one claim"),
            (json!({"role": "member", "claims": {"sub": "*", "ref": "**"}}), "bare '*'"),
            (json!({"role": "member", "claims": {"aud": "x"}}), "checks iss, aud"),
            (json!({"role": "member", "claims": {"sub": ""}}), "empty"),
            (json!({"role": "member", "tokenType": "personal", "claims": {"sub": "x"}}), "names the `user`"),
            (json!({"role": "member", "user": "ada", "claims": {"sub": "x"}}), "only for personal"),
            (json!({"role": "member", "claims": {"sub": "x"}, "maxExpirationSeconds": 0}), "between 1 and"),
        ] {
            let e = spec(gh(json!([policy]))).unwrap_err();
            assert!(e.message.contains("invalid policy #1") && e.message.contains(why), "{}", e.message);
        }
        let e = spec(gh(json!([{"role": "owner", "claims": {"sub": "x"}}]))).unwrap_err();
        assert!(e.message.contains("unknown variant"), "{}", e.message);
        let e = spec(gh(json!([{"role": "member", "claims": {"sub": "x"}, "teams": ["a"]}]))).unwrap_err();
        assert!(e.message.contains("unknown field `teams`"), "{}", e.message);
        let named = spec(gh(json!([{"name": "main", "role": "member", "claims": {"aud": "x"}}]))).unwrap_err();
        assert!(named.message.contains("invalid policy 'main'"), "{}", named.message);
    }

    #[test]
    fn names_and_bounds() {
        assert!(spec(json!({"name": "has space", "url": "https://a.example"})).is_err());
        assert!(spec(json!({"name": "", "url": "https://a.example"})).is_err());
        let many: Vec<_> = (0..11).map(|i| format!("a{i}")).collect();
        assert!(spec(json!({"name": "a", "url": "https://a.example", "audiences": many})).unwrap_err().message.contains("too many audiences"));
        assert!(spec(json!({"name": "a", "url": "https://a.example", "audiences": [" x"]})).is_err());
    }

    #[test]
    fn discovery_must_name_the_issuer_and_serve_keys_over_https() {
        let doc = |iss: &str, jwks: &str| serde_json::json!({"issuer": iss, "jwks_uri": jwks}).to_string();
        let gh = "https://token.actions.githubusercontent.com";
        assert_eq!(jwks_uri_of(&doc(gh, &format!("{gh}/.well-known/jwks")), gh).unwrap(), format!("{gh}/.well-known/jwks"));
        assert!(jwks_uri_of(&doc("http://127.0.0.1:9/gh", "http://127.0.0.1:9/gh/jwks"), "http://127.0.0.1:9/gh").is_ok());
        assert!(jwks_uri_of(&doc("https://evil.example", "https://evil.example/jwks"), gh).unwrap_err().contains("`issuer`"));
        assert!(jwks_uri_of(&doc(&format!("{gh}/"), "https://x/jwks"), gh).is_err(), "exactly, not up to a slash");
        assert!(jwks_uri_of(&doc(gh, "http://keys.example/jwks"), gh).unwrap_err().contains("https"));
        assert!(jwks_uri_of(&doc(gh, "file:///etc/keys"), gh).is_err());
        assert!(jwks_uri_of(r#"{"issuer": "https://token.actions.githubusercontent.com"}"#, gh).unwrap_err().contains("jwks_uri"));
        assert!(jwks_uri_of("<html>", gh).is_err());
    }

    #[test]
    fn a_policy_on_a_shared_issuer_must_name_the_owner_in_full() {
        let with = |claims: serde_json::Value| spec(gh(json!([{"role": "member", "claims": claims}])));
        for ok in [
            json!({"repository": "acme/app"}),
            json!({"repository": "acme/*"}),
            json!({"sub": "repo:acme/app:ref:refs/heads/main"}),
            json!({"sub": "repo:acme/*", "ref": "refs/heads/*"}),
            json!({"repository_owner": "acme", "environment": "production"}),
            json!({"repository_id": "123456"}),
        ] {
            assert!(with(ok.clone()).is_ok(), "{ok}");
        }
        for bad in [
            json!({"sub": "repo:*"}),
            json!({"repository": "*/*"}),
            json!({"repository": "ac*"}),
            json!({"repository": "*/app"}),
            json!({"ref": "refs/heads/main"}),
            json!({"repository_owner": "acme*"}),
            json!({"sub": "*:acme/app:*"}),
        ] {
            let e = with(bad.clone()).unwrap_err();
            assert!(e.message.contains("names the owner in full"), "{bad}: {}", e.message);
        }
        let gitlab = |claims: serde_json::Value| {
            spec(json!({"name": "gl", "url": "https://gitlab.com", "policies": [{"role": "viewer", "claims": claims}]}))
        };
        assert!(gitlab(json!({"project_path": "acme/infra"})).is_ok());
        assert!(gitlab(json!({"sub": "project_path:acme/*"})).is_ok());
        assert!(gitlab(json!({"ref": "main"})).is_err());
        let own = json!({"name": "k8s", "url": "https://oidc.cluster.example", "policies": [{"role": "viewer", "claims": {"sub": "system:serviceaccount:ci:*"}}]});
        assert!(spec(own).is_ok(), "an issuer of one's own signs only for one's own workloads");
    }
}
