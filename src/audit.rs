//! The audit log: who did what to which stack, update or token, and what came of it. Every mutating API call is
//! an entry, and so is every failed authentication and every authorization denial. The execution routes of a
//! running update (checkpoints, journal batches, events, lease renewals: thousands per `up`) are not, but the
//! update's start and end are. An entry never holds a token, a secret or a request body.
//!
//! Decided here, natively tested; the worker writes the entries to D1 after answering (`src/edge/audit.rs`).

use crate::api::stacks as page;
use crate::error::ApiError;
use crate::routes::{Route, UpdateOp};
use serde::{Deserialize, Serialize};

/// How long entries are kept unless `PROCELLA_AUDIT_RETENTION_DAYS` says otherwise.
pub const DEFAULT_RETENTION_DAYS: i64 = 365;

/// One entry, as stored and as `GET /api/orgs/{org}/auditlogs` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// Milliseconds since the epoch.
    pub time: i64,
    /// The organization the call was about (the one named in its path), if any.
    pub org: Option<String>,
    /// The caller's login; `None` when authentication failed or the call ran on an update token.
    pub actor: Option<String>,
    pub action: String,
    /// What it acted on: `org/project[/stack[/update/id]]`, or a token's description.
    pub target: Option<String>,
    /// The HTTP status it was answered with.
    pub status: u16,
    /// The client's address (`CF-Connecting-IP`).
    pub ip: Option<String>,
}

/// The action a call is recorded as, or `None` for a call that is not recorded (reads, the execution routes of
/// a running update other than its end, the secrets routes: those encrypt and decrypt, they change nothing).
pub fn action(route: &Route, method: &str) -> Option<&'static str> {
    Some(match route {
        Route::Project { .. } if method == "POST" => "stack.create",
        Route::Stack(_) | Route::MisnamedStack { .. } if method == "DELETE" => "stack.delete",
        Route::StackRename(_) => "stack.rename",
        Route::StackTags(_) => "stack.tags",
        Route::CreateUpdate(..) => "update.create",
        Route::Update(_, _, UpdateOp::Start) => "update.start",
        Route::Update(_, _, UpdateOp::Complete) => "update.end",
        Route::Update(_, _, UpdateOp::Cancel) => "update.cancel",
        Route::Import(_) => "stack.import",
        Route::CliToken => "token.create",
        Route::OidcIssuers { .. } if method == "POST" => "oidc.issuer.create",
        Route::OidcIssuer { .. } if method == "PUT" => "oidc.issuer.update",
        Route::OidcIssuer { .. } => "oidc.issuer.delete",
        Route::OidcToken { .. } => "oidc.token.revoke",
        _ => return None,
    })
}

/// What a call acts on, from its path alone.
pub fn target(route: &Route) -> Option<String> {
    match route {
        Route::Project { org, project } => Some(format!("{org}/{project}")),
        Route::Update(s, id, _) => Some(format!("{}/{}/{}/update/{id}", s.org, s.project, s.stack)),
        Route::CliToken => Some("access key for pulumi login".into()),
        Route::OidcIssuers { org } => Some(format!("{org}/oidc/issuers")),
        Route::OidcIssuer { org, id } => Some(format!("{org}/oidc/issuers/{id}")),
        Route::OidcToken { org, id } => Some(format!("{org}/oidc/tokens/{id}")),
        _ => route.stack_path().map(|s| format!("{}/{}/{}", s.org, s.project, s.stack)),
    }
}

/// The action recorded for a refused credential, and for a caller refused by the role or org check.
pub const AUTH_FAILED: &str = "auth.failed";
pub const DENIED: &str = "access.denied";
/// An OIDC ID token exchanged for an access token (`POST /api/oauth/token`); the actor is the new token's name.
pub const TOKEN_EXCHANGE: &str = "token.exchange";

/// A page of `GET /api/orgs/{org}/auditlogs`: newest first, filtered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Entries at or after (ms since the epoch).
    pub since: Option<i64>,
    /// Entries before.
    pub until: Option<i64>,
    /// Entries older than this entry id (the previous page's `continuationToken`).
    pub before_id: Option<i64>,
    pub page_size: i64,
}

