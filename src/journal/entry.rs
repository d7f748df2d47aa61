//! Journal entries (`sdk/go/common/apitype/journal.go`) as replay reads them: the fields that steer it, with every
//! resource, operation and snapshot kept as the exact JSON text the CLI sent (secrets already encrypted).
//! Unknown fields are ignored, never refused: a newer CLI may add some, and a 400 would fail its update.

use super::view::Text;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

/// The journal format this server speaks (`journalVersion` in `StartUpdate`). Version 2 adds state-migration
/// entries; an older server keeps newer CLIs on version 1 by answering `min(requested, 1)`.
pub const JOURNAL_VERSION: i64 = 1;

/// `apitype.JournalEntryKind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Begin,
    Success,
    Failure,
    RefreshSuccess,
    Outputs,
    Write,
    SecretsManager,
    RebuiltBaseState,
    ExtensionParameterize,
    Snippets,
}

impl Kind {
    /// The kinds of journal version 1 (0-9). Kind 10, state migration, needs version 2, which is not offered.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Begin,
            1 => Self::Success,
            2 => Self::Failure,
            3 => Self::RefreshSuccess,
            4 => Self::Outputs,
            5 => Self::Write,
            6 => Self::SecretsManager,
            7 => Self::RebuiltBaseState,
            8 => Self::ExtensionParameterize,
            9 => Self::Snippets,
            _ => return None,
        })
    }
}

/// One journal entry, borrowed from its JSON text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry<'a> {
    pub version: i64,
    pub kind: i64,
    #[serde(rename = "sequenceID")]
    pub sequence_id: i64,
    #[serde(rename = "operationID", default)]
    pub operation_id: i64,
    #[serde(default)]
    pub remove_old: Option<i64>,
    #[serde(default)]
    pub remove_new: Option<i64>,
    #[serde(default)]
    pub pending_replacement_old: Option<i64>,
    #[serde(default)]
    pub pending_replacement_new: Option<i64>,
    #[serde(default)]
    pub delete_old: Option<i64>,
    #[serde(default)]
    pub delete_new: Option<i64>,
    #[serde(borrow, default)]
    pub state: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub operation: Option<&'a RawValue>,
    #[serde(default)]
    pub is_refresh: bool,
    #[serde(borrow, default)]
    pub secrets_provider: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub snippets: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub new_snapshot: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub extension_ref: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub extension: Option<&'a RawValue>,
    #[serde(default)]
    pub requires_byte_string: bool,
}

/// What is wrong with an entry or a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// The entry is not JSON of the entry's shape.
    Malformed { detail: String },
    /// A version other than [`JOURNAL_VERSION`].
    Version { sequence_id: i64, version: i64 },
    /// A kind this journal version does not have.
    Kind { sequence_id: i64, kind: i64 },
    /// Sequence IDs start at 1.
    Sequence { sequence_id: i64 },
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { detail } => write!(f, "malformed journal entry: {detail}"),
            Self::Version { sequence_id, version } => {
                write!(f, "journal entry {sequence_id} has version {version}; this server accepts version {JOURNAL_VERSION}")
            }
            Self::Kind { sequence_id, kind } => write!(f, "journal entry {sequence_id} has unknown kind {kind}"),
            Self::Sequence { sequence_id } => write!(f, "journal entry sequenceID {sequence_id} must be 1 or more"),
        }
    }
}

impl<'a> Entry<'a> {
    /// Parses and checks an entry's version, kind and sequence ID.
    ///
    /// # Errors
    /// [`EntryError`] naming what is wrong (never quoting the entry, which carries resource state).
    pub fn parse(text: &'a str) -> Result<(Self, Kind), EntryError> {
        let e: Entry = serde_json::from_str(text).map_err(|err| EntryError::Malformed { detail: describe(&err) })?;
        let kind = e.check()?;
        Ok((e, kind))
    }

    fn check(&self) -> Result<Kind, EntryError> {
        if self.sequence_id < 1 {
            return Err(EntryError::Sequence { sequence_id: self.sequence_id });
        }
        if self.version != JOURNAL_VERSION {
            return Err(EntryError::Version { sequence_id: self.sequence_id, version: self.version });
        }
        Kind::from_code(self.kind).ok_or(EntryError::Kind { sequence_id: self.sequence_id, kind: self.kind })
    }
}

/// serde's description of a JSON error without the input it quotes (entries carry resource state).
fn describe(e: &serde_json::Error) -> String {
    crate::error::ApiError::bad_json(e).message.trim_start_matches("invalid request body: ").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_entry_as_the_cli_writes_it() {
        let text = r#"{"version":1,"kind":1,"sequenceID":7,"operationID":3,"removeOld":2,"removeNew":null,
            "state":{"urn":"urn:pulumi:s::p::t:m:R::a","custom":true,"type":"t:m:R"},"isRefresh":true,
            "someFutureField":{"x":1}}"#;
        let (e, kind) = Entry::parse(text).unwrap();
        assert_eq!(kind, Kind::Success);
        assert_eq!((e.sequence_id, e.operation_id, e.remove_old, e.remove_new), (7, 3, Some(2), None));
        assert!(e.state.unwrap().get().starts_with(r#"{"urn""#));
        assert!(e.is_refresh);
    }

    #[test]
    fn refuses_what_version_one_does_not_have() {
        let bad = |t: &str| Entry::parse(t).unwrap_err();
        assert!(matches!(bad(r#"{"version":2,"kind":10,"sequenceID":1}"#), EntryError::Version { version: 2, .. }));
        assert!(matches!(bad(r#"{"version":1,"kind":11,"sequenceID":1}"#), EntryError::Kind { kind: 11, .. }));
        assert!(matches!(bad(r#"{"version":1,"kind":0,"sequenceID":0}"#), EntryError::Sequence { .. }));
        let m = bad(r#"{"version":1,"kind":"secret-ish","sequenceID":1}"#).to_string();
        assert!(m.contains("malformed") && !m.contains("secret-ish"), "{m}");
    }
}
