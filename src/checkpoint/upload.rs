//! A checkpoint upload as the stack's lease object receives it: which route it came by, its sequence number, and
//! the new text or the edits that produce it. Parsing and applying are pure; the Durable Object adds storage.

use super::delta::{self, TextEdit};
use super::sequence::{self, Upload as Decision};
use crate::api::updates::{CheckpointRequest, DeltaCheckpointRequest, VerbatimCheckpointRequest};
use crate::error::ApiError;

/// The route a checkpoint came by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadKind {
    /// `checkpoint`: `{version, features, deployment}`, re-assembled into the untyped deployment text.
    Full,
    /// `checkpointverbatim`: `untypedDeployment` is the exact text later deltas apply to.
    Verbatim,
    /// `checkpointdelta`: edits against the previous text and the hash of the result.
    Delta,
    /// `import`: the whole body is the untyped deployment.
    Import,
}

impl UploadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Verbatim => "verbatim",
            Self::Delta => "delta",
            Self::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "full" => Self::Full,
            "verbatim" => Self::Verbatim,
            "delta" => Self::Delta,
            "import" => Self::Import,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Text(Vec<u8>),
    Delta { edits: Vec<TextEdit>, hash: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The CLI's `sequenceNumber` (0 when the route has none).
    pub sequence: i64,
    pub body: Body,
}

/// What is stored for the running update: the last upload's sequence number and its text's hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    pub sequence: i64,
    pub sha256: String,
    pub size: u64,
}

/// Parses a request body (already inflated) of `kind`. The body is taken by value so a verbatim or imported text
/// reuses its allocation: a 20 MB state is not copied again (the isolate has 128 MB).
///
/// # Errors
/// 400 for a body that is not what the route expects.
pub fn parse(mut bytes: Vec<u8>, kind: UploadKind) -> Result<Upload, ApiError> {
    let bad = |e: serde_json::Error| ApiError::bad_json(&e);
    crate::body::require_object(&bytes)?;
    match kind {
        UploadKind::Full => {
            let body: CheckpointRequest = serde_json::from_slice(&bytes).map_err(bad)?;
            let deployment = body.deployment.ok_or_else(|| ApiError::bad_request("checkpoint has no deployment"))?;
            let v = if body.version > 0 { body.version } else { 3 };
            let mut out = format!("{{\"version\":{v}");
            if let Some(f) = body.features.filter(|f| !f.is_empty()) {
                out.push_str(",\"features\":");
                out.push_str(&serde_json::to_string(&f).map_err(bad)?);
            }
            out.push_str(",\"deployment\":");
            out.push_str(deployment.get());
            out.push('}');
            Ok(Upload { sequence: 0, body: Body::Text(out.into_bytes()) })
        }
        UploadKind::Verbatim => {
            let (sequence, start, len) = {
                let body: VerbatimCheckpointRequest = serde_json::from_slice(&bytes).map_err(bad)?;
                let text = body.untyped_deployment.get();
                (body.sequence_number, text.as_ptr() as usize - bytes.as_ptr() as usize, text.len())
            };
            bytes.truncate(start + len);
            bytes.drain(..start);
            Ok(Upload { sequence, body: Body::Text(bytes) })
        }
        UploadKind::Delta => {
            let body: DeltaCheckpointRequest = serde_json::from_slice(&bytes).map_err(bad)?;
            Ok(Upload {
                sequence: body.sequence_number,
                body: Body::Delta { edits: body.deployment_delta, hash: body.checkpoint_hash },
            })
        }
        UploadKind::Import => {
            validate_import(&bytes)?;
            Ok(Upload { sequence: 0, body: Body::Text(bytes) })
        }
    }
}

/// Checks that an import body is an untyped deployment (`{"version": N, "deployment": {...}}`).
///
/// # Errors
/// 400 naming what is wrong.
pub fn validate_import(bytes: &[u8]) -> Result<(), ApiError> {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Untyped<'a> {
        version: i64,
        #[serde(borrow)]
        deployment: &'a serde_json::value::RawValue,
    }
    serde_json::from_slice::<Untyped>(bytes).map(|_| ()).map_err(|e| ApiError::bad_json(&e))
}

impl Upload {
    /// The hash the new text will have: computed for a whole text, the client's claim for a delta.
    pub fn claimed_sha256(&self) -> String {
        match &self.body {
            Body::Text(t) => delta::sha256_hex(t),
            Body::Delta { hash, .. } => hash.to_ascii_lowercase(),
        }
    }

