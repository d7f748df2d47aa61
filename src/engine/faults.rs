//! The test build's fault switch: a wrapper over the engine's stores that makes one write to D1, R2 or the Durable
//! Object's own storage fail, or hang and then fail as a timed-out call does, at a named point of the update path.
//!
//! It exists only with the `faults` cargo feature (the e2e server's build) and in native tests; the release wasm
//! has none of it (`tests/e2e/test_faults.py` checks the built binary). A point is the engine step being served
//! (start, a checkpoint, a journal batch, complete, cancel, the lease alarm, import, stack delete), the store, and
//! whether the fault comes before the write (nothing written) or after it (written, but the caller is told it
//! failed: the answer that was lost). Only writes are faulted: they are where a lost or doubled effect could hide.

use super::lease::LeaseState;
use super::store::*;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Start,
    Checkpoint,
    Journal,
    Complete,
    Cancel,
    Alarm,
    Import,
    Delete,
    /// Calls that are not a fault point (renew, rename, reads).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Store {
    D1,
    R2,
    /// The Durable Object's own storage: the lease record and the journal.
    Do,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Before,
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Fail,
    /// Waits `hang_ms`, then fails as a call the platform gave up on. The journal's SQLite calls are synchronous
    /// and cannot wait: for them a hang is a failure.
    Hang,
}

/// Which writes to fault: the `skip` first matching writes pass, then the next `times` fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultPlan {
    pub step: Step,
    pub store: Store,
    pub phase: Phase,
    pub kind: Kind,
    #[serde(default)]
    pub skip: u32,
    #[serde(default = "one")]
    pub times: u32,
    #[serde(default = "hang_ms")]
    pub hang_ms: u64,
}

fn one() -> u32 {
    1
}

fn hang_ms() -> u64 {
    3_000
}

/// One stack's plan and what it did, kept by its lease object across calls.
#[derive(Default)]
pub struct Faults {
    plan: RefCell<Option<FaultPlan>>,
    seen: Cell<u32>,
    fired: RefCell<Vec<String>>,
}

impl Faults {
    /// Arms `plan` (or disarms), forgetting what an earlier plan did.
    pub fn arm(&self, plan: Option<FaultPlan>) {
        *self.plan.borrow_mut() = plan;
        self.seen.set(0);
        self.fired.borrow_mut().clear();
    }

    /// The faults injected since the plan was armed, as `step/store/phase/kind write`.
    pub fn fired(&self) -> Vec<String> {
        self.fired.borrow().clone()
    }

    /// Whether this write is to be faulted; counts it.
    fn strikes(&self, step: Step, store: Store, write: &str) -> Option<FaultPlan> {
        let plan = self.plan.borrow().clone()?;
        if plan.step != step || plan.store != store {
            return None;
        }
        let n = self.seen.get();
        self.seen.set(n + 1);
        if n < plan.skip || n >= plan.skip + plan.times {
            return None;
        }
        let p = &plan;
        let fired = format!("{:?}/{:?}/{:?}/{:?} {write}", p.step, p.store, p.phase, p.kind).to_lowercase();
        // Logged too, for a test whose stack is gone afterwards (a delete) and cannot be asked.
        crate::log::warn(&format!("fault injected: {fired}"));
        self.fired.borrow_mut().push(fired);
        Some(plan)
    }
}

pub type Sleep = fn(u64) -> Pin<Box<dyn Future<Output = ()>>>;

/// The engine's stores with the plan applied, for one call at `step`.
pub struct Faulty<'a, S> {
    pub inner: &'a S,
    pub faults: &'a Faults,
    pub step: Step,
    pub sleep: Sleep,
}

fn injected(plan: &FaultPlan, write: &str) -> StoreError {
    match plan.kind {
        Kind::Fail => StoreError(format!("{write}: injected failure")),
        Kind::Hang => StoreError(format!("{write}: timed out (injected hang)")),
    }
}

impl<S> Faulty<'_, S> {
    /// Runs an async write under the plan.
    async fn write<T>(&self, store: Store, write: &str, op: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        let Some(plan) = self.faults.strikes(self.step, store, write) else { return op.await };
        if plan.phase == Phase::After {
            op.await?;
        }
        if plan.kind == Kind::Hang {
            (self.sleep)(plan.hang_ms).await;
        }
        Err(injected(&plan, write))
    }

    /// Runs a synchronous write (the journal's SQLite) under the plan.
    fn write_now<T>(&self, write: &str, op: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
        let Some(plan) = self.faults.strikes(self.step, Store::Do, write) else { return op() };
        if plan.phase == Phase::After {
            op()?;
        }
        Err(injected(&plan, write))
    }
}

impl<S: LeaseStore> LeaseStore for Faulty<'_, S> {
    async fn load_lease(&self) -> StoreResult<Option<LeaseState>> {
        self.inner.load_lease().await
    }
    async fn save_lease(&self, state: &LeaseState, alarm_at: Option<i64>) -> StoreResult<()> {
        self.write(Store::Do, "lease.save", self.inner.save_lease(state, alarm_at)).await
    }
    async fn flush(&self) -> StoreResult<()> {
        self.inner.flush().await
    }
}

impl<S: JournalStore> JournalStore for Faulty<'_, S> {
    fn stored_hashes(&self, update_id: &str, sequence_ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
        self.inner.stored_hashes(update_id, sequence_ids)
    }
    fn append(&self, update_id: &str, entries: &[StoredEntry]) -> StoreResult<()> {
        self.write_now("journal.append", || self.inner.append(update_id, entries))
    }
    fn scan(&self, update_id: &str, visit: &mut dyn FnMut(StoredEntry) -> bool) -> StoreResult<()> {
        self.inner.scan(update_id, visit)
    }
    fn stats(&self, update_id: &str) -> StoreResult<JournalStats> {
        self.inner.stats(update_id)
    }
    fn clear(&self, keep: Option<&str>) -> StoreResult<()> {
        self.write_now("journal.clear", || self.inner.clear(keep))
    }
}

