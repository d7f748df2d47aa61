//! Handlers for updates: create, start, the lease-token execution routes (checkpoints, events, renew,
//! complete), cancel, status, export/import and history.

use super::checkpoints;
use super::db::{self, StackRow, UpdateRow};
use super::http::{json, no_content, read_body, read_json, ApiResult, MAX_JSON_BODY, MAX_LARGE_BODY};
use super::lease::{self, LeaseCall};
use super::stacks::{forget_lease_route, lease_route_stack_id, load_stack};
use crate::api::tags;
use crate::api::updates::*;
use crate::auth::Caller;
use crate::checkpoint::upload::UploadKind;
use crate::config::Config;
use crate::error::ApiError;
use crate::routes::{StackPath, UpdateKind, UpdateOp};
use serde_json::{json, Value};
use worker::{D1Database, Env, Request, Response, Url};

/// Update requests carry the program's config; they are stored in one D1 row, and D1 rows are limited to 1 MB.
const MAX_UPDATE_REQUEST: usize = 512 << 10;

async fn load_update(db: &D1Database, stack: &StackRow, id: &str) -> ApiResult<UpdateRow> {
    db::get_update(db, stack.id, id).await?.ok_or_else(|| ApiError::not_found(format!("update '{id}' not found")))
}

pub fn random_hex(bytes: usize) -> ApiResult<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::getrandom(&mut buf).map_err(|_| ApiError::internal("no randomness available"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// `POST .../{stack}/{kind}`.
pub async fn create(
    env: &Env,
    db: &D1Database,
    caller: &Caller,
    p: &StackPath,
    kind: UpdateKind,
    req: &mut Request,
) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let bytes = read_body(req, MAX_UPDATE_REQUEST).await?;
    let body: UpdateProgramRequest = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_json(&e))?;
    if lease::call(env, stack.id, &LeaseCall::Status).await?.lease.is_some() {
        return Err(crate::lease::busy());
    }
    // `pulumi up` previews through the `update` endpoint with `options.dryRun`; a dry run is a preview whatever
    // the path says: it takes no version and is not history.
    let dry_run = body.options.get("dryRun").and_then(Value::as_bool).unwrap_or(false);
    let kind = if dry_run { UpdateKind::Preview } else { kind };
    let id = random_hex(16)?;
    let program = json!({
        "name": body.name, "runtime": body.runtime, "main": body.main,
        "description": body.description, "options": body.options,
    });
    let metadata = serde_json::to_string(&body.metadata)?;
    let config = serde_json::to_string(&body.config)?;
    db::create_update(db, &id, stack.id, kind.as_str(), &program.to_string(), &config, &metadata, &caller.login).await?;
    json(&UpdateProgramResponse { update_id: id })
}

/// `POST .../update/{id}`: takes the stack's lease and issues the lease token.
pub async fn start(env: &Env, db: &D1Database, config: &Config, p: &StackPath, id: &str, req: &mut Request) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let update = load_update(db, &stack, id).await?;
    let body: StartUpdateRequest = read_json(req).await?;
    let tags_json = match &body.tags {
        Some(t) => {
            tags::validate(t)?;
            Some(serde_json::to_string(t)?)
        }
        None => None,
    };
    if !matches!(update.status.as_str(), "not-started" | "running") {
        return Err(ApiError::conflict(format!("update '{id}' has already ended ({})", update.status)));
    }
    let start = LeaseCall::Start {
        update_id: id.into(),
        token: random_hex(32)?,
        stack_id: stack.id,
        lease_ms: config.lease_ms,
        bumps_version: update.kind != "preview",
        tags: tags_json,
    };
    let lease = lease::call(env, stack.id, &start).await?.lease.ok_or_else(|| ApiError::internal("lease not granted"))?;
    // A preview takes no version of its own; the CLI expects the stack's current one.
    let version = if lease.version > 0 { lease.version } else { stack.version };
    json(&StartUpdateResponse { version, token: lease.token, token_expiration: lease.expires_at / 1000 })
}

