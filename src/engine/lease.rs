//! Update leases: at most one active update per stack, held by a token that expires unless renewed.
//!
//! The rules live here, pure and tested natively; the stack's `StackLease` Durable Object stores the
//! [`LeaseState`] and feeds in the clock. The CLI assumes a 5-minute lease and renews when under 2.5 minutes
//! remain; a 403 on renew is terminal for it, so 403 means "this lease is over", 401 "not this lease's token".

use crate::auth::constant_time_eq;
use crate::checkpoint::upload::Mark;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// The lease the CLI assumes when it starts an update (`PROCELLA_LEASE_SECONDS` changes it, for tests of expiry).
pub const DEFAULT_LEASE_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub update_id: String,
    pub token: String,
    /// Milliseconds since the epoch.
    pub expires_at: i64,
    /// The stack version this update writes its checkpoints to (0: a preview, which writes none).
    #[serde(default)]
    pub version: i64,
    /// The last checkpoint this update stored, the reference for retries and deltas.
    #[serde(default)]
    pub checkpoint: Option<Mark>,
    /// Whether this update sends journal entries instead of checkpoints (journal version 1 was answered).
    #[serde(default)]
    pub journal: bool,
    /// The checkpoint this update started from, fixed at start: the base its journal entries index into.
    #[serde(default)]
    pub base: Option<Base>,
    /// The engine version that runs the update (from the CLI's `User-Agent`), for the manifest of the
    /// deployment built from its journal.
    #[serde(default)]
    pub engine_version: String,
    /// How many times building this update's state from its journal has been tried (counted before each try, so
    /// a try that kills the object counts too).
    #[serde(default)]
    pub settle_attempts: u32,
}

/// The update that last held the lease, as it ended: a retried `complete` of it (its token, its status) succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    pub update_id: String,
    /// SHA-256 of its lease token: the token itself is not kept once the lease is over.
    pub token_sha256: String,
    pub status: String,
}

/// A stored checkpoint: its stack version and R2 key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Base {
    pub version: i64,
    pub key: String,
    /// Its hash, size and resource count, for an update that ends with the base as its state (empty when the
    /// record was stored before bases carried them: they are then read from the object).
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub resources: i64,
}

/// What the stack's lease object stores: the stack it belongs to and its running update, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseState {
    /// The stack id (immutable across renames), known from the first call that names it.
    #[serde(default)]
    pub stack_id: Option<i64>,
    pub active: Option<Lease>,
    #[serde(default)]
    pub ended: Option<Ended>,
    /// The stack was deleted but some of its objects may be left: the alarm removes them.
    #[serde(default)]
    pub purge: bool,
    /// An update whose state could not be built from its journal: its entries are kept, not cleared.
    #[serde(default)]
    pub kept_journal: Option<String>,
}

impl LeaseState {
    /// The active lease at `now`, if it has not expired.
    pub fn live(&self, now: i64) -> Option<&Lease> {
        self.active.as_ref().filter(|l| l.expires_at > now)
    }

    /// Starts `update_id` with `token` for `lease_ms`.
    ///
    /// # Errors
    /// 409 while an update holds a live lease — this one included: whoever starts an update receives its lease
    /// token, so a second start of a started update (by anyone) is refused rather than handed the same token.
    pub fn start(&mut self, update_id: &str, token: &str, now: i64, lease_ms: i64) -> Result<Lease, ApiError> {
        if let Some(l) = self.live(now) {
            if l.update_id == update_id {
                return Err(already_started(update_id));
            }
            return Err(busy());
        }
        let lease = Lease {
            update_id: update_id.into(),
            token: token.into(),
            expires_at: now + lease_ms,
            version: 0,
            checkpoint: None,
            journal: false,
            base: None,
            engine_version: String::new(),
            settle_attempts: 0,
        };
        self.active = Some(lease.clone());
        Ok(lease)
    }

    /// Whether `token` is the live lease of `update_id`.
    ///
    /// # Errors
    /// 401 for a token that is not this update's; 403 when the update no longer holds a live lease
    /// (completed, cancelled, expired, or never started).
    pub fn check(&self, update_id: &str, token: &str, now: i64) -> Result<&Lease, ApiError> {
        match &self.active {
            Some(l) if l.update_id == update_id => {
                if !constant_time_eq(l.token.as_bytes(), token.as_bytes()) {
                    Err(ApiError::unauthorized("invalid update token"))
                } else if l.expires_at <= now {
                    Err(ApiError::forbidden("the update's lease has expired"))
                } else {
                    Ok(l)
                }
            }
            _ => Err(not_in_progress()),
        }
    }

