//! What a running update sends: checkpoints (`checkpoint`, `checkpointverbatim`, `checkpointdelta`) and journal
//! entries (`journalentries`). Both are checked against the lease first, are idempotent on retry, and are stored
//! before the call answers.

use super::lease::Lease;
use super::store::{checkpoint_key, JournalStore, LeaseStore, Stores, StoredEntry};
use super::{Engine, Text, MAX_TEXT_IN_MEMORY};
use crate::checkpoint::delta::sha256_hex;
use crate::checkpoint::sequence::Upload as Decision;
use crate::checkpoint::upload::{self, Mark, UploadKind};
use crate::error::ApiError;
use crate::journal::batch;

impl Engine {
    /// Stores a checkpoint upload: checked against the lease and its last checkpoint, turned into the new text,
    /// written to R2, and only then recorded (the ledger at the update's first checkpoint).
    ///
    /// # Errors
    /// As the lease check; 400 for a bad body or an update that journals; 409 for a delta that does not apply or a
    /// reused sequence number; 5xx from storage.
    pub async fn checkpoint(
        &self,
        s: &impl Stores,
        update_id: &str,
        token: &str,
        kind: UploadKind,
        body: Vec<u8>,
        now: i64,
    ) -> Result<(), ApiError> {
        let _serial = self.lock().await;
        let mut st = self.state(s).await?;
        let lease = st.check(update_id, token, now)?.clone();
        if lease.version <= 0 {
            return Err(ApiError::bad_request("this update takes no checkpoints (a preview)"));
        }
        if lease.journal {
            return Err(ApiError::bad_request("this update journals: send its state as journal entries"));
        }
        let upload = upload::parse(body, kind)?;
        if upload.decide(lease.checkpoint.as_ref())? == Decision::AlreadyStored {
            return Ok(());
        }
        let sequence = upload.sequence;
        let stack_id = Self::stack_id(&st)?;
        let key = checkpoint_key(stack_id, lease.version);
        let previous = if upload.needs_previous() { self.previous_text(s, &lease, &key).await? } else { None };
        let text = upload.into_text(previous.as_deref())?;
        let mark = Mark { sequence, sha256: sha256_hex(&text), size: text.len() as u64 };
        let kept = (text.len() <= MAX_TEXT_IN_MEMORY).then(|| text.clone());
        self.memory.borrow_mut().text = None;
        s.put_object(&key, text).await?;
        if lease.checkpoint.is_none() {
            // The update's first checkpoint: now that the object exists, the ledger may point at it.
            let cp = super::store::Checkpoint {
                version: lease.version,
                key: key.clone(),
                sha256: mark.sha256.clone(),
                size: mark.size,
                resources: None,
            };
            s.save_checkpoint(stack_id, update_id, &cp).await?;
        }
        // `st` is current: every change to the lease (renewals included) waits for the lock.
        if let Some(active) = st.active.as_mut().filter(|l| l.update_id == update_id) {
            active.checkpoint = Some(mark);
        }
        self.save(s, &st, None).await?;
        self.memory.borrow_mut().text = kept.map(|bytes| Text { update_id: update_id.to_owned(), bytes });
        Ok(())
    }

    /// The text the last checkpoint stored: from memory, or read back from R2 after an eviction.
    async fn previous_text(&self, s: &impl Stores, lease: &Lease, key: &str) -> Result<Option<Vec<u8>>, ApiError> {
        if lease.checkpoint.is_none() {
            return Ok(None);
        }
        // Only the stored text is ever kept (it is cleared before each write), so it is the one the lease marks.
        let kept = self.memory.borrow_mut().text.take().filter(|t| t.update_id == lease.update_id);
        match kept {
            Some(t) => Ok(Some(t.bytes)),
            None => Ok(s.get_object(key).await?),
        }
    }

    /// Stores a batch of journal entries (`{"entries": [...]}`, inflated). Entries already stored with the same
    /// content are skipped, so a retried batch is a no-op; entries may come in any order. Returns how many were new.
    ///
    /// # Errors
    /// As the lease check; 400 for a bad batch or an update that uploads checkpoints; 409 for a sequence ID stored
    /// before with other content (nothing of the batch is stored then); 5xx from storage.
    pub async fn journal(
        &self,
        s: &(impl LeaseStore + JournalStore),
        update_id: &str,
        token: &str,
        body: &[u8],
        now: i64,
    ) -> Result<usize, ApiError> {
        let _serial = self.lock().await;
        let lease = self.state(s).await?.check(update_id, token, now)?.clone();
        if !lease.journal {
            return Err(ApiError::bad_request(
                "this update does not journal (journal version 0 was answered): send checkpoints",
            ));
        }
        let incoming = batch::parse(body)?;
        let stored_bytes = s.stats(update_id)?.bytes;
        let adding: usize = incoming.iter().map(|e| e.text.len()).sum();
        if stored_bytes + adding as i64 > self.journal_limit {
            // Not a 413: splitting the batch would not help, the update's whole journal is over its limit.
            return Err(ApiError::conflict(format!(
                "this update's journal is over its limit of {} bytes",
                self.journal_limit
            )));
        }
        let ids: Vec<i64> = incoming.iter().map(|e| e.sequence_id).collect();
        let stored = s.stored_hashes(update_id, &ids)?;
        let mut new = Vec::with_capacity(incoming.len());
        for e in incoming {
            match stored.iter().find(|(id, _)| *id == e.sequence_id) {
                Some((_, sha)) if *sha == e.sha256 => {}
                Some(_) => return Err(batch::reused(e.sequence_id)),
                None => new.push(StoredEntry { sequence_id: e.sequence_id, sha256: e.sha256, text: e.text.to_owned() }),
            }
        }
        s.append(update_id, &new)?;
        Ok(new.len())
    }
}
