//! D1 adapter: the stack rows. Every function is one statement (or one batch), so a request's storage cost
//! is visible here. D1 rows are limited to 1 MB: only small metadata lives in D1, checkpoints go to R2.

use crate::api::stacks::ListStacksQuery;
use crate::api::tags::Tags;
use crate::names::{ProjectName, StackName, StackRef};
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::{D1Database, Result};

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

fn s(v: &str) -> JsValue {
    JsValue::from_str(v)
}

fn opt(v: Option<&str>) -> JsValue {
    v.map_or(JsValue::NULL, JsValue::from_str)
}

fn int(v: i64) -> JsValue {
    // D1 binds JS numbers; every id and count here is far below 2^53.
    JsValue::from_f64(v as f64)
}

pub fn now_secs() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}

pub async fn ping(db: &D1Database) -> Result<()> {
    db.prepare("SELECT 1 AS ok").first::<serde_json::Value>(None).await?;
    Ok(())
}

pub async fn get_stack(db: &D1Database, r: &StackRef) -> Result<Option<StackRow>> {
    db.prepare(format!("SELECT {STACK_COLUMNS} FROM stacks WHERE org = ?1 AND project = ?2 AND name = ?3"))
        .bind(&[s(r.org.as_str()), s(r.project.as_str()), s(r.stack.as_str())])?
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
pub async fn rename_stack(db: &D1Database, id: i64, org: &str, project: &ProjectName, name: &StackName) -> Result<bool> {
    let result = db
        .prepare(
            "UPDATE stacks SET project = ?2, name = ?3, updated_at = ?4 WHERE id = ?1
             AND NOT EXISTS (SELECT 1 FROM stacks WHERE org = ?5 AND project = ?2 AND name = ?3)",
        )
        .bind(&[int(id), s(project.as_str()), s(name.as_str()), int(now_secs()), s(org)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
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