impl<S: ObjectStore> ObjectStore for Faulty<'_, S> {
    async fn get_object(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get_object(key).await
    }
    async fn put_object(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()> {
        self.write(Store::R2, "objects.put", self.inner.put_object(key, bytes)).await
    }
    async fn delete_objects(&self, prefix: &str) -> StoreResult<()> {
        self.write(Store::R2, "objects.delete", self.inner.delete_objects(prefix)).await
    }
}

impl<S: Ledger> Ledger for Faulty<'_, S> {
    async fn start_update(&self, update_id: &str, stack_id: i64, bumps_version: bool, tags: Option<&str>) -> StoreResult<Started> {
        self.write(Store::D1, "ledger.start_update", self.inner.start_update(update_id, stack_id, bumps_version, tags)).await
    }
    async fn save_checkpoint(&self, stack_id: i64, update_id: &str, cp: &Checkpoint) -> StoreResult<()> {
        self.write(Store::D1, "ledger.save_checkpoint", self.inner.save_checkpoint(stack_id, update_id, cp)).await
    }
    async fn finish_update(&self, stack_id: i64, update_id: &str, status: &str, cp: Option<&Checkpoint>) -> StoreResult<()> {
        self.write(Store::D1, "ledger.finish_update", self.inner.finish_update(stack_id, update_id, status, cp)).await
    }
    async fn update_status(&self, stack_id: i64, update_id: &str) -> StoreResult<Option<UpdateStatus>> {
        self.inner.update_status(stack_id, update_id).await
    }
    async fn stack_version(&self, stack_id: i64) -> StoreResult<Option<i64>> {
        self.inner.stack_version(stack_id).await
    }
    async fn record_import(&self, stack_id: i64, import: &Import) -> StoreResult<()> {
        self.write(Store::D1, "ledger.record_import", self.inner.record_import(stack_id, import)).await
    }
    async fn rename_stack(&self, stack_id: i64, org: &str, project: &str, name: &str) -> StoreResult<bool> {
        self.inner.rename_stack(stack_id, org, project, name).await
    }
    async fn delete_stack(&self, stack_id: i64) -> StoreResult<()> {
        self.write(Store::D1, "ledger.delete_stack", self.inner.delete_stack(stack_id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::memory::{block_on, Fake};
    use crate::engine::{Engine, StartRequest};

    fn no_wait(_: u64) -> Pin<Box<dyn Future<Output = ()>>> {
        Box::pin(async {})
    }

    fn plan(text: &str) -> FaultPlan {
        serde_json::from_str(text).unwrap()
    }

    fn start(e: &Engine, s: &impl Stores, update: &str) -> Result<crate::engine::StartReply, crate::error::ApiError> {
        let req = StartRequest {
            update_id: update.into(), token: format!("tok-{update}"), stack_id: 7, lease_ms: 60_000,
            persists_state: true, tags: None, journal_version: 0, journaling: true, engine_version: "v".into(),
        };
        block_on(e.start(s, req, 1_800_000_000_000))
    }

    #[test]
    fn a_fault_before_a_write_writes_nothing_and_is_told_as_a_storage_failure() {
        let (f, faults) = (Fake::with_stack(7), Faults::default());
        f.create_update(7, "u1", "update");
        faults.arm(Some(plan(r#"{"step":"start","store":"d1","phase":"before","kind":"fail"}"#)));
        let s = Faulty { inner: &f, faults: &faults, step: Step::Start, sleep: no_wait };
        let err = start(&Engine::new(), &s, "u1").unwrap_err();
        assert_eq!(err.status, 503);
        assert_eq!(f.status("u1"), "failed", "the start never happened, and the update is recorded ended");
        assert_eq!(faults.fired(), ["start/d1/before/fail ledger.start_update"]);
    }

    #[test]
    fn a_fault_after_a_write_keeps_the_write_and_fires_only_as_often_as_planned() {
        let (f, faults) = (Fake::with_stack(7), Faults::default());
        f.create_update(7, "u1", "update");
        faults.arm(Some(plan(r#"{"step":"start","store":"d1","phase":"after","kind":"hang","hangMs":1}"#)));
        let s = Faulty { inner: &f, faults: &faults, step: Step::Start, sleep: no_wait };
        assert_eq!(start(&Engine::new(), &s, "u1").unwrap_err().status, 503);
        assert_ne!(f.status("u1"), "not-started", "the write landed before the fault");
        assert_eq!(faults.fired().len(), 1);
        f.create_update(7, "u2", "update");
        start(&Engine::new(), &s, "u2").expect("a plan fires `times` times, once by default");
    }

    #[test]
    fn writes_at_other_steps_or_stores_and_the_skipped_ones_pass() {
        let faults = Faults::default();
        faults.arm(Some(plan(r#"{"step":"checkpoint","store":"r2","phase":"before","kind":"fail","skip":2,"times":2}"#)));
        assert!(faults.strikes(Step::Start, Store::R2, "w").is_none());
        assert!(faults.strikes(Step::Checkpoint, Store::D1, "w").is_none());
        let hits: Vec<bool> = (0..5).map(|_| faults.strikes(Step::Checkpoint, Store::R2, "w").is_some()).collect();
        assert_eq!(hits, [false, false, true, true, false]);
        faults.arm(None);
        assert!(faults.fired().is_empty());
        assert!(serde_json::from_str::<FaultPlan>(r#"{"step":"start","store":"kv","phase":"before","kind":"fail"}"#).is_err());
    }
}
