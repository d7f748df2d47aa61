//! Handlers for one project or stack: create, read, delete, rename, tags.

use super::db::{self, StackRow};
use super::lease::{self, LeaseCall};
use super::http::{json, no_content, read_json, ApiResult};
use crate::api::stacks::{check_delete, CreateStackRequest, Stack, StackRenameRequest};
use crate::api::tags::{self, Tags};
use crate::error::ApiError;
use crate::names::{OrgName, ProjectName, StackName, StackRef};
use crate::routes::StackPath;
use worker::{D1Database, Env, Request, Response, Url};

fn stack_ref(p: &StackPath) -> ApiResult<StackRef> {
    StackRef::parse(&p.org, &p.project, &p.stack)
}

fn not_found(r: &StackRef) -> ApiError {
    ApiError::not_found(format!("stack '{r}' not found"))
}

async fn load(db: &D1Database, r: &StackRef) -> ApiResult<StackRow> {
    db::get_stack(db, r).await?.ok_or_else(|| not_found(r))
}

/// The stack a path names: 400 for a bad name, 404 when it does not exist.
pub async fn load_stack(db: &D1Database, p: &StackPath) -> ApiResult<StackRow> {
    load(db, &stack_ref(p)?).await
}

thread_local! {
    /// Stack ids by path, for the routes of a running update only (checkpoints, events, lease renewals: hundreds
    /// per `pulumi up`). It saves a D1 query per call and is safe even when stale: the stack's lease object
    /// checks the update id and token, which a renamed or recreated stack's object does not know.
    static LEASE_ROUTE_IDS: std::cell::RefCell<std::collections::HashMap<String, i64>> = Default::default();
}

fn lease_route_key(p: &StackPath) -> String {
    format!("{}/{}/{}", p.org, p.project, p.stack)
}

/// The id of the stack a lease-token route names, and whether it came from this isolate's memory (the caller
/// looks again, after [`forget_lease_route`], when the stack's lease object does not know the update).
///
/// # Errors
/// As [`load_stack`].
pub async fn lease_route_stack_id(db: &D1Database, p: &StackPath) -> ApiResult<(i64, bool)> {
    let key = lease_route_key(p);
    if let Some(id) = LEASE_ROUTE_IDS.with(|m| m.borrow().get(&key).copied()) {
        return Ok((id, true));
    }
    let id = load_stack(db, p).await?.id;
    LEASE_ROUTE_IDS.with(|m| super::memo::insert_bounded(&mut m.borrow_mut(), key, id));
    Ok((id, false))
}

/// Drops a remembered stack id (it may belong to a stack that was deleted and created again).
pub fn forget_lease_route(p: &StackPath) {
    let key = lease_route_key(p);
    LEASE_ROUTE_IDS.with(|m| m.borrow_mut().remove(&key));
}

/// `HEAD /api/stacks/{org}/{project}`: 200 while the project has a stack.
pub async fn project_exists(db: &D1Database, org: &str, project: &str) -> ApiResult<Response> {
    OrgName::parse(org)?;
    ProjectName::parse(project)?;
    if db::project_exists(db, org, project).await? {
        Ok(Response::empty()?)
    } else {
        Err(ApiError::not_found(format!("project '{org}/{project}' not found")))
    }
}

/// `POST /api/stacks/{org}/{project}`.
pub async fn create(db: &D1Database, org: &str, project: &str, req: &mut Request) -> ApiResult<Response> {
    let body: CreateStackRequest = read_json(req).await?;
    let r = StackRef::parse(org, project, &body.stack_name)?;
    if body.state.as_ref().is_some_and(|s| !s.is_null()) {
        return Err(ApiError::bad_request(
            "creating a stack with initial state is not supported: create it, then `pulumi stack import`",
        ));
    }
    let tags = body.tags.unwrap_or_default();
    tags::validate(&tags)?;
    match db::create_stack(db, &r, &tags).await? {
        Some(_) => json(&serde_json::json!({})),
        None => Err(ApiError::conflict(format!("stack '{r}' already exists"))),
    }
}