/// `GET .../update/{id}`: the status the CLI polls (after an import, and before a cancel).
pub async fn status(db: &D1Database, p: &StackPath, id: &str) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let update = load_update(db, &stack, id).await?;
    let status = match update.status.as_str() {
        "not-started" => "not started",
        other => other,
    };
    json(&json!({ "status": status, "events": [] }))
}

/// Events per page of `GET .../update/{id}/events`: each is one D1 row of at most a few KB.
const EVENTS_PAGE: i64 = 500;

/// `GET .../update/{id}/events[?continuationToken=N]`: the update's engine events in order, for the dashboard.
pub async fn events(db: &D1Database, p: &StackPath, id: &str, url: &Url) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    load_update(db, &stack, id).await?;
    let after = match url.query_pairs().find(|(k, _)| k == "continuationToken") {
        Some((_, v)) => v.parse::<i64>().map_err(|_| ApiError::bad_request("invalid continuationToken"))?,
        None => -1,
    };
    let rows = db::events(db, id, after, EVENTS_PAGE).await?;
    let next = (rows.len() as i64 == EVENTS_PAGE).then(|| rows.last().map(|(seq, _)| seq.to_string())).flatten();
    let events: Vec<Value> = rows.iter().filter_map(|(_, body)| serde_json::from_str(body).ok()).collect();
    let mut out = json!({ "events": events });
    if let Some(n) = next {
        out["continuationToken"] = json!(n);
    }
    json(&out)
}

/// `POST .../update/{id}/cancel` (API token): frees the stack whatever the update's client is doing.
pub async fn cancel(env: &Env, db: &D1Database, p: &StackPath, id: &str) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let update = load_update(db, &stack, id).await?;
    // The lease object records the end of the update it held; one that never started is ended here.
    let held = lease::call(env, stack.id, &LeaseCall::Cancel { update_id: id.into() }).await?.lease;
    if held.is_none() && matches!(update.status.as_str(), "not-started" | "running") {
        db::finish_update(db, id, stack.id, "cancelled").await?;
    }
    no_content()
}

/// The execution routes, authenticated by the update's lease token against the stack's Durable Object.
#[allow(clippy::too_many_arguments)]
pub async fn execute(
    env: &Env,
    db: &D1Database,
    config: &Config,
    p: &StackPath,
    id: &str,
    op: UpdateOp,
    token: &str,
    req: &mut Request,
) -> ApiResult<Response> {
    let (mut stack_id, mut cached) = lease_route_stack_id(db, p).await.map_err(|_| crate::lease::not_in_progress())?;
    let large = !matches!(op, UpdateOp::RenewLease | UpdateOp::Complete);
    let known = known_lease(id, token);
    if large && !KNOWN_LEASES.with(|k| k.borrow().contains_key(&known)) {
        // A body of up to 48 MiB is inflated only for a token the lease object has accepted (once per isolate).
        let check = LeaseCall::Check { update_id: id.into(), token: token.into() };
        if let Err(e) = lease::call(env, stack_id, &check).await {
            stack_id = fresher_stack_id(db, p, stack_id, cached, e).await?;
            cached = false;
            lease::call(env, stack_id, &check).await?;
        }
        KNOWN_LEASES.with(|k| super::memo::insert_bounded(&mut k.borrow_mut(), known.clone(), ()));
    }
    let body = read_body(req, if large { MAX_LARGE_BODY } else { MAX_JSON_BODY }).await?;
    let result = match run(env, db, config, stack_id, id, op, token, &body).await {
        Err(e) if cached => match fresher_stack_id(db, p, stack_id, cached, e).await {
            Ok(fresh) => run(env, db, config, fresh, id, op, token, &body).await,
            Err(e) => Err(e),
        },
        other => other,
    };
    if matches!(&result, Err(e) if e.status == 401 || e.status == 403) {
        KNOWN_LEASES.with(|k| k.borrow_mut().remove(&known));
    }
    result
}

