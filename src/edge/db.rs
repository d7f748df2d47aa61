//! D1 adapter: the stack rows. Every function is one statement (or one batch), so a request's storage cost
//! is visible here. D1 rows are limited to 1 MB: only small metadata lives in D1, checkpoints go to R2.

use crate::api::stacks::ListStacksQuery;
use crate::api::tags::Tags;
use crate::names::StackRef;
use crate::engine::lease::Base;
use crate::engine::store::{Checkpoint, Import, Started};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Result};

#[derive(Debug, Deserialize)]
pub struct StackRow {
    pub id: i64,
    pub org: String,
    pub project: String,
    pub name: String,
    pub tags: String,
    pub version: i64,
    pub resource_count: i64,
    pub active_update: Option<String>,
}

impl StackRow {
    /// The stored tag map; a row that somehow holds bad JSON reads as no tags rather than failing the request.
    pub fn tags(&self) -> Tags {
        serde_json::from_str(&self.tags).unwrap_or_default()
    }
}

const STACK_COLUMNS: &str = "id, org, project, name, tags, version, resource_count, active_update";

pub(super) fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

pub(super) fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

pub(super) fn int(v: i64) -> JsValue {
    // D1 binds JS numbers; every id and count here is far below 2^53.
    JsValue::from_f64(v as f64)
}

/// How many rows a statement changed (D1 reports it in the result's meta; a result without one changed none).
pub(super) fn changes(result: &worker::D1Result) -> Result<usize> {
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0))
}

pub fn now_secs() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}

pub async fn ping(db: &D1Database) -> Result<()> {
    db.prepare("SELECT 1 AS ok").first::<serde_json::Value>(None).await?;
    Ok(())
}

pub async fn get_stack(db: &D1Database, r: &StackRef) -> Result<Option<StackRow>> {
    get_stack_named(db, r.org.as_str(), r.project.as_str(), r.stack.as_str()).await
}

/// A stack by names as stored, valid or not (for removing stacks whose names are no longer accepted).
pub async fn get_stack_named(db: &D1Database, org: &str, project: &str, name: &str) -> Result<Option<StackRow>> {
    db.prepare(format!("SELECT {STACK_COLUMNS} FROM stacks WHERE org = ?1 AND project = ?2 AND name = ?3"))
        .bind(&[s(org), s(project), s(name)])?
        .first(None)
        .await
}

pub async fn project_exists(db: &D1Database, org: &str, project: &str) -> Result<bool> {
    let row = db
        .prepare("SELECT 1 AS found FROM stacks WHERE org = ?1 AND project = ?2 LIMIT 1")
        .bind(&[s(org), s(project)])?
        .first::<serde_json::Value>(None)
        .await?;
    Ok(row.is_some())
}

/// Inserts a stack; `None` when a stack of that name already exists.
pub async fn create_stack(db: &D1Database, r: &StackRef, tags: &Tags) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Id {
        id: i64,
    }
    let now = now_secs();
    let tags_json = serde_json::to_string(tags)?;
    let row = db
        .prepare(
            "INSERT INTO stacks (org, project, name, tags, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (org, project, name) DO NOTHING RETURNING id",
        )
        .bind(&[s(r.org.as_str()), s(r.project.as_str()), s(r.stack.as_str()), s(&tags_json), int(now)])?
        .first::<Id>(None)
        .await?;
    Ok(row.map(|r| r.id))
}

pub async fn delete_stack(db: &D1Database, id: i64) -> Result<()> {
    db.prepare("DELETE FROM stacks WHERE id = ?1").bind(&[int(id)])?.run().await?;
    Ok(())
}

/// Renames a stack in place (its id, history and checkpoints stay). `false` when the target name is taken.
pub async fn rename_stack(db: &D1Database, id: i64, org: &str, project: &str, name: &str) -> Result<bool> {
    let result = db
        .prepare(
            "UPDATE stacks SET project = ?2, name = ?3, updated_at = ?4 WHERE id = ?1
             AND NOT EXISTS (SELECT 1 FROM stacks WHERE org = ?5 AND project = ?2 AND name = ?3)",
        )
        .bind(&[int(id), s(project), s(name), int(now_secs()), s(org)])?
        .run()
        .await?;
    Ok(changes(&result)? > 0)
}

