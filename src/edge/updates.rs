//! Handlers for updates: create, start, the lease-token execution routes (checkpoints, journal entries, events,
//! renew, complete), cancel, status, export/import and history. What changes update state is the stack's lease
//! object's (`lease.rs`, the engine in `crate::engine`); these handlers read requests and route them there.

use super::checkpoints;
use super::db::{self, StackRow, UpdateRow};
use super::http::{json, no_content, read_body, ApiResult, MAX_JSON_BODY, MAX_LARGE_BODY};
use super::lease::{self, LeaseCall, Upload};
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
    let body: UpdateProgramRequest = crate::body::json_object(&bytes)?;
    if lease::call(env, stack.id, &LeaseCall::Status).await?.lease.is_some() {
        return Err(crate::engine::busy());
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

/// `POST .../update/{id}`: takes the stack's lease and issues the lease token, offering journaling when the update
/// persists state and the CLI asks for it.
pub async fn start(env: &Env, db: &D1Database, config: &Config, p: &StackPath, id: &str, req: &mut Request) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let update = load_update(db, &stack, id).await?;
    let body: StartUpdateRequest = read_json_or_empty(req).await?;
    let tags_json = match &body.tags {
        Some(t) => {
            tags::validate(t)?;
            Some(serde_json::to_string(t)?)
        }
        None => None,
    };
    if update.status != "not-started" {
        return Err(crate::engine::lease::already_started(id));
    }
    let start = LeaseCall::Start {
        update_id: id.into(),
        token: random_hex(32)?,
        stack_id: stack.id,
        lease_ms: config.lease_ms,
        persists_state: update.kind != "preview",
        tags: tags_json,
        journal_version: body.journal_version,
        journaling: config.journaling,
        engine_version: cli_version(req),
    };
    let started = lease::call(env, stack.id, &start).await?;
    let lease = started.lease.ok_or_else(|| ApiError::internal("lease not granted"))?;
    json(&StartUpdateResponse {
        version: started.version,
        token: lease.token,
        token_expiration: lease.expires_at / 1000,
        journal_version: started.journal_version,
    })
}

/// The CLI's version from its `User-Agent` (`pulumi-cli/1 (v3.274.1; linux)`), for the manifests of the states
/// built from its journal; empty when it does not say.
fn cli_version(req: &Request) -> String {
    let ua = req.headers().get("user-agent").ok().flatten().unwrap_or_default();
    ua.split(['(', ';', ')'])
        .map(str::trim)
        .find(|part| part.starts_with('v') && part[1..].starts_with(|c: char| c.is_ascii_digit()))
        .filter(|v| v.len() <= 64)
        .unwrap_or_default()
        .to_owned()
}

/// A small JSON body that may be absent (`StartUpdate` without tags sends `{}` or nothing).
async fn read_json_or_empty<T: serde::de::DeserializeOwned + Default>(req: &mut Request) -> ApiResult<T> {
    match read_body(req, MAX_JSON_BODY).await {
        Err(e) if e.message == super::http::EMPTY_BODY => Ok(T::default()),
        Err(e) => Err(e),
        Ok(bytes) => crate::body::json_object(&bytes),
    }
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

/// `GET .../update/{id}/live`: the update's engine events as they reach the server, as server-sent events from the
/// stack's lease object (`lease::watch`), until the update ends. Authorized like any read of the stack, so a
/// viewer can watch and nobody outside the org can.
pub async fn live(env: &Env, db: &D1Database, p: &StackPath, id: &str) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    load_update(db, &stack, id).await?;
    lease::watch(env, stack.id, id).await
}

/// `POST .../update/{id}/cancel` (API token): frees the stack whatever the update's client is doing; the lease
/// object stores the update's state so far and records it cancelled.
pub async fn cancel(env: &Env, db: &D1Database, p: &StackPath, id: &str) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    load_update(db, &stack, id).await?;
    lease::call(env, stack.id, &LeaseCall::Cancel { stack_id: stack.id, update_id: id.into() }).await?;
    no_content()
}

/// The execution routes, authenticated by the update's lease token against the stack's lease object. The token is
/// checked before the body is read, the same way on every route: a junk token costs no body and learns nothing.
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
    let (mut stack_id, cached) = match lease_route_stack_id(db, p).await {
        Ok(found) => found,
        // No such stack (or a name that cannot be one): the same refusal as a wrong token, so the route tells
        // nobody which stacks exist. Anything else (D1 failing) stays a 5xx, which the CLI retries.
        Err(e) if matches!(e.status, 400 | 404) => return Err(crate::engine::not_in_progress()),
        Err(e) => return Err(e),
    };
    // Checked by the lease object once per isolate and lease (until it would expire); after that the object
    // still checks every call that changes state itself. A retried `complete` may come after the lease ended.
    let ended_ok = op == UpdateOp::Complete;
    let mut known = known_lease(stack_id, id, token);
    let now = super::memo::now_ms();
    let fresh = KNOWN_LEASES.with(|k| k.borrow().get(&known).is_some_and(|until| *until > now));
    if !fresh {
        let check = LeaseCall::Check { update_id: id.into(), token: token.into(), ended_ok };
        let checked = match lease::call(env, stack_id, &check).await {
            Ok(r) => r,
            Err(e) => {
                stack_id = fresher_stack_id(db, p, stack_id, cached, e).await?;
                known = known_lease(stack_id, id, token);
                lease::call(env, stack_id, &check).await?
            }
        };
        if let Some(l) = checked.lease {
            KNOWN_LEASES.with(|k| super::memo::insert_bounded(&mut k.borrow_mut(), known.clone(), l.expires_at));
        }
    }
    let cap = match op {
        UpdateOp::RenewLease | UpdateOp::Complete => MAX_JSON_BODY,
        UpdateOp::Events => MAX_EVENTS_BODY,
        UpdateOp::JournalEntries => config.journal_batch_max,
        _ => MAX_LARGE_BODY,
    };
    let body = read_body(req, cap).await?;
    let result = run(env, db, config, stack_id, id, op, token, body).await;
    let over = matches!(&result, Err(e) if e.status == 401 || e.status == 403) || (op == UpdateOp::Complete && result.is_ok());
    if over {
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
        Ok(_) => Err(refused),
        Err(e) if matches!(e.status, 400 | 404) => Err(refused),
        Err(e) => Err(e),
    }
}

