//! Stack bodies: `apitype.Stack`, `StackSummary`, `ListStacksResponse`, `CreateStackRequest`,
//! `StackRenameRequest`, and the query of `GET /api/user/stacks`.

use super::tags::Tags;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// `GET /api/stacks/{org}/{project}/{stack}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stack {
    pub id: String,
    pub org_name: String,
    pub project_name: String,
    pub stack_name: String,
    /// The running update's id, or empty.
    pub active_update: String,
    pub tags: Tags,
    pub version: i64,
}

/// One row of `GET /api/user/stacks`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackSummary {
    pub id: String,
    pub org_name: String,
    pub project_name: String,
    pub stack_name: String,
    /// Unix seconds of the last update, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_update: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_count: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListStacksResponse {
    pub stacks: Vec<StackSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
}

/// `POST /api/stacks/{org}/{project}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateStackRequest {
    pub stack_name: String,
    #[serde(default)]
    pub tags: Option<Tags>,
    /// Teams to grant access: a Pulumi Cloud feature without an equivalent here; accepted and ignored.
    #[serde(default)]
    pub teams: Option<Vec<String>>,
    /// An initial deployment to seed the stack with (`pulumi stack init --import`-style flows).
    #[serde(default)]
    pub state: Option<serde_json::Value>,
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// `POST /api/stacks/{org}/{project}/{stack}/rename`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackRenameRequest {
    #[serde(default)]
    pub new_name: String,
    #[serde(default)]
    pub new_project: String,
}

/// Entries per page of a listing (`GET /api/user/stacks`, the audit log) unless `pageSize` says otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 500;

/// A listing's `pageSize`: 1 to [`MAX_PAGE_SIZE`].
///
/// # Errors
/// 400 for anything else.
pub fn page_size(v: &str) -> Result<u32, ApiError> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
        .ok_or_else(|| ApiError::bad_request(format!("pageSize must be between 1 and {MAX_PAGE_SIZE}")))
}

/// The filters and position of `GET /api/user/stacks`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListStacksQuery {
    pub organization: Option<String>,
    pub project: Option<String>,
    pub tag_name: Option<String>,
    pub tag_value: Option<String>,
    /// Only stacks with an id greater than this (keyset pagination on the immutable stack id).
    pub after_id: Option<i64>,
    pub page_size: u32,
}

impl ListStacksQuery {
    /// Parses already-decoded query pairs.
    ///
    /// # Errors
    /// 400 for a malformed continuation token or page size, or a tag value without a tag name.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ApiError> {
        let mut q = Self { page_size: DEFAULT_PAGE_SIZE, ..Self::default() };
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        for (k, v) in pairs {
            match k {
                "organization" => q.organization = some(v),
                "project" => q.project = some(v),
                "tagName" => q.tag_name = some(v),
                "tagValue" => q.tag_value = some(v),
                "continuationToken" if !v.is_empty() => q.after_id = Some(decode_token(v)?),
                "pageSize" => q.page_size = page_size(v)?,
                _ => {}
            }
        }
        if q.tag_value.is_some() && q.tag_name.is_none() {
            return Err(ApiError::bad_request("tagValue needs tagName"));
        }
        Ok(q)
    }
}

/// The continuation token is the last stack id of the page, prefixed so other strings are clearly rejected.
pub fn encode_token(last_id: i64) -> String {
    format!("s{last_id}")
}

fn decode_token(s: &str) -> Result<i64, ApiError> {
    s.strip_prefix('s')
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::bad_request("invalid continuationToken"))
}

/// The exact message the CLI expects when deleting a stack that still has resources without `force`.
pub const STACK_HAS_RESOURCES: &str = "Bad Request: Stack still contains resources.";

/// Whether `DELETE` may remove a stack: only an empty stack, unless forced.
///
/// # Errors
/// 400 with [`STACK_HAS_RESOURCES`] when the stack has resources and `force` is not set.
pub fn check_delete(resource_count: i64, force: bool) -> Result<(), ApiError> {
    if resource_count > 0 && !force {
        return Err(ApiError::bad_request(STACK_HAS_RESOURCES));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_reads_filters_and_tokens() {
        let q = ListStacksQuery::parse([
            ("organization", "acme"),
            ("project", "web"),
            ("tagName", "env"),
            ("tagValue", "prod"),
            ("continuationToken", &encode_token(42)),
        ])
        .unwrap();
        assert_eq!(q.organization.as_deref(), Some("acme"));
        assert_eq!(q.tag_value.as_deref(), Some("prod"));
        assert_eq!(q.after_id, Some(42));
        assert_eq!(q.page_size, DEFAULT_PAGE_SIZE);
    }

    #[test]
    fn list_query_rejects_garbage() {
        for pairs in [
            vec![("continuationToken", "42")],
            vec![("continuationToken", "s-1")],
            vec![("continuationToken", "sabc")],
            vec![("pageSize", "0")],
            vec![("pageSize", "501")],
            vec![("tagValue", "x")],
        ] {
            assert_eq!(ListStacksQuery::parse(pairs.clone()).unwrap_err().status, 400, "{pairs:?}");
        }
    }

    #[test]
    fn delete_refuses_a_stack_with_resources_unless_forced() {
        assert!(check_delete(0, false).is_ok());
        assert!(check_delete(3, true).is_ok());
        let e = check_delete(3, false).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (400, "Bad Request: Stack still contains resources."));
    }

    #[test]
    fn create_request_reads_the_cli_body() {
        let r: CreateStackRequest =
            serde_json::from_str(r#"{"stackName":"dev","tags":{"pulumi:project":"web"},"teams":null}"#).unwrap();
        assert_eq!(r.stack_name, "dev");
        assert_eq!(r.tags.unwrap()["pulumi:project"], "web");
    }
}