    /// Extends the lease by `duration_secs` from now, at most `max_ms` (the server's lease length, whatever the
    /// client asks); the token stays the same, so requests already in flight with it still succeed.
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn renew(&mut self, update_id: &str, token: &str, duration_secs: i64, now: i64, max_ms: i64) -> Result<Lease, ApiError> {
        self.check(update_id, token, now)?;
        let ms = duration_secs.saturating_mul(1000).clamp(1000, max_ms.max(1000));
        let lease = self.active.as_mut().ok_or_else(not_in_progress)?;
        lease.expires_at = now + ms;
        Ok(lease.clone())
    }

    /// Ends the lease of `update_id` with `status` when its token completes it.
    ///
    /// # Errors
    /// As [`check`](Self::check).
    pub fn complete(&mut self, update_id: &str, token: &str, status: &str, now: i64) -> Result<(), ApiError> {
        self.check(update_id, token, now)?;
        self.end(status);
        Ok(())
    }

    /// Records how the lease's update ended (and drops the lease), so a retry of its `complete` is recognized.
    pub fn end(&mut self, status: &str) {
        if let Some(l) = self.active.take() {
            let token_sha256 = crate::checkpoint::delta::sha256_hex(l.token.as_bytes());
            self.ended = Some(Ended { update_id: l.update_id, token_sha256, status: status.to_owned() });
        }
    }

    /// How `update_id` ended, if it was the last update here and `token` was its token.
    pub fn ended_with(&self, update_id: &str, token: &str) -> Option<&str> {
        let e = self.ended.as_ref().filter(|e| e.update_id == update_id)?;
        let sha = crate::checkpoint::delta::sha256_hex(token.as_bytes());
        constant_time_eq(e.token_sha256.as_bytes(), sha.as_bytes()).then_some(e.status.as_str())
    }

    /// The lease, if `update_id` holds it (live or not).
    pub fn held_by(&self, update_id: &str) -> Option<&Lease> {
        self.active.as_ref().filter(|l| l.update_id == update_id)
    }

    /// The lease, if it has expired at `now` but is still stored (until [`expire`](Self::expire) drops it).
    pub fn expired(&self, now: i64) -> Option<&Lease> {
        self.active.as_ref().filter(|l| l.expires_at <= now)
    }

    /// Cancels whatever holds the lease (an API-token action). Returns the update that was cancelled.
    pub fn cancel(&mut self, update_id: &str) -> Option<Lease> {
        let l = self.held_by(update_id)?.clone();
        self.end("cancelled");
        Some(l)
    }

    /// Drops an expired lease (the Durable Object's alarm), returning it so its update can be marked failed.
    pub fn expire(&mut self, now: i64) -> Option<Lease> {
        let l = self.expired(now)?.clone();
        self.end("failed");
        Some(l)
    }
}

/// The 403 for a lease token whose update is not running. It is also the answer when the path names no stack at
/// all, so the unauthenticated lease-token routes tell nobody which stacks exist.
pub fn not_in_progress() -> ApiError {
    ApiError::forbidden("the update is not in progress (completed, cancelled or expired)")
}

/// The 409 for a start of an update that has been started before.
pub fn already_started(update_id: &str) -> ApiError {
    ApiError::conflict(format!("update '{update_id}' has already been started"))
}

