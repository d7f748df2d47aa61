//! The end of an update: its state becomes that update's checkpoint object, then the ledger records the end, then
//! the lease is released. A journaled update's checkpoint is built here, once, from its base and its whole journal
//! in one pass over the stored rows; an update that uploaded checkpoints already has its object, and the ledger
//! learns its final size and count.

use super::lease::{Lease, LeaseState};
use super::store::{checkpoint_key, journal_key, Checkpoint, JournalStore, ObjectStore, Stores};
use super::{clock, Engine, MAX_TEXT_IN_MEMORY};
use crate::api::updates::resource_count;
use crate::checkpoint::delta::sha256_hex;
use crate::error::ApiError;
use crate::journal::replay::{self, Manifest, Replayed, Replayer};

/// Tries at building an update's state from its journal before giving up on it. A try that fails on storage is
/// retried (by the CLI, by the alarm); one that cannot succeed (the object runs out of memory or time on it) must
/// not keep the stack locked for ever.
const MAX_SETTLE_ATTEMPTS: u32 = 5;

/// What an update leaves behind.
enum Materialized {
    /// No new state: a preview, or an update that stored nothing.
    Nothing,
    Stored(Checkpoint),
    /// Its journal cannot be replayed; the update is recorded failed and the stack keeps its previous state. The
    /// raw entries are saved beside the checkpoints for whoever repairs the stack.
    Corrupt(ApiError),
}

/// How an update ended.
pub(super) struct Ended {
    /// What went wrong for the caller to report (a corrupt journal), though the update did end.
    pub error: Option<ApiError>,
}

impl Engine {
    /// Ends the update that holds `st`'s lease: stores its state, records the end in the ledger with `status` (or
    /// `failed` when its state could not be built), releases the lease and drops its journal. Storage failures
    /// leave the lease in place for a retry.
    ///
    /// # Errors
    /// 5xx from storage.
    pub(super) async fn end(
        &self,
        s: &impl Stores,
        st: &mut LeaseState,
        lease: &Lease,
        status: &str,
        now: i64,
    ) -> Result<Ended, ApiError> {
        let stack_id = Self::stack_id(st)?;
        let mut keep_journal = false;
        let materialized = if lease.journal && lease.version > 0 && lease.settle_attempts >= MAX_SETTLE_ATTEMPTS {
            keep_journal = true;
            Materialized::Corrupt(ApiError::conflict(format!(
                "the update's state could not be built from its journal in {MAX_SETTLE_ATTEMPTS} tries; \
                 its journal is kept and the stack keeps its previous state"
            )))
        } else {
            if lease.journal && lease.version > 0 {
                // Counted (durably) before the try: a try that kills the object must count too.
                if let Some(held) = st.active.as_mut().filter(|l| l.update_id == lease.update_id) {
                    held.settle_attempts += 1;
                }
                self.save(s, st, None).await?;
                s.flush().await?;
            }
            self.materialize(s, stack_id, lease, now).await?
        };
        let (checkpoint, error) = match materialized {
            Materialized::Nothing => (None, None),
            Materialized::Stored(cp) => (Some(cp), None),
            Materialized::Corrupt(e) => (None, Some(e)),
        };
        let status = if error.is_some() { "failed" } else { status };
        s.finish_update(stack_id, &lease.update_id, status, checkpoint.as_ref()).await?;
        st.end(status);
        if keep_journal {
            st.kept_journal = Some(lease.update_id.clone());
        }
        self.save(s, st, None).await?;
        s.clear(st.kept_journal.as_deref())?;
        let mut m = self.memory.borrow_mut();
        m.text = None;
        m.replayed = None;
        Ok(Ended { error })
    }

    async fn materialize(&self, s: &impl Stores, stack_id: i64, lease: &Lease, now: i64) -> Result<Materialized, ApiError> {
        if lease.version <= 0 {
            return Ok(Materialized::Nothing);
        }
        let key = checkpoint_key(stack_id, lease.version);
        if lease.journal {
            let Some(replayed) = self.replay_journal(s, lease, now).await? else { return carried(s, stack_id, lease).await };
            let replayed = match replayed {
                Ok(r) => r,
                Err(e) => {
                    self.save_raw_journal(s, stack_id, lease).await?;
                    return Ok(Materialized::Corrupt(e));
                }
            };
            let cp = Checkpoint {
                version: lease.version,
                key: key.clone(),
                sha256: sha256_hex(replayed.text.as_bytes()),
                size: replayed.text.len() as u64,
                resources: Some(replayed.resources as i64),
            };
            s.put_object(&key, replayed.text.into_bytes()).await?;
            return Ok(Materialized::Stored(cp));
        }
        let Some(mark) = &lease.checkpoint else { return carried(s, stack_id, lease).await };
        let kept = self.memory.borrow().text.as_ref().filter(|t| t.update_id == lease.update_id).map(|t| t.bytes.clone());
        let text = match kept {
            Some(t) => Some(t),
            None => s.get_object(&key).await?,
        };
        let resources = text.as_deref().and_then(|t| std::str::from_utf8(t).ok()).and_then(|t| resource_count(t).ok());
        Ok(Materialized::Stored(Checkpoint {
            version: lease.version,
            key,
            sha256: mark.sha256.clone(),
            size: mark.size,
            resources,
        }))
    }

