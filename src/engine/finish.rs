//! The end of an update: its state becomes that update's checkpoint object, then the ledger records the end.
//! A journaled update's checkpoint is built here, once, from its base and its whole journal in one pass; an
//! update that uploaded checkpoints already has its object, and the ledger learns its final size and count.

use super::lease::{Lease, LeaseState};
use super::store::{checkpoint_key, Checkpoint, JournalStore, ObjectStore, Stores};
use super::{clock, Engine};
use crate::api::updates::resource_count;
use crate::checkpoint::delta::sha256_hex;
use crate::error::ApiError;
use crate::journal::replay::{self, Manifest, Replayed, Replayer};

/// What an update leaves behind.
enum Materialized {
    /// No new state: a preview, or an update that stored nothing.
    Nothing,
    Stored(Checkpoint),
    /// Its journal cannot be replayed; the update is recorded failed and the stack keeps its previous state.
    Corrupt(ApiError),
}

impl Engine {
    /// Stores the update's state and records its end with `status` in the ledger. The caller releases the lease
    /// only after this succeeded, so a storage failure is retried instead of leaving the ledger behind. Returns the
    /// error of a journal that cannot be replayed (the update is then recorded as failed).
    ///
    /// # Errors
    /// 5xx from storage.
    pub(super) async fn finish(
        &self,
        s: &impl Stores,
        st: &LeaseState,
        lease: &Lease,
        status: &str,
        now: i64,
    ) -> Result<Option<ApiError>, ApiError> {
        let stack_id = Self::stack_id(st)?;
        let (checkpoint, corrupt) = match self.materialize(s, stack_id, lease, now).await? {
            Materialized::Nothing => (None, None),
            Materialized::Stored(cp) => (Some(cp), None),
            Materialized::Corrupt(e) => (None, Some(e)),
        };
        let status = if corrupt.is_some() { "failed" } else { status };
        s.finish_update(stack_id, &lease.update_id, status, checkpoint.as_ref()).await?;
        self.memory.borrow_mut().text = None;
        Ok(corrupt)
    }

    async fn materialize(&self, s: &impl Stores, stack_id: i64, lease: &Lease, now: i64) -> Result<Materialized, ApiError> {
        if lease.version <= 0 {
            return Ok(Materialized::Nothing);
        }
        let key = checkpoint_key(stack_id, lease.version);
        if lease.journal {
            let Some(replayed) = self.replay_journal(s, lease, now).await? else { return Ok(Materialized::Nothing) };
            let replayed = match replayed {
                Ok(r) => r,
                Err(e) => return Ok(Materialized::Corrupt(e)),
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
        let Some(mark) = &lease.checkpoint else { return Ok(Materialized::Nothing) };
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
    /// replay (a corrupt journal, answered 409).
    ///
    /// # Errors
    /// 5xx from storage, including a base object that has gone missing.
    async fn replay_journal(
        &self,
        s: &(impl JournalStore + ObjectStore),
        lease: &Lease,
        now: i64,
    ) -> Result<Option<Result<Replayed, ApiError>>, ApiError> {
        let entries = s.entries(&lease.update_id)?;
        if entries.is_empty() {
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
        let replayed = (|| {
            let base = base.as_deref().map(std::str::from_utf8).transpose().map_err(|_| {
                replay::ReplayError::BadDeployment("the base checkpoint is not UTF-8".into())
            })?;
            let mut r = Replayer::new(base.map(replay::deployment_of).transpose()?.flatten())?;
            for e in &entries {
                r.add_text(&e.text)?;
            }
            r.finish(&manifest)
        })();
        Ok(Some(replayed.map_err(|e| {
            crate::log::error(&format!("update {}: {e}", lease.update_id));
            ApiError::conflict(e.to_string())
        })))
    }

    /// The state of the stack's running journaled update, replayed on demand (export, the dashboard): `None`
    /// when no journaled update is running or it has no entries yet (its base is then the stack's state).
    ///
    /// # Errors
    /// 409 for a journal that does not replay; 5xx from storage.
    pub async fn current(&self, s: &impl Stores, now: i64) -> Result<Option<String>, ApiError> {
        let st = self.state(s).await?;
        let Some(lease) = st.active.filter(|l| l.journal && l.version > 0) else { return Ok(None) };
        match self.replay_journal(s, &lease, now).await? {
            None => Ok(None),
            Some(r) => r.map(|r| Some(r.text)),
        }
    }
}