    /// Whether this upload must be stored, given what is stored for the update.
    ///
    /// # Errors
    /// 409 for a sequence number reused with other content.
    pub fn decide(&self, stored: Option<&Mark>) -> Result<Decision, ApiError> {
        let (seq, sha) = stored.map_or((0, None), |m| (m.sequence, Some(m.sha256.as_str())));
        sequence::decide(seq, sha, self.sequence, &self.claimed_sha256())
    }

    /// Whether producing the new text needs the previous one.
    pub fn needs_previous(&self) -> bool {
        matches!(self.body, Body::Delta { .. })
    }

    /// The new checkpoint text. `previous` is the stored text (required for a delta).
    ///
    /// # Errors
    /// 409 when a delta does not apply (no previous text, edits out of range, or the hash differs): the CLI then
    /// falls back to uploading the whole text.
    pub fn into_text(self, previous: Option<&[u8]>) -> Result<Vec<u8>, ApiError> {
        match self.body {
            Body::Text(t) => Ok(t),
            Body::Delta { edits, hash } => {
                let before =
                    previous.ok_or_else(|| ApiError::conflict("no previous checkpoint to apply the delta to"))?;
                delta::apply_verified(before, &edits, &hash)
                    .map_err(|e| ApiError::conflict(format!("checkpoint delta rejected: {e}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta_body(seq: i64, before: &str, after: &str) -> Vec<u8> {
        // One edit replacing the whole text is a valid delta.
        serde_json::json!({"version": 3, "sequenceNumber": seq, "checkpointHash": delta::sha256_hex(after.as_bytes()),
            "deploymentDelta": [{"Span": {"uri": "", "start": {"line": 1, "column": 0, "offset": 0},
                "end": {"line": 1, "column": 0, "offset": before.len()}}, "NewText": after}]})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_full_checkpoint_is_reassembled_into_the_untyped_text() {
        let body = br#"{"isInvalid":false,"version":3,"features":["x"],"deployment":{"resources":[]}}"#;
        let u = parse(body.to_vec(), UploadKind::Full).unwrap();
        assert_eq!(u.body, Body::Text(br#"{"version":3,"features":["x"],"deployment":{"resources":[]}}"#.to_vec()));
        assert_eq!(u.sequence, 0);
    }

    #[test]
    fn verbatim_keeps_the_exact_text_and_its_number() {
        let body = br#"{"version":3,"untypedDeployment":{"version":3,"deployment":{ "a" :1}},"sequenceNumber":4}"#;
        let u = parse(body.to_vec(), UploadKind::Verbatim).unwrap();
        assert_eq!((u.sequence, u.body), (4, Body::Text(br#"{"version":3,"deployment":{ "a" :1}}"#.to_vec())));
    }

    #[test]
    fn a_delta_applies_to_the_previous_text_and_retries_are_no_ops() {
        let before = r#"{"version":3,"deployment":{}}"#;
        let after = r#"{"version":3,"deployment":{"resources":[]}}"#;
        let stored = Mark { sequence: 1, sha256: delta::sha256_hex(before.as_bytes()), size: 0 };
        let u = parse(delta_body(2, before, after), UploadKind::Delta).unwrap();
        assert!(u.needs_previous());
        assert_eq!(u.decide(Some(&stored)).unwrap(), Decision::Store);
        assert_eq!(u.clone().into_text(Some(before.as_bytes())).unwrap(), after.as_bytes());
        assert_eq!(u.clone().into_text(None).unwrap_err().status, 409);
        let applied = Mark { sequence: 2, sha256: delta::sha256_hex(after.as_bytes()), size: 0 };
        assert_eq!(u.decide(Some(&applied)).unwrap(), Decision::AlreadyStored);
    }

    #[test]
    fn an_import_must_be_an_untyped_deployment() {
        assert!(parse(br#"{"version":3,"deployment":{}}"#.to_vec(), UploadKind::Import).is_ok());
        assert_eq!(parse(br#"{"deployment":{}}"#.to_vec(), UploadKind::Import).unwrap_err().status, 400);
        assert_eq!(parse(b"[".to_vec(), UploadKind::Verbatim).unwrap_err().status, 400);
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for k in [UploadKind::Full, UploadKind::Verbatim, UploadKind::Delta, UploadKind::Import] {
            assert_eq!(UploadKind::parse(k.as_str()), Some(k));
        }
    }
}