/// `GET /api/stacks/{org}/{project}/{stack}`.
pub async fn get(db: &D1Database, p: &StackPath) -> ApiResult<Response> {
    let row = load_stack(db, p).await?;
    json(&Stack {
        id: row.id.to_string(),
        tags: row.tags(),
        org_name: row.org,
        project_name: row.project,
        stack_name: row.name,
        active_update: row.active_update.unwrap_or_default(),
        version: row.version,
    })
}

/// `DELETE /api/stacks/{org}/{project}/{stack}[?force=true]`: through the stack's lease object, under its lock,
/// so a running (or expired but not yet settled) update is ended or refused before the rows and objects go.
pub async fn delete(env: &Env, db: &D1Database, p: &StackPath, url: &Url) -> ApiResult<Response> {
    let row = load(db, &stack_ref(p)?).await?;
    delete_row(env, &row, url).await?;
    forget_lease_route(p);
    no_content()
}

/// Deletes a loaded stack (`?force=true` or `1` for one that still has resources) through its lease object.
async fn delete_row(env: &Env, row: &StackRow, url: &Url) -> ApiResult<()> {
    let force = url.query_pairs().any(|(k, v)| k == "force" && (v == "true" || v == "1"));
    check_delete(row.resource_count, force)?;
    lease::call(env, row.id, &LeaseCall::Delete { stack_id: row.id, force }).await?;
    Ok(())
}

/// `DELETE /api/admin/{org}/misnamed-stacks?project=&stack=[&force=true]`: the way out for a stack created
/// before names made only of periods were refused. Only such a stack qualifies; it goes like any other delete.
pub async fn delete_misnamed(env: &Env, db: &D1Database, org: &str, url: &Url) -> ApiResult<Response> {
    let query = |key: &str| url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned()).unwrap_or_default();
    let (project, stack) = (query("project"), query("stack"));
    if !crate::names::is_misnamed(&project) && !crate::names::is_misnamed(&stack) {
        return Err(ApiError::bad_request(
            "only a stack whose project or stack name is made only of periods is removed here; \
             use DELETE /api/stacks/{org}/{project}/{stack} for any other",
        ));
    }
    let row = db::get_stack_named(db, org, &project, &stack)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("stack '{org}/{project}/{stack}' not found")))?;
    delete_row(env, &row, url).await?;
    no_content()
}

/// `POST .../{stack}/rename` `{newName, newProject}`: within the organization, to a free name, and never under a
/// running update (its CLI would lose the stack).
pub async fn rename(env: &Env, db: &D1Database, p: &StackPath, req: &mut Request) -> ApiResult<Response> {
    let r = stack_ref(p)?;
    let body: StackRenameRequest = read_json(req).await?;
    if body.new_name.is_empty() && body.new_project.is_empty() {
        return Err(ApiError::bad_request("rename needs newName or newProject"));
    }
    let name = if body.new_name.is_empty() { r.stack.clone() } else { StackName::parse(&body.new_name)? };
    let project = if body.new_project.is_empty() { r.project.clone() } else { ProjectName::parse(&body.new_project)? };
    let target = StackRef { org: r.org.clone(), project, stack: name };
    let row = load(db, &r).await?;
    if target == r {
        return no_content();
    }
    let call = LeaseCall::Rename {
        stack_id: row.id,
        org: target.org.as_str().into(),
        project: target.project.as_str().into(),
        name: target.stack.as_str().into(),
    };
    lease::call(env, row.id, &call).await?;
    forget_lease_route(p);
    no_content()
}

/// `PATCH .../{stack}/tags`: the body is the whole new map (replace, not merge).
pub async fn replace_tags(db: &D1Database, p: &StackPath, req: &mut Request) -> ApiResult<Response> {
    let tags: Tags = read_json(req).await?;
    tags::validate(&tags)?;
    let row = load_stack(db, p).await?;
    db::replace_tags(db, row.id, &tags).await?;
    no_content()
}