pub async fn replace_tags(db: &D1Database, id: i64, tags: &Tags) -> Result<()> {
    db.prepare("UPDATE stacks SET tags = ?2, updated_at = ?3 WHERE id = ?1")
        .bind(&[int(id), s(&serde_json::to_string(tags)?), int(now_secs())])?
        .run()
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct SummaryRow {
    pub id: i64,
    pub org: String,
    pub project: String,
    pub name: String,
    pub last_update: Option<i64>,
    pub resource_count: i64,
}

/// One page (plus one row, to tell whether another page follows) of the stacks in `orgs` matching `q`.
pub async fn list_stacks(db: &D1Database, orgs: &[&str], q: &ListStacksQuery) -> Result<Vec<SummaryRow>> {
    let orgs_json = serde_json::to_string(orgs)?;
    db.prepare(
        "SELECT id, org, project, name, last_update, resource_count FROM stacks
         WHERE org IN (SELECT value FROM json_each(?1))
           AND (?2 IS NULL OR project = ?2)
           AND (?3 IS NULL OR EXISTS (SELECT 1 FROM json_each(stacks.tags) AS t
                                      WHERE t.key = ?3 AND (?4 IS NULL OR t.value = ?4)))
           AND id > ?5
         ORDER BY id LIMIT ?6",
    )
    .bind(&[
        s(&orgs_json),
        opt(q.project.as_deref()),
        opt(q.tag_name.as_deref()),
        opt(q.tag_value.as_deref()),
        int(q.after_id.unwrap_or(0)),
        int(i64::from(q.page_size) + 1),
    ])?
    .all()
    .await?
    .results()
}

// ---- updates ----

#[derive(Debug, Deserialize)]
pub struct UpdateRow {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub version: Option<i64>,
    pub config: String,
    pub metadata: String,
    pub resource_changes: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub resource_count: Option<i64>,
    pub requested_by: Option<String>,
}

/// Update rows with their checkpoint's resource count and hash (one indexed join).
const UPDATE_ROWS: &str = "SELECT u.id, u.kind, u.status, u.version, u.config, u.metadata, u.resource_changes, \
     u.start_time, u.end_time, u.requested_by, c.resource_count \
     FROM updates u LEFT JOIN checkpoints c ON c.stack_id = u.stack_id AND c.version = u.version";

#[allow(clippy::too_many_arguments)]
pub async fn create_update(
    db: &D1Database,
    id: &str,
    stack_id: i64,
    kind: &str,
    program: &str,
    config: &str,
    metadata: &str,
    requested_by: &str,
) -> Result<()> {
    db.prepare(
        "INSERT INTO updates (id, stack_id, kind, status, program, config, metadata, created_at, requested_by)
         VALUES (?1, ?2, ?3, 'not-started', ?4, ?5, ?6, ?7, ?8)",
    )
    .bind(&[s(id), int(stack_id), s(kind), s(program), s(config), s(metadata), int(now_secs()), s(requested_by)])?
    .run()
    .await?;
    Ok(())
}

pub async fn get_update(db: &D1Database, stack_id: i64, id: &str) -> Result<Option<UpdateRow>> {
    db.prepare(format!("{UPDATE_ROWS} WHERE u.id = ?1 AND u.stack_id = ?2"))
        .bind(&[s(id), int(stack_id)])?
        .first(None)
        .await
}

/// Marks an update running (only from not-started) and gives it the next stack version (previews keep the current
/// one), reading in the same batch whether this call started it and the stack's latest checkpoint (its base).
pub async fn start_update(db: &D1Database, id: &str, stack_id: i64, bumps_version: bool, tags: Option<&str>) -> Result<Started> {
    #[derive(Deserialize)]
    struct Row {
        version: i64,
    }
    #[derive(Deserialize)]
    struct Latest {
        version: i64,
        r2_key: String,
        sha256: String,
        size_bytes: i64,
        resource_count: i64,
    }
    let now = int(now_secs());
    let bump = if bumps_version { 1 } else { 0 };
    let stmts = vec![
        db.prepare(
            "UPDATE stacks SET version = version + ?3, active_update = ?2, tags = COALESCE(?4, tags), updated_at = ?5
             WHERE id = ?1 AND EXISTS (SELECT 1 FROM updates WHERE id = ?2 AND stack_id = ?1 AND status = 'not-started')",
        )
        .bind(&[int(stack_id), s(id), int(bump), opt(tags), now.clone()])?,
        db.prepare(
            "UPDATE updates SET status = 'running', start_time = ?3,
                version = (SELECT version FROM stacks WHERE id = ?2)
             WHERE id = ?1 AND stack_id = ?2 AND status = 'not-started'",
        )
        .bind(&[s(id), int(stack_id), now])?,
        db.prepare("SELECT COALESCE(version, 0) AS version FROM updates WHERE id = ?1 AND stack_id = ?2")
            .bind(&[s(id), int(stack_id)])?,
        db.prepare(
            "SELECT version, r2_key, sha256, size_bytes, resource_count FROM checkpoints
             WHERE stack_id = ?1 ORDER BY version DESC LIMIT 1",
        )
            .bind(&[int(stack_id)])?,
    ];
    let results = db.batch(stmts).await?;
    let now_running = results.get(1).and_then(|r| changes(r).ok()).unwrap_or(0) > 0;
    let version = results.get(2).map(|r| r.results::<Row>()).transpose()?.and_then(|mut v| v.pop()).map_or(0, |r| r.version);
    let base = results
        .get(3)
        .map(|r| r.results::<Latest>())
        .transpose()?
        .and_then(|mut v| v.pop())
        .map(|l| Base {
            version: l.version,
            key: l.r2_key,
            sha256: l.sha256,
            size: l.size_bytes.max(0) as u64,
            resources: l.resource_count,
        });
    Ok(Started { now_running, version, base })
}

fn finish_statements(db: &D1Database, id: &str, stack_id: i64, status: &str) -> Result<Vec<D1PreparedStatement>> {
    let now = int(now_secs());
    Ok(vec![
        db.prepare(
            "UPDATE updates SET status = ?2, end_time = ?3 WHERE id = ?1 AND status IN ('not-started', 'running')",
        )
        .bind(&[s(id), s(status), now.clone()])?,
        db.prepare(
            "UPDATE stacks SET active_update = NULL, last_update = ?3
             WHERE active_update = ?1 AND (?2 < 0 OR id = ?2)",
        )
        .bind(&[s(id), int(stack_id), now])?,
    ])
}

/// Ends an update with `status` (only once) and frees its stack, pointing the stack's version at `cp` first: one
/// batch, so D1 never records an end without the state that update left.
pub async fn finish_update(db: &D1Database, id: &str, stack_id: i64, status: &str, cp: Option<&Checkpoint>) -> Result<()> {
    let mut stmts = match cp {
        Some(cp) => checkpoint_statements(db, stack_id, id, cp)?,
        None => Vec::new(),
    };
    stmts.extend(finish_statements(db, id, stack_id, status)?);
    db.batch(stmts).await?;
    Ok(())
}

pub async fn set_resource_changes(db: &D1Database, id: &str, changes: &str) -> Result<()> {
    db.prepare("UPDATE updates SET resource_changes = ?2 WHERE id = ?1").bind(&[s(id), s(changes)])?.run().await?;
    Ok(())
}

/// Engine events of an update after sequence `after`, in order, at most `limit` (each row is one event's JSON).
pub async fn events(db: &D1Database, update_id: &str, after: i64, limit: i64) -> Result<Vec<(i64, String)>> {
    #[derive(Deserialize)]
    struct Row {
        sequence: i64,
        body: String,
    }
    let rows: Vec<Row> = db
        .prepare("SELECT sequence, body FROM events WHERE update_id = ?1 AND sequence > ?2 ORDER BY sequence LIMIT ?3")
        .bind(&[s(update_id), int(after), int(limit)])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(|r| (r.sequence, r.body)).collect())
}

