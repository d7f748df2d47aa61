//! Handlers for the caller's own view: `/api/user`, the default organization, and the stack list.

use super::db;
use super::http::{json, ApiResult};
use crate::api::stacks::{encode_token, ListStacksQuery, ListStacksResponse, StackSummary};
use crate::api::user::{DefaultOrganization, ServiceUser};
use crate::auth::Caller;
use crate::error::ApiError;
use worker::{D1Database, Response, Url};

pub fn get_user(caller: &Caller) -> ApiResult<Response> {
    json(&ServiceUser::of(caller))
}

pub fn default_org(caller: &Caller) -> ApiResult<Response> {
    let org = caller.default_org().ok_or_else(|| ApiError::not_found("you are not a member of any organization"))?;
    json(&DefaultOrganization { git_hub_login: org.to_owned(), messages: Vec::new() })
}

/// `GET /api/user/stacks`: only stacks of the caller's organizations, whatever the filter asks for.
pub async fn list_stacks(caller: &Caller, db: &D1Database, url: &Url) -> ApiResult<Response> {
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let q = ListStacksQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let orgs: Vec<&str> = caller
        .orgs
        .iter()
        .map(|o| o.org.as_str())
        .filter(|o| q.organization.as_deref().is_none_or(|want| want == *o))
        .collect();
    let mut rows = if orgs.is_empty() { Vec::new() } else { db::list_stacks(db, &orgs, &q).await? };
    let more = rows.len() > q.page_size as usize;
    rows.truncate(q.page_size as usize);
    let continuation_token = if more { rows.last().map(|r| encode_token(r.id)) } else { None };
    let stacks = rows
        .into_iter()
        .map(|r| StackSummary {
            id: r.id.to_string(),
            org_name: r.org,
            project_name: r.project,
            stack_name: r.name,
            last_update: r.last_update,
            resource_count: Some(r.resource_count),
        })
        .collect();
    json(&ListStacksResponse { stacks, continuation_token })
}
