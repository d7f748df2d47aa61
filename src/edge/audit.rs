//! The audit log in D1 (`crate::audit` decides what is recorded): entries are written after the answer is sent
//! (`waitUntil`), listed for org admins, and purged past retention by the daily Cron Trigger.

use super::db::{int, opt};
use super::http::{json, ApiResult};
use crate::audit::{Entry, Query};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::json as j;
use wasm_bindgen::JsValue;
use worker::{D1Database, Env, Response};

/// Writes entries in one batch. A failure is logged, never the caller's problem: the answer has gone.
pub async fn write(env: Env, entries: Vec<Entry>) {
    if let Err(e) = insert(&env, &entries).await {
        worker::console_error!("audit log: {} entries not written: {e}", entries.len());
    }
}

async fn insert(env: &Env, entries: &[Entry]) -> worker::Result<()> {
    let db = env.d1("DB")?;
    let stmts = entries
        .iter()
        .map(|e| {
            db.prepare(
                "INSERT INTO audit_log (time, org, actor, action, target, status, ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .bind(&[
                int(e.time),
                opt(e.org.as_deref()),
                opt(e.actor.as_deref()),
                JsValue::from_str(&e.action),
                opt(e.target.as_deref()),
                int(i64::from(e.status)),
                opt(e.ip.as_deref()),
            ])
        })
        .collect::<worker::Result<Vec<_>>>()?;
    db.batch(stmts).await?;
    Ok(())
}

#[derive(Deserialize)]
struct Row {
    id: i64,
    time: i64,
    org: Option<String>,
    actor: Option<String>,
    action: String,
    target: Option<String>,
    status: i64,
    ip: Option<String>,
}

/// `GET /api/orgs/{org}/auditlogs`: newest first, in Pulumi Cloud's shape (`auditLogEvents`, and a
/// `continuationToken` while there are more), plus each entry's target and status. Org admins only.
pub async fn list(db: &D1Database, caller: &Caller, org: &str, url: &worker::Url) -> ApiResult<Response> {
    if caller.role_in(org) != Some(Role::Admin) {
        return Err(ApiError::forbidden(format!("reading the audit log requires the admin role in organization '{org}'")));
    }
    let q = Query::parse(url.query_pairs())?;
    let rows: Vec<Row> = db
        .prepare(
            "SELECT id, time, org, actor, action, target, status, ip FROM audit_log
             WHERE org = ?1 AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR action = ?3)
               AND (?4 IS NULL OR time >= ?4) AND (?5 IS NULL OR time < ?5) AND (?6 IS NULL OR id < ?6)
             ORDER BY id DESC LIMIT ?7",
        )
        .bind(&[
            JsValue::from_str(org),
            opt(q.actor.as_deref()),
            opt(q.action.as_deref()),
            q.since.map_or(JsValue::NULL, int),
            q.until.map_or(JsValue::NULL, int),
            q.before_id.map_or(JsValue::NULL, int),
            int(q.page_size + 1),
        ])?
        .all()
        .await?
        .results()?;
    let more = rows.len() as i64 > q.page_size;
    let page = &rows[..rows.len().min(q.page_size as usize)];
    let events: Vec<_> = page
        .iter()
        .map(|r| {
            let who = r.actor.as_deref().unwrap_or("");
            j!({
                "id": r.id,
                "timestamp": r.time / 1000,
                "timeMs": r.time,
                "sourceIP": r.ip.as_deref().unwrap_or(""),
                "event": r.action,
                "description": format!("{} {} -> {}", r.action, r.target.as_deref().unwrap_or(""), r.status),
                "user": {"name": who, "githubLogin": who},
                "org": r.org,
                "target": r.target,
                "status": r.status,
                "authFailure": r.action == crate::audit::AUTH_FAILED,
            })
        })
        .collect();
    let mut body = j!({ "auditLogEvents": events });
    if more {
        if let Some(last) = page.last() {
            body["continuationToken"] = last.id.to_string().into();
        }
    }
    json(&body)
}

/// Records an update ended by its lease running out (the lease object's alarm: no request, so no caller). The
/// names come from the stack's row, in the same statement.
pub async fn expired(env: &Env, stack_id: i64, update_id: &str, now_ms: i64) {
    let result = async {
        env.d1("DB")?
            .prepare(
                "INSERT INTO audit_log (time, org, actor, action, target, status)
                 SELECT ?1, org, NULL, 'update.expired', org || '/' || project || '/' || name || '/update/' || ?2, 200
                 FROM stacks WHERE id = ?3",
            )
            .bind(&[int(now_ms), JsValue::from_str(update_id), int(stack_id)])?
            .run()
            .await?;
        Ok::<(), worker::Error>(())
    };
    if let Err(e) = result.await {
        worker::console_error!("audit log: the expiry of {update_id} not written: {e}");
    }
}

/// Removes entries older than `days` before `now_ms`; how many went.
pub async fn purge(db: &D1Database, days: i64, now_ms: i64) -> worker::Result<i64> {
    let cutoff = now_ms - days * 86_400_000;
    let result = db.prepare("DELETE FROM audit_log WHERE time < ?1").bind(&[int(cutoff)])?.run().await?;
    Ok(super::db::changes(&result)? as i64)
}