    /// Replays the update's base and journal: `None` when it has no entries, an inner error when they do not
    /// replay (a corrupt journal, answered 409). The rows are read one at a time and each is dropped once applied,
    /// so memory holds the base, the states that survive and the result, never the whole journal.
    ///
    /// # Errors
    /// 5xx from storage, including a base object that has gone missing.
    async fn replay_journal(
        &self,
        s: &(impl JournalStore + ObjectStore),
        lease: &Lease,
        now: i64,
    ) -> Result<Option<Result<Replayed, ApiError>>, ApiError> {
        if s.stats(&lease.update_id)?.entries == 0 {
            return Ok(None);
        }
        let base = match &lease.base {
            Some(b) => Some(s.get_object(&b.key).await?.ok_or_else(|| {
                crate::log::error(&format!("the base checkpoint {} of update {} is missing", b.key, lease.update_id));
                ApiError::internal("the update's base checkpoint is missing")
            })?),
            None => None,
        };
        let manifest = Manifest { time: clock::rfc3339(now), version: lease.engine_version.clone() };
        let base = base.as_deref().map(std::str::from_utf8).transpose();
        let mut replayer = match base
            .map_err(|_| replay::ReplayError::BadDeployment("the base checkpoint is not UTF-8".into()))
            .and_then(|b| b.map(replay::deployment_of).transpose())
            .and_then(|d| Replayer::new(d.flatten()))
        {
            Ok(r) => r,
            Err(e) => return Ok(Some(Err(corrupt(lease, &e)))),
        };
        let mut failed = None;
        s.scan(&lease.update_id, &mut |entry| match replayer.add_copied(&entry.text) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        })?;
        if let Some(e) = failed {
            return Ok(Some(Err(corrupt(lease, &e))));
        }
        Ok(Some(replayer.finish(&manifest).map_err(|e| corrupt(lease, &e))))
    }

    /// Keeps a journal that does not replay, as `{"entries": [...]}` beside the stack's checkpoints.
    async fn save_raw_journal(&self, s: &impl Stores, stack_id: i64, lease: &Lease) -> Result<(), ApiError> {
        let mut text = String::from("{\"entries\":[");
        let mut first = true;
        s.scan(&lease.update_id, &mut |e| {
            if !std::mem::take(&mut first) {
                text.push(',');
            }
            text.push_str(&e.text);
            true
        })?;
        text.push_str("]}");
        s.put_object(&journal_key(stack_id, &lease.update_id), text.into_bytes()).await?;
        Ok(())
    }

    /// The state of the stack's running journaled update, replayed on demand (export, the dashboard): `None`
    /// when no journaled update is running or it has no entries yet (its base is then the stack's state). A
    /// replay is kept (up to 8 MiB) until the journal grows, so readers polling a quiet update cost nothing.
    ///
    /// # Errors
    /// 409 for a journal that does not replay; 5xx from storage.
    pub async fn current(&self, s: &impl Stores, now: i64) -> Result<Option<String>, ApiError> {
        let _serial = self.lock().await;
        let st = self.state(s).await?;
        let Some(lease) = st.active.filter(|l| l.journal && l.version > 0) else { return Ok(None) };
        let entries = s.stats(&lease.update_id)?.entries;
        let cached = self.memory.borrow().replayed.as_ref().filter(|r| r.0 == lease.update_id && r.1 == entries).map(|r| r.2.clone());
        if let Some(text) = cached {
            return Ok(Some(text));
        }
        match self.replay_journal(s, &lease, now).await? {
            None => Ok(None),
            Some(Err(e)) => Err(e),
            Some(Ok(r)) => {
                if r.text.len() <= MAX_TEXT_IN_MEMORY {
                    self.memory.borrow_mut().replayed = Some((lease.update_id.clone(), entries, r.text.clone()));
                }
                Ok(Some(r.text))
            }
        }
    }
}

/// The state of an update that stored none of its own (no journal entries, no checkpoint: a `pulumi up` with
/// nothing to do, or one that failed first): its base. Its version points at the base's object, so every version
/// in history has a checkpoint, and nothing is copied. A stack with no base gets the empty deployment, written.
///
/// # Errors
/// 5xx from storage (reading a base stored before bases carried their hash, writing the empty one).
async fn carried(s: &impl ObjectStore, stack_id: i64, lease: &Lease) -> Result<Materialized, ApiError> {
    let Some(base) = &lease.base else {
        let text = crate::api::updates::EMPTY_DEPLOYMENT.as_bytes().to_vec();
        let cp = Checkpoint {
            version: lease.version,
            key: checkpoint_key(stack_id, lease.version),
            sha256: sha256_hex(&text),
            size: text.len() as u64,
            resources: Some(0),
        };
        s.put_object(&cp.key, text).await?;
        return Ok(Materialized::Stored(cp));
    };
    let (sha256, size, resources) = if base.sha256.is_empty() {
        let Some(text) = s.get_object(&base.key).await? else { return Ok(Materialized::Nothing) };
        let count = std::str::from_utf8(&text).ok().and_then(|t| resource_count(t).ok());
        (sha256_hex(&text), text.len() as u64, count)
    } else {
        (base.sha256.clone(), base.size, Some(base.resources))
    };
    Ok(Materialized::Stored(Checkpoint { version: lease.version, key: base.key.clone(), sha256, size, resources }))
}

fn corrupt(lease: &Lease, e: &replay::ReplayError) -> ApiError {
    crate::log::error(&format!("update {}: {e}", lease.update_id));
    ApiError::conflict(e.to_string())
}
