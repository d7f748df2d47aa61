//! The update engine: one state machine per stack over its running update — the lease and its token, checkpoint
//! uploads, journal appends, materialization of the journal into a checkpoint, the end of the update — and the
//! stack changes that must not overlap one (import, rename, delete).
//!
//! It is plain Rust over four small storage traits ([`store`]) and is tested natively with in-memory fakes. The
//! stack's `StackLease` Durable Object (`src/edge/lease.rs`) only wires it to real storage: Durable Object storage
//! for the lease record and the journal, R2 for checkpoint objects, D1 for the ledger. Being one object per stack,
//! it is the single writer of that stack's update state; every change takes the engine's lock, because the object
//! lets other requests in while it awaits R2 or D1.
//!
//! Invariants:
//! - An object is written to R2 before D1 points at it; D1 records an update's end before its lease is released,
//!   so a failure leaves the lease in place for a retry (the CLI's, or the alarm's).
//! - A journaled update's entries are stored before its `journalentries` call answers, and are turned into its
//!   checkpoint on every ending: complete (any status), cancel, lease expiry.
//! - The base a journal indexes into is the checkpoint the stack had when the update started, fixed then.

mod clock;
#[cfg(any(test, feature = "faults"))]
pub mod faults;
mod finish;
pub mod lease;
pub mod store;
mod stack;
mod update;
mod uploads;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;

pub use lease::{busy, not_in_progress, Lease, LeaseState, DEFAULT_LEASE_MS};
pub use stack::ImportRequest;
pub use store::{checkpoint_key, StoreError, Stores};
pub use update::{AlarmOutcome, StartReply, StartRequest};

use crate::error::ApiError;
use futures_util::lock::{Mutex, MutexGuard};
use std::cell::RefCell;

/// When recording an abandoned update in D1 fails, the alarm tries again after this long.
pub const RETRY_FINISH_MS: i64 = 30_000;

/// Checkpoint texts up to this size stay in memory for the next delta (and replayed states for the next export);
/// larger ones are read back from R2, so an upload's copies (request, text, the copy R2 is handed) stay well inside
/// the isolate's 128 MB.
const MAX_TEXT_IN_MEMORY: usize = 8 << 20;

/// The most journal one update may store. The replay at its end holds the base, the states that survive and the
/// result (not the journal itself), inside the object's 128 MB; this bounds the work and the object's storage.
pub const MAX_JOURNAL_BYTES: i64 = 256 << 20;

/// The text of the running update's last checkpoint, kept so the next delta applies without reading R2.
struct Text {
    update_id: String,
    bytes: Vec<u8>,
}

/// What the engine keeps between calls. All of it can be lost at any time (the object is evicted): the lease
/// record is then loaded again, and a checkpoint text read back from R2.
#[derive(Default)]
struct Memory {
    state: Option<LeaseState>,
    text: Option<Text>,
    /// The last replay of the running update's journal: (update, entries it covers, text).
    replayed: Option<(String, i64, String)>,
}

/// One stack's update engine. The Durable Object owns one for as long as it lives.
pub struct Engine {
    memory: RefCell<Memory>,
    serial: Mutex<()>,
    journal_limit: i64,
}

impl Default for Engine {
    fn default() -> Self {
        Self { memory: RefCell::default(), serial: Mutex::new(()), journal_limit: MAX_JOURNAL_BYTES }
    }
}

impl Engine {
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine whose updates may store at most `bytes` of journal (for tests).
    #[cfg(test)]
    pub fn with_journal_limit(bytes: i64) -> Self {
        Self { journal_limit: bytes, ..Self::default() }
    }

    /// Drops what is kept in memory, as an eviction does (for tests).
    #[cfg(test)]
    pub fn forget(&self) {
        *self.memory.borrow_mut() = Memory::default();
    }

    async fn lock(&self) -> MutexGuard<'_, ()> {
        self.serial.lock().await
    }

    /// The lease record for a call that changes nothing and takes no lock: from memory, or read from storage
    /// without keeping it (only calls under the lock fill the memory, so it never runs ahead of storage).
    async fn peek(&self, s: &impl store::LeaseStore) -> Result<LeaseState, ApiError> {
        if let Some(state) = self.memory.borrow().state.clone() {
            return Ok(state);
        }
        Ok(s.load_lease().await?.unwrap_or_default())
    }

    /// The lease record, from memory or storage, for a call under the lock.
    async fn state(&self, s: &impl store::LeaseStore) -> Result<LeaseState, ApiError> {
        if let Some(state) = self.memory.borrow().state.clone() {
            return Ok(state);
        }
        let state = s.load_lease().await?.unwrap_or_default();
        self.memory.borrow_mut().state = Some(state.clone());
        Ok(state)
    }

    /// Stores the record, with the alarm at the lease's expiry (or `alarm_at` when given).
    async fn save(&self, s: &impl store::LeaseStore, state: &LeaseState, alarm_at: Option<i64>) -> Result<(), ApiError> {
        // Unknown until the write is confirmed: a failed write must not leave memory ahead of storage.
        self.memory.borrow_mut().state = None;
        let alarm = alarm_at.or_else(|| state.active.as_ref().map(|l| l.expires_at));
        s.save_lease(state, alarm).await?;
        self.memory.borrow_mut().state = Some(state.clone());
        Ok(())
    }

    fn stack_id(state: &LeaseState) -> Result<i64, ApiError> {
        state.stack_id.ok_or_else(|| ApiError::internal("the lease object does not know its stack"))
    }
}