/// Stores engine events by sequence, one statement per piece (each a JSON array under D1's 1 MB limit) in one
/// batch; a retried batch inserts nothing twice.
pub async fn insert_events(db: &D1Database, update_id: &str, pieces: &[String]) -> Result<()> {
    let stmts = pieces
        .iter()
        .map(|p| {
            db.prepare(
                "INSERT OR IGNORE INTO events (update_id, sequence, body)
                 SELECT ?1, json_extract(value, '$.sequence'), value FROM json_each(?2)",
            )
            .bind(&[s(update_id), s(p)])
        })
        .collect::<Result<Vec<_>>>()?;
    if !stmts.is_empty() {
        db.batch(stmts).await?;
    }
    Ok(())
}

fn checkpoint_statements(db: &D1Database, stack_id: i64, update_id: &str, cp: &Checkpoint) -> Result<Vec<D1PreparedStatement>> {
    let count = cp.resources.map_or(JsValue::NULL, int);
    Ok(vec![
        db.prepare(
            "INSERT INTO checkpoints (stack_id, version, update_id, r2_key, sha256, size_bytes, resource_count, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, COALESCE(?7, 0), ?8)
             ON CONFLICT (stack_id, version) DO UPDATE SET update_id = ?3, r2_key = ?4, sha256 = ?5,
                size_bytes = ?6, resource_count = COALESCE(?7, resource_count), created_at = ?8",
        )
        .bind(&[
            int(stack_id),
            int(cp.version),
            s(update_id),
            s(&cp.key),
            s(&cp.sha256),
            int(cp.size as i64),
            count.clone(),
            int(now_secs()),
        ])?,
        db.prepare("UPDATE stacks SET resource_count = COALESCE(?2, resource_count) WHERE id = ?1")
            .bind(&[int(stack_id), count])?,
    ])
}

