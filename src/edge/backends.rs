//! The update engine's stores on Workers, for one request of the stack's lease object: its Durable Object storage
//! (the lease record in key-value storage, the journal in its SQLite storage), R2 (`checkpoints.rs`) and D1
//! (`ledger.rs`).

use crate::engine::store::{split_parts, JournalStats, JournalStore, LeaseStore, StoreError, StoreResult, StoredEntry};
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

    /// Creates the journal tables (once per object life; `IF NOT EXISTS` makes it cheap): the entries, in parts,
    /// and per update how many entries and bytes it stored.
    pub fn migrate(state: &State) -> worker::Result<()> {
        let sql = state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS journal (
                update_id TEXT NOT NULL, seq INTEGER NOT NULL, part INTEGER NOT NULL,
                sha256 TEXT NOT NULL, body TEXT NOT NULL,
                PRIMARY KEY (update_id, seq, part))",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS journal_stats (
                update_id TEXT PRIMARY KEY, entries INTEGER NOT NULL, bytes INTEGER NOT NULL)",
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
        // Both issued before either is awaited, so the object commits them as one write.
        let put = self.storage.put(LEASE_KEY, state);
        let alarm = async {
            match alarm_at {
                Some(at) => {
                    let when = worker::js_sys::Date::new(&worker::js_sys::Number::from(at as f64));
                    self.storage.set_alarm(ScheduledTime::new(when)).await
                }
                None => self.storage.delete_alarm().await,
            }
        };
        let (put, alarm) = futures_util::future::join(put, alarm).await;
        put.map_err(|e| store_error("lease", e))?;
        alarm.map_err(|e| store_error("alarm", e))
    }

    async fn flush(&self) -> StoreResult<()> {
        self.storage.sync().await.map_err(|e| store_error("sync", e))
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
        // An entry's first part is written last and only it carries the hash: an entry whose writes stopped half
        // way has no part 0, is neither "stored" for a retry nor read back, and the retry overwrites its parts.
        let mut bytes = 0i64;
        for e in entries {
            let parts = split_parts(&e.text, MAX_PART_BYTES);
            for (part, body) in parts.into_iter().enumerate().rev() {
                self.exec(
                    "INSERT OR REPLACE INTO journal (update_id, seq, part, sha256, body) VALUES (?, ?, ?, ?, ?)",
                    vec![update_id.into(), e.sequence_id.into(), (part as i64).into(), e.sha256.as_str().into(), body.into()],
                )?;
            }
            bytes += e.text.len() as i64;
        }
        self.exec(
            "INSERT INTO journal_stats (update_id, entries, bytes) VALUES (?, ?, ?)
             ON CONFLICT (update_id) DO UPDATE SET entries = entries + excluded.entries, bytes = bytes + excluded.bytes",
            vec![update_id.into(), (entries.len() as i64).into(), bytes.into()],
        )?;
        Ok(())
    }

    fn scan(&self, update_id: &str, visit: &mut dyn FnMut(StoredEntry) -> bool) -> StoreResult<()> {
        let cursor = self.exec(
            "SELECT seq, part, sha256, body FROM journal WHERE update_id = ? ORDER BY seq, part",
            vec![update_id.into()],
        )?;
        // Row by row: the journal is never in memory whole.
        let mut current: Option<(StoredEntry, i64)> = None;
        for row in cursor.next::<Part>() {
            let r = row.map_err(|e| store_error("journal", e))?;
            match &mut current {
                Some((entry, last)) if entry.sequence_id == r.seq && r.part == *last + 1 => {
                    entry.text.push_str(&r.body);
                    *last = r.part;
                    continue;
                }
                _ => {}
            }
            if let Some((done, _)) = current.take() {
                if !visit(done) {
                    return Ok(());
                }
            }
            if r.part == 0 {
                current = Some((StoredEntry { sequence_id: r.seq, sha256: r.sha256, text: r.body }, 0));
            }
        }
        if let Some((done, _)) = current {
            visit(done);
        }
        Ok(())
    }

    fn stats(&self, update_id: &str) -> StoreResult<JournalStats> {
        #[derive(Deserialize)]
        struct Row {
            entries: i64,
            bytes: i64,
        }
        let rows: Vec<Row> = self
            .exec("SELECT entries, bytes FROM journal_stats WHERE update_id = ?", vec![update_id.into()])?
            .to_array()
            .map_err(|e| store_error("journal", e))?;
        Ok(rows.first().map_or(JournalStats::default(), |r| JournalStats { entries: r.entries, bytes: r.bytes }))
    }

    fn clear(&self, keep: Option<&str>) -> StoreResult<()> {
        let keep: SqlStorageValue = keep.map_or(SqlStorageValue::Null, Into::into);
        self.exec("DELETE FROM journal WHERE ? IS NULL OR update_id != ?", vec![keep.clone(), keep.clone()])?;
        self.exec("DELETE FROM journal_stats WHERE ? IS NULL OR update_id != ?", vec![keep.clone(), keep])?;
        Ok(())
    }
}
