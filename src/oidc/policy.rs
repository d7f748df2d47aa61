//! Which policy, if any, a verified token satisfies: the first one, in the order the admin listed them, whose
//! every claim condition holds and which grants the kind of token asked for.

use super::issuer::{label, Policy, TokenKind};
use crate::auth::Role;
use crate::error::ApiError;
use serde_json::{Map, Value};

/// What was asked for: an organization token, or a personal token acting as this login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested<'a> {
    Organization,
    Personal(&'a str),
}

/// What a matching policy grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    /// The policy's label in messages and in the token's record.
    pub policy: String,
    pub max_expiration_seconds: Option<u64>,
}

/// `*` matches any run of characters (none included, `/` and `:` included); everything else matches itself,
/// case-sensitively. No other metacharacters: a claim like `repo:acme/app:ref:refs/heads/main` means what it says.
pub fn glob(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.as_bytes(), value.as_bytes());
    // Iterative matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut vi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            pi += 1;
            mark = vi;
        } else if pi < p.len() && p[pi] == v[vi] {
            pi += 1;
            vi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// The texts a claim value can be matched as: a string as itself, a number or boolean as written in JSON, an
/// array as each of its elements (any one may match). Objects and nulls match nothing.
fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Array(items) => items.iter().filter(|i| !i.is_array()).flat_map(texts).collect(),
        _ => vec![],
    }
}

/// The first condition of `p` that `claims` fail, as a message, or `None` when all hold. The message names the
/// claim and the token's own value, never the pattern: whoever holds a token (on a shared issuer, anyone's
/// pipeline) must not learn from a refusal what the org trusts.
fn first_failure(p: &Policy, claims: &Map<String, Value>) -> Option<String> {
    p.claims.iter().find_map(|(claim, pattern)| match claims.get(claim) {
        None => Some(format!("the token has no `{claim}` claim")),
        Some(v) if texts(v).iter().any(|t| glob(pattern, t)) => None,
        Some(v) => {
            let shown: String = match v {
                Value::String(s) => s.chars().take(200).collect(),
                other => other.to_string().chars().take(200).collect(),
            };
            Some(format!("`{claim}` is '{shown}', which its condition does not accept"))
        }
    })
}

/// Decides the role a token's claims earn under an issuer's policies.
///
/// # Errors
/// A 403 `invalid_grant` saying no policy matched, naming the first failed condition of the first policy of the
/// requested kind (what an admin needs to fix a pipeline), or that no policy grants that kind of token.
pub fn decide(policies: &[Policy], claims: &Map<String, Value>, requested: Requested<'_>) -> Result<Grant, ApiError> {
    let candidates: Vec<(usize, &Policy)> = policies
        .iter()
        .enumerate()
        .filter(|(_, p)| match requested {
            Requested::Organization => p.token_type == TokenKind::Organization,
            Requested::Personal(user) => p.token_type == TokenKind::Personal && p.user.as_deref() == Some(user),
        })
        .collect();
    let mut nearest = None;
    for (i, p) in &candidates {
        match first_failure(p, claims) {
            None => {
                return Ok(Grant { role: p.role, policy: label(p, *i), max_expiration_seconds: p.max_expiration_seconds })
            }
            Some(why) => {
                nearest.get_or_insert((label(p, *i), why));
            }
        }
    }
    let message = match (nearest, requested) {
        (Some((policy, why)), _) => {
            format!("no policy matched: no {} policy of this issuer accepts this token (policy {policy}: {why})", kind_word(requested))
        }
        (None, Requested::Organization) => "no policy matched: this issuer has no policy granting organization tokens".into(),
        (None, Requested::Personal(user)) => {
            format!("no policy matched: this issuer has no policy granting personal tokens for user '{user}'")
        }
    };
    Err(super::exchange::refusal(403, "invalid_grant", message))
}

