//! `checkpointdelta`: text edits against the previous checkpoint text, checked by SHA-256.
//!
//! The CLI (`pkg/backend/httpstate/diffs.go`) marshals each checkpoint compactly with one span per resource,
//! diffs the spans of the last saved text against the new one, and sends the differing runs as gotextdiff
//! `TextEdit`s, whose JSON has no tags: `{"Span": {"uri", "start": {"line", "column", "offset"}, "end": ...},
//! "NewText": "..."}`. Only byte offsets matter (lines are always 1, columns 0). Edits come in order and do not
//! overlap. The result must hash to `checkpointHash` (hex SHA-256); anything else fails, and the CLI then falls
//! back to uploading the whole checkpoint verbatim.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct Point {
    pub offset: usize,
}

#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct Span {
    pub start: Point,
    pub end: Point,
}

/// One gotextdiff `TextEdit`: replace bytes `[start, end)` of the old text with `NewText`.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
pub struct TextEdit {
    #[serde(rename = "Span")]
    pub span: Span,
    #[serde(rename = "NewText")]
    pub new_text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaError {
    /// An edit starts before the previous one ended, or ends before it starts.
    OutOfOrder { index: usize },
    /// An edit reaches past the end of the previous text.
    OutOfBounds { index: usize, end: usize, len: usize },
    /// The patched text does not hash to what the CLI computed.
    HashMismatch { expected: String, actual: String },
}

impl fmt::Display for DeltaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfOrder { index } => write!(f, "delta edit {index} overlaps or precedes the edit before it"),
            Self::OutOfBounds { index, end, len } => {
                write!(f, "delta edit {index} ends at byte {end}, past the previous checkpoint's {len} bytes")
            }
            Self::HashMismatch { expected, actual } => {
                write!(f, "checkpoint hash mismatch: the delta produced {actual}, the client expected {expected}")
            }
        }
    }
}

impl std::error::Error for DeltaError {}

/// Applies `edits` to `before`.
///
/// # Errors
/// When an edit is out of order or out of bounds.
pub fn apply(before: &[u8], edits: &[TextEdit]) -> Result<Vec<u8>, DeltaError> {
    let inserted: usize = edits.iter().map(|e| e.new_text.len()).sum();
    let mut out = Vec::with_capacity(before.len() + inserted);
    let mut pos = 0usize;
    for (index, e) in edits.iter().enumerate() {
        let (start, end) = (e.span.start.offset, e.span.end.offset);
        if start < pos || end < start {
            return Err(DeltaError::OutOfOrder { index });
        }
        if end > before.len() {
            return Err(DeltaError::OutOfBounds { index, end, len: before.len() });
        }
        out.extend_from_slice(&before[pos..start]);
        out.extend_from_slice(e.new_text.as_bytes());
        pos = end;
    }
    out.extend_from_slice(&before[pos..]);
    Ok(out)
}

/// Lowercase hex SHA-256, the form of `checkpointHash`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    s
}

/// Applies `edits` and checks the result against `expected_hash`.
///
/// # Errors
/// As [`apply`], or [`DeltaError::HashMismatch`].
pub fn apply_verified(before: &[u8], edits: &[TextEdit], expected_hash: &str) -> Result<Vec<u8>, DeltaError> {
    let after = apply(before, edits)?;
    let actual = sha256_hex(&after);
    if !actual.eq_ignore_ascii_case(expected_hash) {
        return Err(DeltaError::HashMismatch { expected: expected_hash.to_owned(), actual });
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(start: usize, end: usize, text: &str) -> TextEdit {
        TextEdit { span: Span { start: Point { offset: start }, end: Point { offset: end } }, new_text: text.into() }
    }

    #[test]
    fn reads_the_json_gotextdiff_writes() {
        let json = r#"[{"Span":{"uri":"","start":{"line":1,"column":0,"offset":3},
                        "end":{"line":1,"column":0,"offset":5}},"NewText":"xy"}]"#;
        let edits: Vec<TextEdit> = serde_json::from_str(json).unwrap();
        assert_eq!(edits, vec![edit(3, 5, "xy")]);
    }

    #[test]
    fn applies_replacements_insertions_and_deletions() {
        let before = br#"{"resources":[{"a":1},{"b":2},{"c":3}]}"#;
        // replace {"a":1} with {"a":9}; delete ,{"b":2}; insert ,{"d":4} before ]
        let a = 14;
        let edits = [edit(a, a + 7, r#"{"a":9}"#), edit(a + 7, a + 15, ""), edit(a + 23, a + 23, r#",{"d":4}"#)];
        let after = apply(before, &edits).unwrap();
        assert_eq!(std::str::from_utf8(&after).unwrap(), r#"{"resources":[{"a":9},{"c":3},{"d":4}]}"#);
        let hash = sha256_hex(&after);
        assert_eq!(apply_verified(before, &edits, &hash).unwrap(), after);
    }

    #[test]
    fn no_edits_is_the_same_text() {
        assert_eq!(apply(b"abc", &[]).unwrap(), b"abc");
    }

    #[test]
    fn refuses_edits_that_do_not_fit() {
        assert_eq!(apply(b"abcdef", &[edit(2, 4, ""), edit(3, 5, "")]), Err(DeltaError::OutOfOrder { index: 1 }));
        assert_eq!(apply(b"abcdef", &[edit(4, 2, "")]), Err(DeltaError::OutOfOrder { index: 0 }));
        assert_eq!(
            apply(b"abc", &[edit(1, 9, "")]),
            Err(DeltaError::OutOfBounds { index: 0, end: 9, len: 3 })
        );
    }

    #[test]
    fn a_wrong_hash_fails_so_the_cli_falls_back() {
        let e = apply_verified(b"abc", &[edit(0, 1, "x")], &sha256_hex(b"abc")).unwrap_err();
        assert!(matches!(e, DeltaError::HashMismatch { .. }));
        assert!(e.to_string().contains("hash mismatch"));
    }

    /// Vectors from `tests/tools/deltavectors`, which computes edits with the same libraries and span layout as
    /// the CLI (`pkg/backend/httpstate/diffs.go`): each must rebuild the exact new text and hash.
    #[test]
    fn applies_edits_computed_the_way_the_cli_computes_them() {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Vector {
            name: String,
            before: String,
            after: String,
            checkpoint_hash: String,
            deployment_delta: Vec<TextEdit>,
        }
        let vectors: Vec<Vector> = serde_json::from_str(include_str!("../../tests/fixtures/delta-vectors.json")).unwrap();
        assert!(vectors.len() >= 10);
        for v in vectors {
            let after = apply_verified(v.before.as_bytes(), &v.deployment_delta, &v.checkpoint_hash)
                .unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(std::str::from_utf8(&after).unwrap(), v.after, "{}", v.name);
            assert_eq!(v.deployment_delta.is_empty(), v.before == v.after, "{}: edits exactly when changed", v.name);
            // A server whose stored text drifted from the client's must notice.
            let drifted = format!("{} ", v.before);
            let wrong = apply_verified(drifted.as_bytes(), &v.deployment_delta, &v.checkpoint_hash);
            assert!(matches!(wrong, Err(DeltaError::HashMismatch { .. })), "{}", v.name);
        }
    }

    #[test]
    fn sha256_is_lowercase_hex() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
