//! Retried checkpoint uploads. The CLI retries `checkpointverbatim` and `checkpointdelta` (4 tries) and numbers
//! each checkpoint of an update with a `sequenceNumber` that grows by one per saved checkpoint; a delta that fails
//! is re-sent verbatim under the same number. The number is the idempotency key: a retry of what is already stored
//! answers success without storing again, and a late retry of an older checkpoint never rewinds the state.

use crate::error::ApiError;

/// What to do with an uploaded checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upload {
    /// Store it: it is newer than anything stored for this update (or carries no sequence number).
    Store,
    /// Answer success and store nothing: it is stored already, or an older checkpoint has been superseded.
    AlreadyStored,
}

/// Decides about checkpoint `seq` whose text hashes to `sha` (hex SHA-256: computed for a verbatim upload,
/// the client's `checkpointHash` for a delta), given the last sequence number stored for the update and the
/// hash of the stored text.
///
/// # Errors
/// 409 when `seq` was already stored with different content: the client is confused, and storing it would
/// silently replace a checkpoint a retry may still refer to.
pub fn decide(stored_seq: i64, stored_sha: Option<&str>, seq: i64, sha: &str) -> Result<Upload, ApiError> {
    if seq <= 0 || seq > stored_seq {
        return Ok(Upload::Store);
    }
    if seq < stored_seq {
        return Ok(Upload::AlreadyStored);
    }
    match stored_sha {
        Some(s) if s.eq_ignore_ascii_case(sha) => Ok(Upload::AlreadyStored),
        _ => Err(ApiError::conflict(format!(
            "checkpoint sequence number {seq} was already stored with different content"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_checkpoints_and_unnumbered_ones_are_stored() {
        assert_eq!(decide(0, None, 1, "aa").unwrap(), Upload::Store);
        assert_eq!(decide(3, Some("aa"), 4, "bb").unwrap(), Upload::Store);
        assert_eq!(decide(3, Some("aa"), 0, "bb").unwrap(), Upload::Store, "the legacy route has no numbers");
    }

    #[test]
    fn a_retry_of_the_stored_checkpoint_is_a_no_op() {
        assert_eq!(decide(3, Some("aa"), 3, "AA").unwrap(), Upload::AlreadyStored);
    }

    #[test]
    fn a_late_retry_never_rewinds() {
        assert_eq!(decide(5, Some("aa"), 4, "old").unwrap(), Upload::AlreadyStored);
    }

    #[test]
    fn the_same_number_with_other_content_conflicts() {
        let e = decide(3, Some("aa"), 3, "bb").unwrap_err();
        assert_eq!(e.status, 409);
        assert!(e.message.contains("sequence number 3"));
    }
}