fn kind_word(r: Requested<'_>) -> &'static str {
    match r {
        Requested::Organization => "organization-token",
        Requested::Personal(_) => "personal-token",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policies(v: Value) -> Vec<Policy> {
        serde_json::from_value(v).unwrap()
    }

    fn gh_claims() -> Map<String, Value> {
        json!({"sub": "repo:acme/app:ref:refs/heads/main", "repository": "acme/app", "ref": "refs/heads/main",
               "environment": "production", "run_attempt": 2, "runner_environment": "github-hosted",
               "groups": ["deployers", "ops"]})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn globs_match_runs_and_nothing_else() {
        assert!(glob("repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main"));
        assert!(glob("*", ""));
        assert!(glob("refs/heads/*", "refs/heads/release/1.0"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
        assert!(!glob("refs/heads/main", "refs/heads/main2"), "exact means exact");
        assert!(!glob("acme/app", "ACME/app"), "case-sensitive");
        assert!(!glob("a?c", "abc"), "? is a literal");
        assert!(glob(&"*a".repeat(50), &"a".repeat(100)));
        assert!(!glob(&format!("{}b", "*a".repeat(30)), &"a".repeat(5000)), "no blow-up on a hostile pattern");
    }

    #[test]
    fn the_first_policy_whose_conditions_all_hold_grants_its_role() {
        let ps = policies(json!([
            {"name": "prod", "role": "admin", "claims": {"repository": "acme/app", "environment": "production", "ref": "refs/tags/*"}},
            {"name": "main", "role": "member", "claims": {"sub": "repo:acme/*:ref:refs/heads/main"}, "maxExpirationSeconds": 900},
            {"name": "any", "role": "viewer", "claims": {"repository": "acme/*"}},
        ]));
        let g = decide(&ps, &gh_claims(), Requested::Organization).unwrap();
        assert_eq!((g.role, g.policy.as_str(), g.max_expiration_seconds), (Role::Member, "'main'", Some(900)));
    }

    #[test]
    fn numbers_booleans_and_arrays_match_as_text() {
        let ps = policies(json!([{"role": "viewer", "claims": {"run_attempt": "2", "groups": "ops"}}]));
        assert_eq!(decide(&ps, &gh_claims(), Requested::Organization).unwrap().role, Role::Viewer);
    }

    #[test]
    fn a_mismatch_names_the_condition_that_failed() {
        let ps = policies(json!([{"name": "main", "role": "member", "claims": {"repository": "acme/app", "ref": "refs/heads/main"}}]));
        let mut c = gh_claims();
        c.insert("ref".into(), json!("refs/heads/feature"));
        let e = decide(&ps, &c, Requested::Organization).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.message.starts_with("no policy matched"), "{}", e.message);
        assert!(e.message.contains("policy 'main': `ref` is 'refs/heads/feature', which its condition does not accept"), "{}", e.message);
        assert!(!e.message.contains("refs/heads/main") && !e.message.contains("github"), "the pattern and the issuer's name stay the org's: {}", e.message);
        c.remove("ref");
        let e = decide(&ps, &c, Requested::Organization).unwrap_err();
        assert!(e.message.contains("no `ref` claim"), "{}", e.message);
    }

    #[test]
    fn personal_tokens_need_a_policy_for_that_user() {
        let ps = policies(json!([
            {"role": "admin", "claims": {"repository": "acme/app"}},
            {"role": "member", "tokenType": "personal", "user": "ada", "claims": {"repository": "acme/app"}},
        ]));
        assert_eq!(decide(&ps, &gh_claims(), Requested::Personal("ada")).unwrap().role, Role::Member);
        let e = decide(&ps, &gh_claims(), Requested::Personal("bob")).unwrap_err();
        assert!(e.message.contains("no policy granting personal tokens for user 'bob'"), "{}", e.message);
        let only_personal = &ps[1..];
        let e = decide(only_personal, &gh_claims(), Requested::Organization).unwrap_err();
        assert!(e.message.contains("no policy granting organization tokens"), "{}", e.message);
    }

    #[test]
    fn no_policies_means_no_trust() {
        let e = decide(&[], &gh_claims(), Requested::Organization).unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.message.starts_with("no policy matched"));
    }
}