/// After the lease object refused a call (`refused`), the stack id the isolate remembered for this path may be
/// stale (the stack was deleted and created again): look it up again once. Returns the new id to retry with, or
/// the refusal when there is nothing fresher.
async fn fresher_stack_id(db: &D1Database, p: &StackPath, id: i64, cached: bool, refused: ApiError) -> ApiResult<i64> {
    if !cached || !(refused.status == 401 || refused.status == 403) {
        return Err(refused);
    }
    forget_lease_route(p);
    match lease_route_stack_id(db, p).await {
        Ok((fresh, _)) if fresh != id => Ok(fresh),
        _ => Err(refused),
    }
}

thread_local! {
    /// Lease tokens the lease object has accepted in this isolate (hashed), so large bodies are read only for them.
    /// Only a pre-check: the lease object checks every call itself.
    static KNOWN_LEASES: std::cell::RefCell<std::collections::HashMap<String, ()>> = Default::default();
}

fn known_lease(update_id: &str, token: &str) -> String {
    crate::checkpoint::delta::sha256_hex(format!("{update_id}\0{token}").as_bytes())
}

#[allow(clippy::too_many_arguments)]
async fn run(
    env: &Env,
    db: &D1Database,
    config: &Config,
    stack_id: i64,
    id: &str,
    op: UpdateOp,
    token: &str,
    body: &[u8],
) -> ApiResult<Response> {
    match op {
        UpdateOp::RenewLease => {
            let req: RenewLeaseRequest = serde_json::from_slice(body).map_err(|e| ApiError::bad_json(&e))?;
            let renew =
                LeaseCall::Renew { update_id: id.into(), token: token.into(), duration: req.duration, max_ms: config.lease_ms };
            let l = lease::call(env, stack_id, &renew).await?.lease.ok_or_else(crate::lease::not_in_progress)?;
            json(&RenewLeaseResponse { token: l.token, token_expiration: l.expires_at / 1000 })
        }
        UpdateOp::Complete => {
            let req: CompleteUpdateRequest = serde_json::from_slice(body).map_err(|e| ApiError::bad_json(&e))?;
            let status = match req.status.as_str() {
                s @ ("succeeded" | "failed" | "cancelled") => s,
                other => return Err(ApiError::bad_request(format!("unknown update status {other:?}"))),
            };
            let complete = LeaseCall::Complete { update_id: id.into(), token: token.into(), status: status.into() };
            if let Err(e) = lease::call(env, stack_id, &complete).await {
                // A retried complete after the first one went through is fine; anything else is not.
                let ended = db::get_update(db, stack_id, id).await?.is_some_and(|u| u.status == status);
                if e.status != 403 || !ended {
                    return Err(e);
                }
            }
            no_content()
        }
        UpdateOp::Events => {
            lease::call(env, stack_id, &LeaseCall::Check { update_id: id.into(), token: token.into() }).await?;
            let batch: EventBatch = serde_json::from_slice(body).map_err(|e| ApiError::bad_json(&e))?;
            if let Some(changes) = batch
                .events
                .iter()
                .rev()
                .find_map(|e| e.get("summaryEvent").and_then(|s| s.get("resourceChanges")))
            {
                db::set_resource_changes(db, id, &changes.to_string()).await?;
            }
            db::insert_events(db, id, &Value::Array(batch.events).to_string()).await?;
            no_content()
        }
        UpdateOp::Checkpoint | UpdateOp::CheckpointVerbatim | UpdateOp::CheckpointDelta => {
            let kind = match op {
                UpdateOp::Checkpoint => UploadKind::Full,
                UpdateOp::CheckpointVerbatim => UploadKind::Verbatim,
                _ => UploadKind::Delta,
            };
            lease::checkpoint(env, stack_id, id, token, kind, body).await?;
            no_content()
        }
        UpdateOp::Start | UpdateOp::Get | UpdateOp::Cancel | UpdateOp::ListEvents => {
            Err(ApiError::internal("not an execution route"))
        }
    }
}