/// The 409 the CLI reports as "another update is in progress".
pub fn busy() -> ApiError {
    ApiError::conflict("Another update is currently in progress.")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000_000;
    const L: i64 = DEFAULT_LEASE_MS;

    #[test]
    fn one_update_at_a_time() {
        let mut s = LeaseState::default();
        let l = s.start("u1", "tok1", T0, L).unwrap();
        assert_eq!(l.expires_at, T0 + DEFAULT_LEASE_MS);
        assert_eq!(s.start("u2", "tok2", T0 + 1, L).unwrap_err().status, 409);
        let again = s.start("u1", "other", T0 + 1, L).unwrap_err();
        assert_eq!(again.status, 409, "a started update is never handed its token again");
        assert!(again.message.contains("already been started"), "{}", again.message);
    }

    #[test]
    fn an_expired_lease_frees_the_stack() {
        let mut s = LeaseState::default();
        s.start("u1", "tok1", T0, L).unwrap();
        let later = T0 + DEFAULT_LEASE_MS;
        assert_eq!(s.check("u1", "tok1", later).unwrap_err().status, 403);
        assert!(s.start("u2", "tok2", later, L).is_ok());
    }

    #[test]
    fn tokens_are_checked_against_the_update() {
        let mut s = LeaseState::default();
        s.start("u1", "tok1", T0, L).unwrap();
        assert!(s.check("u1", "tok1", T0 + 1).is_ok());
        assert_eq!(s.check("u1", "tok2", T0 + 1).unwrap_err().status, 401);
        assert_eq!(s.check("u9", "tok1", T0 + 1).unwrap_err().status, 403, "wrong update");
    }

    #[test]
    fn renewal_extends_with_a_cap_and_keeps_the_token() {
        let mut s = LeaseState::default();
        s.start("u1", "tok1", T0, L).unwrap();
        let l = s.renew("u1", "tok1", 300, T0 + 1000, L).unwrap();
        assert_eq!((l.token.as_str(), l.expires_at), ("tok1", T0 + 1000 + 300_000));
        let capped = s.renew("u1", "tok1", 86_400, T0 + 2000, L).unwrap();
        assert_eq!(capped.expires_at, T0 + 2000 + L, "a renewal never exceeds the server's lease length");
        assert_eq!(s.renew("u1", "bad", 300, T0 + 3000, L).unwrap_err().status, 401);
    }

    #[test]
    fn renewing_an_ended_lease_is_terminal() {
        let mut s = LeaseState::default();
        s.start("u1", "tok1", T0, L).unwrap();
        assert!(s.cancel("u1").is_some());
        assert_eq!(s.renew("u1", "tok1", 300, T0 + 1, L).unwrap_err().status, 403);
        let mut s = LeaseState::default();
        s.start("u1", "tok1", T0, L).unwrap();
        assert_eq!(s.renew("u1", "tok1", 300, T0 + DEFAULT_LEASE_MS + 1, L).unwrap_err().status, 403);
    }

    #[test]
    fn a_short_server_lease_is_used_for_start_and_caps_renewals() {
        let mut s = LeaseState::default();
        let l = s.start("u1", "tok1", T0, 3000).unwrap();
        assert_eq!(l.expires_at, T0 + 3000);
        assert_eq!(s.renew("u1", "tok1", 300, T0 + 1000, 3000).unwrap().expires_at, T0 + 4000);
        assert_eq!(s.check("u1", "tok1", T0 + 4000).unwrap_err().status, 403, "expired after the short lease");
    }

    #[test]
    fn complete_and_expire_release_the_lease() {
        let mut s = LeaseState::default();
        s.start("u1", "tok1", T0, L).unwrap();
        assert_eq!(s.complete("u1", "nope", "succeeded", T0 + 1).unwrap_err().status, 401);
        s.complete("u1", "tok1", "succeeded", T0 + 1).unwrap();
        assert!(s.live(T0 + 2).is_none());
        assert_eq!(s.complete("u1", "tok1", "succeeded", T0 + 2).unwrap_err().status, 403);
        assert_eq!(s.ended_with("u1", "tok1"), Some("succeeded"), "a retry of that complete is recognized");
        assert_eq!(s.ended_with("u1", "nope"), None, "by its token only");
        assert!(!serde_json::to_string(&s).unwrap().contains("tok1"), "an ended lease's token is not kept");

        s.start("u2", "tok2", T0, L).unwrap();
        assert!(s.expire(T0 + 10).is_none(), "not yet");
        assert_eq!(s.expire(T0 + DEFAULT_LEASE_MS).unwrap().update_id, "u2");
        assert!(s.active.is_none());
        assert!(s.cancel("u2").is_none());
    }

    #[test]
    fn an_expired_or_held_lease_can_be_looked_at_before_it_is_dropped() {
        let mut s = LeaseState::default();
        s.start("u1", "tok1", T0, L).unwrap();
        assert!(s.expired(T0 + 1).is_none());
        assert_eq!(s.expired(T0 + L).unwrap().update_id, "u1");
        assert!(s.active.is_some(), "looking drops nothing");
        assert!(s.held_by("u2").is_none());
        assert_eq!(s.held_by("u1").unwrap().token, "tok1");
        assert!(s.cancel("u2").is_none() && s.active.is_some());
    }
}
