//! `PATCH .../journalentries` bodies: `{"entries": [JournalEntry...]}` (`apitype.JournalEntries`). Each entry is
//! checked (version, kind, sequence ID) and kept as the exact text the CLI sent, with its hash: a retried batch
//! re-sends the same bytes, so the hash tells a retry (a no-op) from a reused sequence ID (a conflict).

use super::entry::{Entry, EntryError};
use crate::checkpoint::delta::sha256_hex;
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::value::RawValue;

/// The largest inflated batch accepted. Over it the answer is 413 `{"code": 413}`, and the CLI splits the batch in
/// half and sends both halves. The whole batch is held in the isolate (128 MB) and in the lease object's memory
/// while it is stored, so it is kept well below that; a single 5 MB resource (its begin and its success entry) fits.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 32 << 20;

/// One entry as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming<'a> {
    pub sequence_id: i64,
    pub text: &'a str,
    pub sha256: String,
}

/// Splits a batch into its entries, in the order sent, without repeats (a batch may carry the same entry twice
/// only with the same content).
///
/// # Errors
/// 400 for a body that is not a batch or an entry that is not version 1; 409 for one sequence ID with two contents.
pub fn parse(body: &[u8]) -> Result<Vec<Incoming<'_>>, ApiError> {
    #[derive(Deserialize)]
    struct Batch<'a> {
        #[serde(borrow, default)]
        entries: Option<Vec<&'a RawValue>>,
    }
    crate::body::require_object(body)?;
    let text = std::str::from_utf8(body).map_err(|_| ApiError::bad_request("invalid request body: not UTF-8"))?;
    let batch: Batch = serde_json::from_str(text).map_err(|e| ApiError::bad_json(&e))?;
    let mut out: Vec<Incoming> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for raw in batch.entries.unwrap_or_default() {
        let text = raw.get();
        let (entry, _) = Entry::parse(text).map_err(|e| entry_error(&e))?;
        let sha256 = sha256_hex(text.as_bytes());
        match seen.get(&entry.sequence_id) {
            Some(&i) if out.get(i).is_some_and(|o: &Incoming| o.sha256 == sha256) => continue,
            Some(_) => return Err(reused(entry.sequence_id)),
            None => {}
        }
        seen.insert(entry.sequence_id, out.len());
        out.push(Incoming { sequence_id: entry.sequence_id, text, sha256 });
    }
    Ok(out)
}

fn entry_error(e: &EntryError) -> ApiError {
    ApiError::bad_request(format!("invalid journal entry: {e}"))
}

/// The 409 for a sequence ID stored once with other content.
pub fn reused(sequence_id: i64) -> ApiError {
    ApiError::conflict(format!("journal entry sequenceID {sequence_id} was already stored with different content"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, op: i64) -> String {
        format!(r#"{{"version":1,"kind":0,"sequenceID":{seq},"operationID":{op},"removeOld":null,"removeNew":null}}"#)
    }

    #[test]
    fn keeps_each_entry_as_sent() {
        let body = format!(r#"{{"entries":[{}, {}]}}"#, entry(2, 1), entry(1, 1));
        let got = parse(body.as_bytes()).unwrap();
        assert_eq!(got.iter().map(|e| e.sequence_id).collect::<Vec<_>>(), [2, 1], "arrival order is kept");
        assert_eq!(got[0].text, entry(2, 1));
        assert_eq!(got[0].sha256, sha256_hex(entry(2, 1).as_bytes()));
    }

    #[test]
    fn an_empty_batch_is_fine() {
        assert!(parse(br#"{}"#).unwrap().is_empty());
        assert!(parse(br#"{"entries":[]}"#).unwrap().is_empty());
    }

    #[test]
    fn one_sequence_id_twice_must_be_the_same_entry() {
        let same = format!(r#"{{"entries":[{}, {}]}}"#, entry(1, 1), entry(1, 1));
        assert_eq!(parse(same.as_bytes()).unwrap().len(), 1);
        let other = format!(r#"{{"entries":[{}, {}]}}"#, entry(1, 1), entry(1, 2));
        assert_eq!(parse(other.as_bytes()).unwrap_err().status, 409);
    }

    #[test]
    fn bad_entries_are_400s_that_say_why() {
        let e = parse(br#"{"entries":[{"version":2,"kind":10,"sequenceID":1}]}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("version 2"), "{}", e.message);
        assert_eq!(parse(br#"{"entries":{}}"#).unwrap_err().status, 400);
        assert_eq!(parse(b"\xff").unwrap_err().status, 400);
    }
}