/// `GET .../export[/{version}]`.
pub async fn export(env: &Env, db: &D1Database, p: &StackPath, version: Option<i64>) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let Some(cp) = db::checkpoint(db, stack.id, version).await? else {
        if let Some(v) = version {
            return Err(ApiError::not_found(format!("version {v} of stack '{}' not found", p.stack)));
        }
        return json(&json!({ "version": 3, "deployment": { "manifest": { "time": "0001-01-01T00:00:00Z",
            "magic": "", "version": "" } } }));
    };
    let text = checkpoints::get(&checkpoints::bucket(env)?, &cp.r2_key)
        .await?
        .ok_or_else(|| ApiError::internal("checkpoint object missing"))?;
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::from_bytes(text)?.with_headers(headers))
}

/// `POST .../import`: the deployment becomes the stack's next version, as a completed `import` update that goes
/// through the stack's lease like any other (so it cannot overlap a running update).
pub async fn import(
    env: &Env,
    db: &D1Database,
    config: &Config,
    caller: &Caller,
    p: &StackPath,
    req: &mut Request,
) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let bytes = read_body(req, MAX_LARGE_BODY).await?;
    crate::checkpoint::upload::validate_import(&bytes)?;
    let id = random_hex(16)?;
    db::create_update(db, &id, stack.id, "import", "{}", "{}", "{}", &caller.login).await?;
    let token = random_hex(32)?;
    let start = LeaseCall::Start {
        update_id: id.clone(),
        token: token.clone(),
        stack_id: stack.id,
        lease_ms: config.lease_ms,
        bumps_version: true,
        tags: None,
    };
    lease::call(env, stack.id, &start).await?;
    let saved = lease::checkpoint(env, stack.id, &id, &token, UploadKind::Import, &bytes).await;
    let status = if saved.is_ok() { "succeeded" } else { "failed" };
    lease::call(env, stack.id, &LeaseCall::Complete { update_id: id.clone(), token, status: status.into() }).await?;
    saved?;
    json(&json!({ "updateId": id }))
}

fn update_info(u: &UpdateRow) -> Value {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    let metadata = parse(&u.metadata);
    let mut info = json!({
        "updateID": u.id,
        "kind": u.kind,
        "startTime": u.start_time.unwrap_or(0),
        "endTime": u.end_time.unwrap_or(0),
        "message": metadata.get("message").cloned().unwrap_or(Value::String(String::new())),
        "environment": metadata.get("environment").filter(|e| e.is_object()).cloned().unwrap_or(json!({})),
        "config": parse(&u.config),
        "result": result_of(&u.status),
        "version": u.version.unwrap_or(0),
        "resourceChanges": parse(&u.resource_changes),
    });
    if let Some(n) = u.resource_count {
        info["resourceCount"] = json!(n);
    }
    if let Some(login) = &u.requested_by {
        info["requestedBy"] = json!({ "githubLogin": login, "name": login });
    }
    info
}

/// `GET .../updates?pageSize&page`: newest first.
pub async fn history(db: &D1Database, p: &StackPath, url: &Url) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let mut page_size = 100i64;
    let mut page = 1i64;
    for (k, v) in url.query_pairs() {
        let n = || v.parse::<i64>().ok().filter(|n| *n >= 1);
        match k.as_ref() {
            "pageSize" => page_size = n().filter(|n| *n <= 1000).ok_or_else(|| ApiError::bad_request("pageSize must be 1-1000"))?,
            "page" => page = n().ok_or_else(|| ApiError::bad_request("page must be a positive integer"))?,
            _ => {}
        }
    }
    let rows = db::history(db, stack.id, page_size, page).await?;
    json(&json!({ "updates": rows.iter().map(update_info).collect::<Vec<_>>() }))
}

/// `GET .../updates/latest` and `.../updates/{version}`.
pub async fn one_update(db: &D1Database, p: &StackPath, version: Option<i64>) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let row = db::update_by_version(db, stack.id, version)
        .await?
        .ok_or_else(|| ApiError::not_found("no update found"))?;
    json(&json!({ "info": update_info(&row), "version": row.version }))
}
