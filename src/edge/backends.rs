//! The update engine's stores on Workers, for one request of the stack's lease object: its Durable Object storage
//! (the lease record in key-value storage, the journal in its SQLite storage), R2 (`checkpoints.rs`) and D1
//! (`ledger.rs`).

use crate::engine::store::{split_parts, JournalStore, LeaseStore, StoreError, StoreResult, StoredEntry};
use crate::engine::LeaseState;
use serde::Deserialize;
use worker::{Env, ScheduledTime, SqlStorageValue, State, Storage};

const LEASE_KEY: &str = "lease";

/// Durable Object SQLite rows and values are limited to 2 MB: an entry larger than this (a 5 MB resource) is
/// stored in parts, and read back whole.
const MAX_PART_BYTES: usize = 1 << 20;

pub struct Backends {
    storage: Storage,
    pub env: Env,
}

pub fn store_error(what: &str, e: worker::Error) -> StoreError {
    StoreError(format!("{what}: {e}"))
}

impl Backends {
    pub fn new(state: &State, env: &Env) -> Self {
        Self { storage: state.storage(), env: env.clone() }
    }

    /// Creates the journal table (once per object life; `IF NOT EXISTS` makes it cheap).
    pub fn migrate(state: &State) -> worker::Result<()> {
        state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS journal (
                update_id TEXT NOT NULL, seq INTEGER NOT NULL, part INTEGER NOT NULL,
                sha256 TEXT NOT NULL, body TEXT NOT NULL,
                PRIMARY KEY (update_id, seq, part))",
            None,
        )?;
        Ok(())
    }

    fn exec(&self, query: &str, bindings: Vec<SqlStorageValue>) -> StoreResult<worker::SqlCursor> {
        self.storage.sql().exec(query, bindings).map_err(|e| store_error("journal", e))
    }
}

impl LeaseStore for Backends {
    async fn load_lease(&self) -> StoreResult<Option<LeaseState>> {
        self.storage.get::<LeaseState>(LEASE_KEY).await.map_err(|e| store_error("lease", e))
    }

    async fn save_lease(&self, state: &LeaseState, alarm_at: Option<i64>) -> StoreResult<()> {
        self.storage.put(LEASE_KEY, state).await.map_err(|e| store_error("lease", e))?;
        match alarm_at {
            Some(at) => {
                let when = worker::js_sys::Date::new(&worker::js_sys::Number::from(at as f64));
                self.storage.set_alarm(ScheduledTime::new(when)).await
            }
            None => self.storage.delete_alarm().await,
        }
        .map_err(|e| store_error("alarm", e))
    }
}

#[derive(Deserialize)]
struct Part {
    seq: i64,
    part: i64,
    sha256: String,
    body: String,
}

impl JournalStore for Backends {
    fn stored_hashes(&self, update_id: &str, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
        #[derive(Deserialize)]
        struct Row {
            seq: i64,
            sha256: String,
        }
        let ids = serde_json::to_string(ids).map_err(|e| StoreError(e.to_string()))?;
        let rows: Vec<Row> = self
            .exec(
                "SELECT seq, sha256 FROM journal WHERE update_id = ? AND part = 0
                 AND seq IN (SELECT value FROM json_each(?))",
                vec![update_id.into(), ids.into()],
            )?
            .to_array()
            .map_err(|e| store_error("journal", e))?;
        Ok(rows.into_iter().map(|r| (r.seq, r.sha256)).collect())
    }

    fn append(&self, update_id: &str, entries: &[StoredEntry]) -> StoreResult<()> {
        // One synchronous run of statements: the object commits it as one atomic write before its answer leaves.
        for e in entries {
            for (part, body) in split_parts(&e.text, MAX_PART_BYTES).into_iter().enumerate() {
                self.exec(
                    "INSERT INTO journal (update_id, seq, part, sha256, body) VALUES (?, ?, ?, ?, ?)",
                    vec![update_id.into(), e.sequence_id.into(), (part as i64).into(), e.sha256.as_str().into(), body.into()],
                )?;
            }
        }
        Ok(())
    }

    fn entries(&self, update_id: &str) -> StoreResult<Vec<StoredEntry>> {
        let rows: Vec<Part> = self
            .exec(
                "SELECT seq, part, sha256, body FROM journal WHERE update_id = ? ORDER BY seq, part",
                vec![update_id.into()],
            )?
            .to_array()
            .map_err(|e| store_error("journal", e))?;
        let mut out: Vec<StoredEntry> = Vec::new();
        for r in rows {
            match out.last_mut() {
                Some(last) if r.part > 0 && last.sequence_id == r.seq => last.text.push_str(&r.body),
                _ => out.push(StoredEntry { sequence_id: r.seq, sha256: r.sha256, text: r.body }),
            }
        }
        Ok(out)
    }

    fn has_entries(&self, update_id: &str) -> StoreResult<bool> {
        let rows: Vec<serde_json::Value> = self
            .exec("SELECT 1 AS found FROM journal WHERE update_id = ? LIMIT 1", vec![update_id.into()])?
            .to_array()
            .map_err(|e| store_error("journal", e))?;
        Ok(!rows.is_empty())
    }

    fn clear(&self, keep: Option<&str>) -> StoreResult<()> {
        let keep: SqlStorageValue = keep.map_or(SqlStorageValue::Null, Into::into);
        self.exec("DELETE FROM journal WHERE ? IS NULL OR update_id != ?", vec![keep.clone(), keep])?;
        Ok(())
    }
}