thread_local! {
    /// Lease tokens the lease object has accepted in this isolate, hashed with their stack and update, with when
    /// their lease would expire: bodies are read only for them. Only a pre-check: every call that changes state
    /// is checked by the lease object itself (events, which only add to the dashboard's log, rely on it).
    static KNOWN_LEASES: std::cell::RefCell<std::collections::HashMap<String, i64>> = Default::default();
}

fn known_lease(stack_id: i64, update_id: &str, token: &str) -> String {
    crate::checkpoint::delta::sha256_hex(format!("{stack_id}\0{update_id}\0{token}").as_bytes())
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
    body: Vec<u8>,
) -> ApiResult<Response> {
    match op {
        UpdateOp::RenewLease => {
            let req: RenewLeaseRequest = crate::body::json_object(&body)?;
            let renew =
                LeaseCall::Renew { update_id: id.into(), token: token.into(), duration: req.duration, max_ms: config.lease_ms };
            let l = lease::call(env, stack_id, &renew).await?.lease.ok_or_else(crate::engine::not_in_progress)?;
            json(&RenewLeaseResponse { token: l.token, token_expiration: l.expires_at / 1000 })
        }
        UpdateOp::Complete => {
            let req: CompleteUpdateRequest = crate::body::json_object(&body)?;
            let status = match req.status.as_str() {
                s @ ("succeeded" | "failed" | "cancelled") => s,
                other => return Err(ApiError::bad_request(format!("unknown update status {other:?}"))),
            };
            let complete = LeaseCall::Complete { update_id: id.into(), token: token.into(), status: status.into() };
            lease::call(env, stack_id, &complete).await?;
            no_content()
        }
        UpdateOp::Events => {
            let events = prepare_events(&body)?;
            if let Some(changes) = &events.resource_changes {
                db::set_resource_changes(db, id, changes).await?;
            }
            db::insert_events(db, id, &events.pieces).await?;
            // Stored first: a watcher that misses this finds it in D1. Watching never fails the update.
            if let Err(e) = lease::publish(env, stack_id, id, &events.pieces).await {
                worker::console_warn!("live view: events of {id} not sent to watchers: {}", e.message);
            }
            no_content()
        }
        UpdateOp::JournalEntries => {
            lease::upload(env, stack_id, Upload::Journal { update_id: id, token }, &body).await?;
            no_content()
        }
        UpdateOp::Checkpoint | UpdateOp::CheckpointVerbatim | UpdateOp::CheckpointDelta => {
            let kind = match op {
                UpdateOp::Checkpoint => UploadKind::Full,
                UpdateOp::CheckpointVerbatim => UploadKind::Verbatim,
                _ => UploadKind::Delta,
            };
            lease::upload(env, stack_id, Upload::Checkpoint { update_id: id, token, kind }, &body).await?;
            no_content()
        }
        UpdateOp::Start | UpdateOp::Get | UpdateOp::Cancel | UpdateOp::ListEvents | UpdateOp::Live => {
            Err(ApiError::internal("not an execution route"))
        }
    }
}

/// `GET .../export[/{version}]`. While a journaled update runs, the latest state is its journal replayed over its
/// base by the stack's lease object; otherwise (and for an older version) the stored checkpoint.
pub async fn export(env: &Env, db: &D1Database, p: &StackPath, version: Option<i64>) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    let running = stack.active_update.is_some() && version.is_none_or(|v| v == stack.version);
    if running {
        if let Some(text) = lease::current(env, stack.id).await? {
            return Ok(Response::from_bytes(text)?.with_headers(headers));
        }
    }
    let Some(cp) = db::checkpoint(db, stack.id, version).await? else {
        if let Some(v) = version {
            return Err(ApiError::not_found(format!("version {v} of stack '{}' not found", p.stack)));
        }
        return Ok(Response::from_bytes(crate::api::updates::EMPTY_DEPLOYMENT.as_bytes().to_vec())?.with_headers(headers));
    };
    let text = checkpoints::get(&checkpoints::bucket(env)?, &cp.r2_key)
        .await?
        .ok_or_else(|| ApiError::internal("checkpoint object missing"))?;
    Ok(Response::from_bytes(text)?.with_headers(headers))
}

/// `POST .../import`: the deployment becomes the stack's next version, as a finished `import` update, in one call
/// to the stack's lease object (so it cannot overlap a running update, and leaves nothing half-done).
pub async fn import(env: &Env, db: &D1Database, caller: &Caller, p: &StackPath, req: &mut Request) -> ApiResult<Response> {
    let stack = load_stack(db, p).await?;
    let bytes = read_body(req, MAX_LARGE_BODY).await?;
    crate::checkpoint::upload::validate_import(&bytes)?;
    let id = random_hex(16)?;
    lease::upload(env, stack.id, Upload::Import { update_id: &id, requested_by: &caller.login }, &bytes).await?;
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