impl Query {
    /// Parses the query string: `actor`, `action`, `startTime`/`endTime` (seconds since the epoch, as Pulumi
    /// Cloud's API takes them), `continuationToken` and `pageSize` (1..=500, default 100).
    ///
    /// # Errors
    /// 400 naming the parameter that is not valid.
    pub fn parse<'a>(
        pairs: impl Iterator<Item = (std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    ) -> Result<Self, ApiError> {
        let mut q = Query { page_size: i64::from(page::DEFAULT_PAGE_SIZE), ..Query::default() };
        let number =
            |name: &str, v: &str| v.parse::<i64>().map_err(|_| ApiError::bad_request(format!("`{name}` must be an integer")));
        for (k, v) in pairs {
            match k.as_ref() {
                "actor" => q.actor = Some(v.into_owned()),
                "action" => q.action = Some(v.into_owned()),
                "startTime" => q.since = Some(number("startTime", &v)?.saturating_mul(1000)),
                "endTime" => q.until = Some(number("endTime", &v)?.saturating_mul(1000)),
                "continuationToken" => q.before_id = Some(number("continuationToken", &v)?),
                "pageSize" => q.page_size = i64::from(page::page_size(&v)?),
                _ => {}
            }
        }
        Ok(q)
    }
}

/// Reads `PROCELLA_AUDIT_RETENTION_DAYS`.
///
/// # Errors
/// A message for a value that is not a whole number of days from 1 to 36500.
pub fn retention_days(value: Option<&str>) -> Result<i64, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_RETENTION_DAYS),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=36_500).contains(&n) => Ok(n),
            _ => Err(format!("PROCELLA_AUDIT_RETENTION_DAYS must be a number of days from 1 to 36500, not {v:?}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn route(method: &str, path: &str) -> Route {
        Route::parse(method, path).unwrap()
    }

    #[test]
    fn mutating_calls_are_recorded_and_reads_and_update_traffic_are_not() {
        let s = "/api/stacks/o/p/s";
        for (method, path, want) in [
            ("POST", "/api/stacks/o/p".to_string(), Some("stack.create")),
            ("DELETE", s.to_string(), Some("stack.delete")),
            ("POST", format!("{s}/rename"), Some("stack.rename")),
            ("PATCH", format!("{s}/tags"), Some("stack.tags")),
            ("POST", format!("{s}/update"), Some("update.create")),
            ("POST", format!("{s}/update/u1"), Some("update.start")),
            ("POST", format!("{s}/update/u1/complete"), Some("update.end")),
            ("POST", format!("{s}/update/u1/cancel"), Some("update.cancel")),
            ("POST", format!("{s}/import"), Some("stack.import")),
            ("POST", "/api/auth/cli-token".to_string(), Some("token.create")),
            ("GET", s.to_string(), None),
            ("GET", format!("{s}/export"), None),
            ("PATCH", format!("{s}/update/u1/checkpoint"), None),
            ("PATCH", format!("{s}/update/u1/journalentries"), None),
            ("POST", format!("{s}/update/u1/events/batch"), None),
            ("POST", format!("{s}/update/u1/renew_lease"), None),
            ("POST", format!("{s}/decrypt"), None),
            ("HEAD", "/api/stacks/o/p".to_string(), None),
        ] {
            assert_eq!(action(&route(method, &path), method), want, "{method} {path}");
        }
        assert_eq!(target(&route("POST", &format!("{s}/update/u1"))).as_deref(), Some("o/p/s/update/u1"));
        assert_eq!(target(&route("DELETE", s)).as_deref(), Some("o/p/s"));
    }

    #[test]
    fn a_query_reads_its_filters_and_refuses_what_it_cannot_use() {
        let q = |s: &'static str| {
            Query::parse(s.split('&').filter(|p| !p.is_empty()).map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (Cow::Borrowed(k), Cow::Borrowed(v))
            }))
        };
        assert_eq!(q("").unwrap().page_size, 100);
        let got = q("actor=ada&action=stack.delete&startTime=10&endTime=20&pageSize=5&continuationToken=42").unwrap();
        assert_eq!(got, Query {
            actor: Some("ada".into()), action: Some("stack.delete".into()), since: Some(10_000), until: Some(20_000),
            before_id: Some(42), page_size: 5,
        });
        assert!(q("pageSize=0").unwrap_err().message.contains("pageSize"));
        assert!(q("pageSize=501").is_err());
        assert!(q("startTime=yesterday").unwrap_err().message.contains("startTime"));
    }

    #[test]
    fn retention_is_a_year_unless_set() {
        assert_eq!(retention_days(None), Ok(365));
        assert_eq!(retention_days(Some("30")), Ok(30));
        assert!(retention_days(Some("0")).is_err());
        assert!(retention_days(Some("forever")).is_err());
    }
}
