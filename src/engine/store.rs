//! The storage the update engine runs on, as four small traits. In production the stack's Durable Object storage
//! holds the lease record (key-value) and the journal (its SQLite), R2 holds checkpoint objects, and D1 is the
//! ledger of stacks and updates (`src/edge/`); the native tests use in-memory fakes (`memory.rs`).
//!
//! Every method is one storage round trip (or one atomic batch), so the cost of an engine step is visible here.

// Futures here are awaited on one thread (a Durable Object, or a test): they need not be `Send`.
#![allow(async_fn_in_trait)]

use super::lease::{Base, LeaseState};
use crate::error::ApiError;
use std::fmt;

/// A storage failure (unreachable, timed out, refused). The client sees a 503 and retries; the detail is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        // A storage failure is never the client's fault: a 5xx, so the CLI retries (a 4xx would end its update).
        let mut err = ApiError::new(503, "storage is unavailable; try again");
        err.retry_after = Some(1);
        err.detail = Some(e.0);
        err
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The lease record of one stack (Durable Object storage; a few hundred bytes, far under its 2 MB values).
pub trait LeaseStore {
    async fn load_lease(&self) -> StoreResult<Option<LeaseState>>;
    /// Stores the record and sets the alarm to `alarm_at` (ms since the epoch), or clears it.
    async fn save_lease(&self, state: &LeaseState, alarm_at: Option<i64>) -> StoreResult<()>;
    /// Waits until what was saved is on disk (before work that could kill the object).
    async fn flush(&self) -> StoreResult<()>;
}

/// A journal entry as stored: its sequence ID, the hash of its text, and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub sequence_id: i64,
    pub sha256: String,
    pub text: String,
}

/// How much journal an update has stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    pub entries: i64,
    pub bytes: i64,
}

/// The journal of the running update (the Durable Object's SQLite storage: one row per entry, keyed by update and
/// sequence ID). Every stored entry is complete: one written in parts counts only once its last write landed.
pub trait JournalStore {
    /// The hashes of the entries of `update_id` already stored among `sequence_ids`.
    fn stored_hashes(&self, update_id: &str, sequence_ids: &[i64]) -> StoreResult<Vec<(i64, String)>>;
    /// Stores entries none of which is stored yet, and counts them in the update's [`JournalStats`].
    fn append(&self, update_id: &str, entries: &[StoredEntry]) -> StoreResult<()>;
    /// Visits the entries of `update_id` in sequence order, one at a time (a journal is never read whole into
    /// memory), until `visit` returns false.
    fn scan(&self, update_id: &str, visit: &mut dyn FnMut(StoredEntry) -> bool) -> StoreResult<()>;
    fn stats(&self, update_id: &str) -> StoreResult<JournalStats>;
    /// Removes the entries of every update but `keep` (all of them when `None`).
    fn clear(&self, keep: Option<&str>) -> StoreResult<()>;
}

/// Checkpoint objects (R2), one per stack version.
pub trait ObjectStore {
    async fn get_object(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn put_object(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()>;
    /// Removes every object under `prefix`.
    async fn delete_objects(&self, prefix: &str) -> StoreResult<()>;
}

/// What marking an update started found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// Whether this call moved the update from not-started to running (false: it was started before, or ended).
    pub now_running: bool,
    /// The stack version the update writes (the current one for a preview).
    pub version: i64,
    /// The stack's latest checkpoint when the update started: its base.
    pub base: Option<Base>,
}

/// A checkpoint object D1 should point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub version: i64,
    pub key: String,
    pub sha256: String,
    pub size: u64,
    /// Counted once, when the update ends.
    pub resources: Option<i64>,
}

/// An update's row as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateStatus {
    pub status: String,
}

/// An import recorded in one step: a finished `import` update with its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub update_id: String,
    pub requested_by: String,
    pub checkpoint: Checkpoint,
}

/// The ledger of stacks and updates (D1; rows up to 1 MB, so only metadata lives there).
pub trait Ledger {
    /// Marks `update_id` running (at most once) and gives it the next stack version unless `bumps_version` is false.
    async fn start_update(&self, update_id: &str, stack_id: i64, bumps_version: bool, tags: Option<&str>)
        -> StoreResult<Started>;
    /// Points the stack's version at a stored object (written to R2 first).
    async fn save_checkpoint(&self, stack_id: i64, update_id: &str, cp: &Checkpoint) -> StoreResult<()>;
    /// Ends an update with `status` (once) and frees the stack, pointing at `cp` first when given: one batch.
    async fn finish_update(&self, stack_id: i64, update_id: &str, status: &str, cp: Option<&Checkpoint>)
        -> StoreResult<()>;
    async fn update_status(&self, stack_id: i64, update_id: &str) -> StoreResult<Option<UpdateStatus>>;
    /// The stack's current version (the next import writes the one after).
    async fn stack_version(&self, stack_id: i64) -> StoreResult<Option<i64>>;
    /// Records an import as a finished update at `version` with its checkpoint, all at once.
    async fn record_import(&self, stack_id: i64, import: &Import) -> StoreResult<()>;
    /// Renames a stack; `false` when the new name is taken.
    async fn rename_stack(&self, stack_id: i64, org: &str, project: &str, name: &str) -> StoreResult<bool>;
    async fn delete_stack(&self, stack_id: i64) -> StoreResult<()>;
}

/// Everything the engine runs on.
pub trait Stores: LeaseStore + JournalStore + ObjectStore + Ledger {}
impl<T: LeaseStore + JournalStore + ObjectStore + Ledger> Stores for T {}

/// The R2 key of a stack version's checkpoint, under the immutable stack id so renames move nothing.
pub fn checkpoint_key(stack_id: i64, version: i64) -> String {
    format!("stacks/{stack_id}/checkpoints/{version}.json")
}

/// Where the raw journal of an update whose state could not be built is kept.
pub fn journal_key(stack_id: i64, update_id: &str) -> String {
    format!("stacks/{stack_id}/journals/{update_id}.json")
}

/// The prefix of every object of a stack.
pub fn stack_prefix(stack_id: i64) -> String {
    format!("stacks/{stack_id}/")
}

/// Splits a text into parts of at most `max` bytes, on character boundaries (storage with a value size limit).
pub fn split_parts(text: &str, max: usize) -> Vec<&str> {
    let max = max.max(4);
    let mut out = Vec::with_capacity(text.len() / max + 1);
    let mut rest = text;
    while rest.len() > max {
        let mut at = max;
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        let (head, tail) = rest.split_at(at);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_rebuild_the_text_and_never_split_a_character() {
        let text = "aé€😀".repeat(1000);
        for max in [4, 5, 7, 1024] {
            let parts = split_parts(&text, max);
            assert!(parts.iter().all(|p| p.len() <= max && !p.is_empty()));
            assert_eq!(parts.concat(), text);
        }
        assert_eq!(split_parts("", 10), [""]);
    }
}
