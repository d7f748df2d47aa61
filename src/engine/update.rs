//! An update's life in the engine: start (the lease and its token), checks and renewals, and its end — complete,
//! cancel, or the alarm when the lease runs out.

use super::lease::{self, Lease, LeaseState};
use super::store::{stack_prefix, LeaseStore, Stores};
use super::{Engine, RETRY_FINISH_MS};
use crate::error::ApiError;
use crate::journal;

/// `POST .../update/{id}`, as the engine needs it.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub update_id: String,
    /// A fresh random lease token.
    pub token: String,
    pub stack_id: i64,
    pub lease_ms: i64,
    /// False for a preview: it takes no version and writes no state.
    pub persists_state: bool,
    /// The stack's new tags (JSON), which replace the old ones.
    pub tags: Option<String>,
    /// The `journalVersion` the CLI asked for.
    pub journal_version: i64,
    /// `PROCELLA_JOURNALING`.
    pub journaling: bool,
    pub engine_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartReply {
    pub lease: Lease,
    /// The version the update writes (a preview: the stack's current one).
    pub version: i64,
    /// The journal version answered: 1, or 0 for checkpoints.
    pub journal_version: i64,
}

/// What the alarm did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmOutcome {
    /// Nothing had expired (the alarm is set again for a renewed lease).
    Idle,
    /// An expired update was ended as failed and the stack freed.
    Expired,
    /// Ending it failed (storage); the alarm fires again in [`RETRY_FINISH_MS`].
    Retry,
}

