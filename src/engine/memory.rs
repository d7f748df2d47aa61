//! In-memory stores for the engine's native tests, with failures injected by name (`"objects.put"`,
//! `"ledger.finish_update"`, ...), the way a storage call fails in production: the call errs, nothing is written.

use super::lease::{Base, LeaseState};
use super::store::*;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackRow {
    pub org: String,
    pub project: String,
    pub name: String,
    pub version: i64,
    pub active_update: Option<String>,
    pub resource_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateRow {
    pub stack_id: i64,
    pub kind: String,
    pub status: String,
    pub version: Option<i64>,
}

#[derive(Default)]
pub struct Fake {
    pub lease: RefCell<Option<LeaseState>>,
    pub alarm: Cell<Option<i64>>,
    pub journal: RefCell<BTreeMap<(String, i64), StoredEntry>>,
    pub objects: RefCell<BTreeMap<String, Vec<u8>>>,
    pub stacks: RefCell<HashMap<i64, StackRow>>,
    pub updates: RefCell<HashMap<String, UpdateRow>>,
    pub checkpoints: RefCell<BTreeMap<(i64, i64), Checkpoint>>,
    failing: RefCell<HashSet<&'static str>>,
    /// How many times each store call ran (successful or not).
    pub calls: RefCell<HashMap<&'static str, usize>>,
}

impl Fake {
    pub fn with_stack(id: i64) -> Self {
        let f = Self::default();
        f.stacks.borrow_mut().insert(
            id,
            StackRow { org: "o".into(), project: "p".into(), name: "s".into(), version: 0, active_update: None, resource_count: 0 },
        );
        f
    }

    /// An update row in `not-started`, as `POST .../update` creates it.
    pub fn create_update(&self, stack_id: i64, id: &str, kind: &str) {
        self.updates
            .borrow_mut()
            .insert(id.into(), UpdateRow { stack_id, kind: kind.into(), status: "not-started".into(), version: None });
    }

    pub fn fail(&self, what: &'static str) {
        self.failing.borrow_mut().insert(what);
    }

    pub fn heal(&self) {
        self.failing.borrow_mut().clear();
    }

    pub fn status(&self, update: &str) -> String {
        self.updates.borrow().get(update).map(|u| u.status.clone()).unwrap_or_default()
    }

    pub fn object(&self, key: &str) -> Option<String> {
        self.objects.borrow().get(key).map(|b| String::from_utf8(b.clone()).unwrap())
    }

    /// The object D1 points at for the stack's latest checkpoint, parsed.
    pub fn latest(&self, stack_id: i64) -> Option<serde_json::Value> {
        let cps = self.checkpoints.borrow();
        let (_, cp) = cps.range((stack_id, 0)..=(stack_id, i64::MAX)).next_back()?;
        let text = self.object(&cp.key).expect("D1 points at an object that exists");
        Some(serde_json::from_str(&text).unwrap())
    }

    fn call(&self, what: &'static str) -> StoreResult<()> {
        *self.calls.borrow_mut().entry(what).or_default() += 1;
        if self.failing.borrow().contains(what) {
            return Err(StoreError(format!("{what} failed (injected)")));
        }
        Ok(())
    }

    fn base(&self, stack_id: i64) -> Option<Base> {
        let cps = self.checkpoints.borrow();
        let (_, cp) = cps.range((stack_id, 0)..=(stack_id, i64::MAX)).next_back()?;
        Some(Base {
            version: cp.version,
            key: cp.key.clone(),
            sha256: cp.sha256.clone(),
            size: cp.size,
            resources: cp.resources.unwrap_or(0),
        })
    }
}

impl LeaseStore for Fake {
    async fn load_lease(&self) -> StoreResult<Option<LeaseState>> {
        self.call("lease.load")?;
        Ok(self.lease.borrow().clone())
    }

    async fn save_lease(&self, state: &LeaseState, alarm_at: Option<i64>) -> StoreResult<()> {
        self.call("lease.save")?;
        *self.lease.borrow_mut() = Some(state.clone());
        self.alarm.set(alarm_at);
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        self.call("lease.flush")
    }
}

impl JournalStore for Fake {
    fn stored_hashes(&self, update_id: &str, ids: &[i64]) -> StoreResult<Vec<(i64, String)>> {
        self.call("journal.stored")?;
        let j = self.journal.borrow();
        Ok(ids.iter().filter_map(|id| j.get(&(update_id.to_owned(), *id)).map(|e| (*id, e.sha256.clone()))).collect())
    }

    fn append(&self, update_id: &str, entries: &[StoredEntry]) -> StoreResult<()> {
        self.call("journal.append")?;
        let mut j = self.journal.borrow_mut();
        for e in entries {
            let old = j.insert((update_id.to_owned(), e.sequence_id), e.clone());
            assert!(old.is_none(), "append is only given entries that are not stored");
        }
        Ok(())
    }

    fn scan(&self, update_id: &str, visit: &mut dyn FnMut(StoredEntry) -> bool) -> StoreResult<()> {
        self.call("journal.scan")?;
        let rows: Vec<StoredEntry> =
            self.journal.borrow().iter().filter(|((u, _), _)| u == update_id).map(|(_, e)| e.clone()).collect();
        for e in rows {
            if !visit(e) {
                break;
            }
        }
        Ok(())
    }

    fn stats(&self, update_id: &str) -> StoreResult<JournalStats> {
        self.call("journal.stats")?;
        let j = self.journal.borrow();
        let mine = j.iter().filter(|((u, _), _)| u == update_id);
        Ok(mine.fold(JournalStats::default(), |s, (_, e)| JournalStats {
            entries: s.entries + 1,
            bytes: s.bytes + e.text.len() as i64,
        }))
    }

    fn clear(&self, keep: Option<&str>) -> StoreResult<()> {
        self.call("journal.clear")?;
        self.journal.borrow_mut().retain(|(u, _), _| Some(u.as_str()) == keep);
        Ok(())
    }
}

impl ObjectStore for Fake {
    async fn get_object(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        self.call("objects.get")?;
        Ok(self.objects.borrow().get(key).cloned())
    }

    async fn put_object(&self, key: &str, bytes: Vec<u8>) -> StoreResult<()> {
        self.call("objects.put")?;
        self.objects.borrow_mut().insert(key.into(), bytes);
        Ok(())
    }

    async fn delete_objects(&self, prefix: &str) -> StoreResult<()> {
        self.call("objects.delete")?;
        self.objects.borrow_mut().retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
}

impl Ledger for Fake {
    async fn start_update(&self, update_id: &str, stack_id: i64, bumps: bool, _tags: Option<&str>) -> StoreResult<Started> {
        self.call("ledger.start_update")?;
        let base = self.base(stack_id);
        let mut stacks = self.stacks.borrow_mut();
        let mut updates = self.updates.borrow_mut();
        let (Some(stack), Some(update)) = (stacks.get_mut(&stack_id), updates.get_mut(update_id)) else {
            return Ok(Started { now_running: false, version: 0, base });
        };
        if update.status != "not-started" {
            return Ok(Started { now_running: false, version: update.version.unwrap_or(0), base });
        }
        if bumps {
            stack.version += 1;
        }
        stack.active_update = Some(update_id.into());
        update.status = "running".into();
        update.version = Some(stack.version);
        Ok(Started { now_running: true, version: stack.version, base })
    }

    async fn save_checkpoint(&self, stack_id: i64, _update_id: &str, cp: &Checkpoint) -> StoreResult<()> {
        self.call("ledger.save_checkpoint")?;
        assert!(self.objects.borrow().contains_key(&cp.key), "D1 must only point at stored objects");
        self.checkpoints.borrow_mut().insert((stack_id, cp.version), cp.clone());
        Ok(())
    }

    async fn finish_update(&self, stack_id: i64, update_id: &str, status: &str, cp: Option<&Checkpoint>) -> StoreResult<()> {
        self.call("ledger.finish_update")?;
        if let Some(cp) = cp {
            assert!(self.objects.borrow().contains_key(&cp.key), "D1 must only point at stored objects");
            self.checkpoints.borrow_mut().insert((stack_id, cp.version), cp.clone());
            if let (Some(n), Some(s)) = (cp.resources, self.stacks.borrow_mut().get_mut(&stack_id)) {
                s.resource_count = n;
            }
        }
        if let Some(u) = self.updates.borrow_mut().get_mut(update_id).filter(|u| matches!(u.status.as_str(), "not-started" | "running")) {
            u.status = status.into();
        }
        if let Some(s) = self.stacks.borrow_mut().get_mut(&stack_id).filter(|s| s.active_update.as_deref() == Some(update_id)) {
            s.active_update = None;
        }
        Ok(())
    }

    async fn update_status(&self, _stack_id: i64, update_id: &str) -> StoreResult<Option<UpdateStatus>> {
        self.call("ledger.update_status")?;
        Ok(self.updates.borrow().get(update_id).map(|u| UpdateStatus { status: u.status.clone() }))
    }

    async fn stack_version(&self, stack_id: i64) -> StoreResult<Option<i64>> {
        self.call("ledger.stack_version")?;
        Ok(self.stacks.borrow().get(&stack_id).map(|s| s.version))
    }

    async fn record_import(&self, stack_id: i64, import: &Import) -> StoreResult<()> {
        self.call("ledger.record_import")?;
        let cp = &import.checkpoint;
        assert!(self.objects.borrow().contains_key(&cp.key), "D1 must only point at stored objects");
        self.updates.borrow_mut().insert(
            import.update_id.clone(),
            UpdateRow { stack_id, kind: "import".into(), status: "succeeded".into(), version: Some(cp.version) },
        );
        self.checkpoints.borrow_mut().insert((stack_id, cp.version), cp.clone());
        if let Some(s) = self.stacks.borrow_mut().get_mut(&stack_id) {
            s.version = cp.version;
        }
        Ok(())
    }

    async fn rename_stack(&self, stack_id: i64, org: &str, project: &str, name: &str) -> StoreResult<bool> {
        self.call("ledger.rename_stack")?;
        let mut stacks = self.stacks.borrow_mut();
        if stacks.values().any(|s| s.org == org && s.project == project && s.name == name) {
            return Ok(false);
        }
        let Some(s) = stacks.get_mut(&stack_id) else { return Ok(false) };
        (s.project, s.name) = (project.into(), name.into());
        Ok(true)
    }

    async fn delete_stack(&self, stack_id: i64) -> StoreResult<()> {
        self.call("ledger.delete_stack")?;
        self.stacks.borrow_mut().remove(&stack_id);
        self.updates.borrow_mut().retain(|_, u| u.stack_id != stack_id);
        self.checkpoints.borrow_mut().retain(|(s, _), _| *s != stack_id);
        Ok(())
    }
}

/// Runs a future to completion on this thread (the fakes never wait on anything).
pub fn block_on<F: Future>(f: F) -> F::Output {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