/// Points the stack's `version` at a stored checkpoint object (written to R2 first). Its resource count is known
/// when an update ends (counted once, not on every upload); then the stack's count follows it.
pub async fn save_checkpoint(db: &D1Database, stack_id: i64, update_id: &str, cp: &Checkpoint) -> Result<()> {
    db.batch(checkpoint_statements(db, stack_id, update_id, cp)?).await?;
    Ok(())
}

/// The stack's current version.
pub async fn stack_version(db: &D1Database, stack_id: i64) -> Result<Option<i64>> {
    #[derive(Deserialize)]
    struct Row {
        version: i64,
    }
    let row: Option<Row> = db.prepare("SELECT version FROM stacks WHERE id = ?1").bind(&[int(stack_id)])?.first(None).await?;
    Ok(row.map(|r| r.version))
}

/// Records a `pulumi stack import` in one batch: a finished `import` update at the checkpoint's version, the
/// checkpoint, and the stack's version and counts.
pub async fn record_import(db: &D1Database, stack_id: i64, import: &Import) -> Result<()> {
    let cp = &import.checkpoint;
    let now = int(now_secs());
    let mut stmts = vec![db
        .prepare(
            "INSERT INTO updates (id, stack_id, kind, status, version, created_at, start_time, end_time, requested_by)
             VALUES (?1, ?2, 'import', 'succeeded', ?3, ?4, ?4, ?4, ?5)",
        )
        .bind(&[s(&import.update_id), int(stack_id), int(cp.version), now.clone(), s(&import.requested_by)])?];
    stmts.extend(checkpoint_statements(db, stack_id, &import.update_id, cp)?);
    stmts.push(
        db.prepare("UPDATE stacks SET version = ?2, last_update = ?3, updated_at = ?3 WHERE id = ?1")
            .bind(&[int(stack_id), int(cp.version), now])?,
    );
    db.batch(stmts).await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub struct CheckpointRow {
    pub r2_key: String,
}

/// The checkpoint at `version`, or the latest one.
pub async fn checkpoint(db: &D1Database, stack_id: i64, version: Option<i64>) -> Result<Option<CheckpointRow>> {
    db.prepare(
        "SELECT r2_key FROM checkpoints WHERE stack_id = ?1 AND (?2 IS NULL OR version = ?2)
         ORDER BY version DESC LIMIT 1",
    )
    .bind(&[int(stack_id), version.map_or(JsValue::NULL, int)])?
    .first(None)
    .await
}

/// Finished and running updates that produced a version, newest first (previews are not history).
pub async fn history(db: &D1Database, stack_id: i64, page_size: i64, page: i64) -> Result<Vec<UpdateRow>> {
    db.prepare(format!(
        "{UPDATE_ROWS} WHERE u.stack_id = ?1 AND u.kind != 'preview' AND u.version IS NOT NULL
         ORDER BY u.version DESC LIMIT ?2 OFFSET ?3"
    ))
    .bind(&[int(stack_id), int(page_size), int(page_size * (page - 1))])?
    .all()
    .await?
    .results()
}

pub async fn update_by_version(db: &D1Database, stack_id: i64, version: Option<i64>) -> Result<Option<UpdateRow>> {
    db.prepare(format!(
        "{UPDATE_ROWS} WHERE u.stack_id = ?1 AND u.kind != 'preview'
           AND u.version IS NOT NULL AND (?2 IS NULL OR u.version = ?2)
         ORDER BY u.version DESC LIMIT 1"
    ))
    .bind(&[int(stack_id), version.map_or(JsValue::NULL, int)])?
    .first(None)
    .await
}

// ---- descope mode: org slugs owned by tenants ----

/// The stored bindings that mention any of `tenants` or `slugs`.
pub async fn org_bindings(db: &D1Database, tenants: &[&str], slugs: &[&str]) -> Result<Vec<crate::auth::descope::orgs::Binding>> {
    #[derive(Deserialize)]
    struct Row {
        slug: String,
        tenant_id: String,
    }
    let rows: Vec<Row> = db
        .prepare(
            "SELECT slug, tenant_id FROM org_tenants
             WHERE tenant_id IN (SELECT value FROM json_each(?1)) OR slug IN (SELECT value FROM json_each(?2))",
        )
        .bind(&[s(&serde_json::to_string(tenants)?), s(&serde_json::to_string(slugs)?)])?
        .all()
        .await?
        .results()?;
    Ok(rows.into_iter().map(|r| crate::auth::descope::orgs::Binding { slug: r.slug, tenant: r.tenant_id }).collect())
}

/// Stores new bindings and takes over reserved slugs; one that lost a race to another tenant (or slug) is ignored,
/// and the caller reads again.
pub async fn add_org_bindings(
    db: &D1Database,
    new: &[crate::auth::descope::orgs::Binding],
    taken_over: &[crate::auth::descope::orgs::Binding],
) -> Result<()> {
    use crate::auth::descope::orgs::RESERVED_PREFIX;
    let now = int(now_secs());
    let mut stmts = Vec::with_capacity(new.len() + taken_over.len());
    for b in new {
        stmts.push(
            db.prepare("INSERT OR IGNORE INTO org_tenants (slug, tenant_id, created_at) VALUES (?1, ?2, ?3)")
                .bind(&[s(&b.slug), s(&b.tenant), now.clone()])?,
        );
    }
    for b in taken_over {
        // Only a row still reserved changes hands; OR IGNORE leaves it if the tenant got another slug meanwhile.
        stmts.push(
            db.prepare("UPDATE OR IGNORE org_tenants SET tenant_id = ?2, created_at = ?3 WHERE slug = ?1 AND tenant_id = ?4")
                .bind(&[s(&b.slug), s(&b.tenant), now.clone(), s(&format!("{RESERVED_PREFIX}{}", b.slug))])?,
        );
    }
    db.batch(stmts).await?;
    Ok(())
}