impl Engine {
    /// Takes the lease for an update and marks it started in the ledger.
    ///
    /// # Errors
    /// 409 while another update runs, or when this update was started before or has ended; 5xx from storage.
    pub async fn start(&self, s: &impl Stores, req: StartRequest, now: i64) -> Result<StartReply, ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        st.stack_id = Some(req.stack_id);
        self.settle_expired(s, &mut st, now).await?;
        let mut lease = st.start(&req.update_id, &req.token, now, req.lease_ms)?;
        let started = match s.start_update(&req.update_id, req.stack_id, req.persists_state, req.tags.as_deref()).await {
            Ok(started) => started,
            Err(e) => {
                // The CLI does not retry a start, and the write may have landed with only its answer lost: record
                // the update ended so the stack is not left held by an update nobody runs.
                let _ = s.finish_update(req.stack_id, &req.update_id, "failed", None).await;
                return Err(e.into());
            }
        };
        if !started.now_running {
            return Err(lease::already_started(&req.update_id));
        }
        let journal_version = journal::negotiate(req.journal_version, req.persists_state, req.journaling);
        lease.version = if req.persists_state { started.version } else { 0 };
        lease.journal = journal_version > 0;
        lease.base = started.base;
        lease.engine_version = req.engine_version;
        st.active = Some(lease.clone());
        // Entries of earlier updates became their checkpoints when those ended; drop any left over.
        let saved = match s.clear(st.kept_journal.as_deref()) {
            Ok(()) => self.save(s, &st, None).await,
            Err(e) => Err(e.into()),
        };
        if let Err(e) = saved {
            // The ledger says running but no lease was granted: record it ended rather than leave it dangling.
            let _ = s.finish_update(req.stack_id, &req.update_id, "failed", None).await;
            return Err(e);
        }
        self.memory.borrow_mut().text = None;
        Ok(StartReply { lease, version: started.version, journal_version })
    }

    /// The live lease of `update_id` if `token` is its token; with `ended_ok`, `None` for the update that last
    /// held the lease and has ended (what a retried `complete` finds).
    ///
    /// # Errors
    /// 401 for another token, 403 when the update is not running.
    pub async fn check(
        &self,
        s: &impl LeaseStore,
        update_id: &str,
        token: &str,
        ended_ok: bool,
        now: i64,
    ) -> Result<Option<Lease>, ApiError> {
        let st = self.peek(s).await?;
        match st.check(update_id, token, now) {
            Ok(l) => Ok(Some(l.clone())),
            Err(e) if e.status == 403 && ended_ok && st.ended_with(update_id, token).is_some() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The stored lease record as it is (expired leases included), read without the lock.
    ///
    /// # Errors
    /// 5xx from storage.
    pub async fn status_record(&self, s: &impl LeaseStore) -> Result<LeaseState, ApiError> {
        self.peek(s).await
    }

    /// The live lease of the stack, if any.
    ///
    /// # Errors
    /// 5xx from storage.
    pub async fn status(&self, s: &impl LeaseStore, now: i64) -> Result<Option<Lease>, ApiError> {
        Ok(self.peek(s).await?.live(now).cloned())
    }

    /// Extends the lease (at most `max_ms` from now).
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub async fn renew(
        &self,
        s: &impl LeaseStore,
        update_id: &str,
        token: &str,
        duration_secs: i64,
        max_ms: i64,
        now: i64,
    ) -> Result<Lease, ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        let lease = st.renew(update_id, token, duration_secs, now, max_ms)?;
        self.save(s, &st, None).await?;
        Ok(lease)
    }

    /// Ends the update with `status` (the CLI's own call): its state is stored, the ledger records the end, then
    /// the stack is free. A retried complete (same token, same status) of the update that ended last succeeds.
    ///
    /// # Errors
    /// As [`check`](Self::check); 409 when its journal cannot be replayed (the update is then recorded failed);
    /// 5xx from storage, with the lease kept so the retry finds it.
    pub async fn complete(&self, s: &impl Stores, update_id: &str, token: &str, status: &str, now: i64) -> Result<(), ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        let lease = match st.check(update_id, token, now) {
            Ok(l) => l.clone(),
            Err(e) if e.status == 403 => {
                return match st.ended_with(update_id, token) {
                    Some(ended) if ended == status => Ok(()),
                    Some(ended) => Err(ApiError::forbidden(format!("the update has already ended ({ended})"))),
                    None => Err(e),
                };
            }
            Err(e) => return Err(e),
        };
        let ended = self.end(s, &mut st, &lease, status, now).await?;
        ended.error.map_or(Ok(()), Err)
    }

    /// Cancels `update_id` (an API-token call, `pulumi cancel`): its state so far is stored and the stack freed,
    /// whatever its CLI is doing. An update that never started is recorded as cancelled.
    ///
    /// # Errors
    /// 5xx from storage.
    pub async fn cancel(&self, s: &impl Stores, stack_id: i64, update_id: &str, now: i64) -> Result<(), ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        st.stack_id = Some(stack_id);
        self.settle_expired(s, &mut st, now).await?;
        if let Some(lease) = st.held_by(update_id).cloned() {
            self.end(s, &mut st, &lease, "cancelled", now).await?;
            return Ok(());
        }
        let pending = s.update_status(stack_id, update_id).await?;
        if pending.is_some_and(|u| matches!(u.status.as_str(), "not-started" | "running")) {
            s.finish_update(stack_id, update_id, "cancelled", None).await?;
        }
        Ok(())
    }

    /// The alarm at the lease's expiry: an update whose CLI stopped renewing is ended as failed, its state so far
    /// stored, and the stack freed. It also finishes removing a deleted stack's objects.
    ///
    /// # Errors
    /// 5xx from storage when even re-arming the alarm fails (the runtime then retries the alarm).
    pub async fn alarm(&self, s: &impl Stores, now: i64) -> Result<AlarmOutcome, ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        if st.purge {
            if let Some(id) = st.stack_id {
                if s.delete_objects(&stack_prefix(id)).await.is_err() {
                    self.save(s, &st, Some(now + RETRY_FINISH_MS)).await?;
                    return Ok(AlarmOutcome::Retry);
                }
            }
            st.purge = false;
            self.save(s, &st, None).await?;
        }
        if st.expired(now).is_some() {
            return match self.settle_expired(s, &mut st, now).await {
                Ok(()) => Ok(AlarmOutcome::Expired),
                Err(e) => {
                    crate::log::error(&format!(
                        "could not end an expired update, retrying: {}",
                        e.detail.as_deref().unwrap_or(&e.message)
                    ));
                    // The expired lease stays (it refuses every call) and the alarm comes back.
                    let st = self.state(s).await?;
                    self.save(s, &st, Some(now + RETRY_FINISH_MS)).await?;
                    Ok(AlarmOutcome::Retry)
                }
            };
        }
        if st.active.is_some() {
            // Renewed since the alarm was set: wait for the new expiry.
            self.save(s, &st, None).await?;
        }
        Ok(AlarmOutcome::Idle)
    }

    /// Ends an expired but still stored lease as failed (the alarm may not have fired yet when another call comes).
    pub(super) async fn settle_expired(&self, s: &impl Stores, st: &mut LeaseState, now: i64) -> Result<(), ApiError> {
        let Some(old) = st.expired(now).cloned() else { return Ok(()) };
        let ended = self.end(s, st, &old, "failed", now).await?;
        if let Some(e) = ended.error {
            crate::log::error(&format!("expired update {}: {}", old.update_id, e.message));
        }
        Ok(())
    }
}
