//! Update bodies (`apitype/updates.go`, `history.go`): create, start, lease, complete, checkpoints, history.

use super::tags::Tags;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// `POST .../{stack}/{kind}` (`UpdateProgramRequest`). Kept as JSON pieces for the history.
#[derive(Debug, Deserialize)]
pub struct UpdateProgramRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub runtime: String,
    #[serde(default)]
    pub main: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub options: Value,
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub metadata: UpdateMetadata,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct UpdateMetadata {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub environment: Value,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateProgramResponse {
    #[serde(rename = "updateID")]
    pub update_id: String,
}

/// `POST .../update/{id}` (`StartUpdateRequest`): the tags replace the stack's.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartUpdateRequest {
    #[serde(default)]
    pub tags: Option<Tags>,
    #[serde(default)]
    pub journal_version: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StartUpdateResponse {
    pub version: i64,
    pub token: String,
    /// Unix seconds.
    pub token_expiration: i64,
    /// 1 when the update journals (`journalentries`), absent when it uploads checkpoints.
    #[serde(skip_serializing_if = "is_zero")]
    pub journal_version: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Deserialize)]
pub struct RenewLeaseRequest {
    #[serde(default)]
    pub duration: i64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewLeaseResponse {
    pub token: String,
    pub token_expiration: i64,
}

#[derive(Debug, Deserialize)]
pub struct CompleteUpdateRequest {
    pub status: String,
}

/// `PATCH .../checkpoint` (`PatchUpdateCheckpointRequest`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointRequest<'a> {
    #[serde(default)]
    pub is_invalid: bool,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub features: Option<Vec<String>>,
    #[serde(borrow, default)]
    pub deployment: Option<&'a RawValue>,
}

/// `PATCH .../checkpointverbatim`: `untypedDeployment` is the exact text later deltas apply to.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerbatimCheckpointRequest<'a> {
    #[serde(default)]
    pub version: i64,
    #[serde(borrow)]
    pub untyped_deployment: &'a RawValue,
    #[serde(default)]
    pub sequence_number: i64,
}

/// `PATCH .../checkpointdelta`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeltaCheckpointRequest {
    #[serde(default)]
    pub version: i64,
    pub checkpoint_hash: String,
    #[serde(default)]
    pub sequence_number: i64,
    pub deployment_delta: Vec<crate::checkpoint::delta::TextEdit>,
}

#[derive(Debug, Deserialize)]
pub struct EventBatch {
    pub events: Vec<Value>,
}

/// The largest inflated `events/batch` body. The CLI sends up to 50 events per batch; events go to D1, whose
/// rows are limited to 1 MB, so a batch is stored in pieces of at most [`MAX_EVENTS_PIECE`] and one event larger
/// than that is kept as a stub.
pub const MAX_EVENTS_BODY: usize = 4 << 20;
/// One D1 statement's events (a bound JSON array) stays under D1's 1 MB row and value limit.
pub const MAX_EVENTS_PIECE: usize = 900 << 10;
/// Events an update may store: its sequence numbers run from 0 (the CLI's first event) below this.
pub const MAX_EVENTS_PER_UPDATE: i64 = 500_000;

/// An `events/batch` body made ready for D1: JSON arrays of events, each small enough for one statement, and the
/// last summary's resource changes, if the batch has one.
#[derive(Debug, PartialEq, Eq)]
pub struct PreparedEvents {
    pub pieces: Vec<String>,
    pub resource_changes: Option<String>,
}

/// Checks an events batch: every event needs an integer `sequence` from 0 below [`MAX_EVENTS_PER_UPDATE`] (the
/// key the dashboard orders by and a retry is de-duplicated on).
///
/// # Errors
/// 400 for a body that is not a batch or an event without a valid sequence.
pub fn prepare_events(body: &[u8]) -> Result<PreparedEvents, crate::error::ApiError> {
    use crate::error::ApiError;
    let batch: EventBatch = crate::body::json_object(body)?;
    let resource_changes = batch
        .events
        .iter()
        .rev()
        .find_map(|e| e.get("summaryEvent").and_then(|s| s.get("resourceChanges")))
        .map(Value::to_string);
    let mut pieces = Vec::new();
    let mut piece = String::from("[");
    for (i, event) in batch.events.iter().enumerate() {
        let seq = event.get("sequence").and_then(Value::as_i64).filter(|n| (0..MAX_EVENTS_PER_UPDATE).contains(n));
        let Some(seq) = seq else {
            return Err(ApiError::bad_request(format!(
                "invalid event {i}: `sequence` must be an integer from 0 to {}",
                MAX_EVENTS_PER_UPDATE - 1
            )));
        };
        let mut text = event.to_string();
        if text.len() > MAX_EVENTS_PIECE - 2 {
            let timestamp = event.get("timestamp").cloned().unwrap_or(Value::Null);
            text = serde_json::json!({"sequence": seq, "timestamp": timestamp, "truncated": true,
                "diagnosticEvent": {"severity": "info", "color": "never",
                    "message": format!("(an event of {} bytes is too large to keep)\n", text.len())}})
            .to_string();
        }
        if piece.len() + text.len() + 2 > MAX_EVENTS_PIECE && piece.len() > 1 {
            piece.push(']');
            pieces.push(std::mem::replace(&mut piece, String::from("[")));
        }
        if piece.len() > 1 {
            piece.push(',');
        }
        piece.push_str(&text);
    }
    if piece.len() > 1 {
        piece.push(']');
        pieces.push(piece);
    }
    Ok(PreparedEvents { pieces, resource_changes })
}

/// The state of a stack nothing was ever stored for: what `export` answers before the first update, and the
/// checkpoint of a first update that stored nothing.
pub const EMPTY_DEPLOYMENT: &str =
    r#"{"version":3,"deployment":{"manifest":{"time":"0001-01-01T00:00:00Z","magic":"","version":""}}}"#;

/// The outcome of an update as history shows it.
pub fn result_of(status: &str) -> &'static str {
    match status {
        "succeeded" => "succeeded",
        "failed" => "failed",
        "cancelled" => "cancelled",
        "running" => "in-progress",
        _ => "not-started",
    }
}

/// Counts the resources of an `UntypedDeployment` text (`{"version", "deployment": {"resources": [...]}}`)
/// without materializing them.
pub fn resource_count(untyped: &str) -> Result<i64, serde_json::Error> {
    #[derive(Deserialize)]
    struct Untyped {
        #[serde(default)]
        deployment: Option<Inner>,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        resources: Option<Vec<serde::de::IgnoredAny>>,
    }
    let u: Untyped = serde_json::from_str(untyped)?;
    Ok(u.deployment.and_then(|d| d.resources).map_or(0, |r| r.len() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_resources_in_untyped_deployments() {
        let d = r#"{"version":3,"deployment":{"manifest":{},"resources":[{"urn":"a"},{"urn":"b","x":[1,{"y":2}]}]}}"#;
        assert_eq!(resource_count(d).unwrap(), 2);
        assert_eq!(resource_count(r#"{"version":3,"deployment":{}}"#).unwrap(), 0);
        assert!(resource_count("[").is_err());
    }

    #[test]
    fn events_need_a_sequence_and_are_cut_to_fit_d1() {
        let ok = br#"{"events":[{"sequence":0,"timestamp":1},{"sequence":1,"summaryEvent":{"resourceChanges":{"create":2}}}]}"#;
        let p = prepare_events(ok).unwrap();
        assert_eq!(p.pieces.len(), 1);
        assert_eq!(p.resource_changes.as_deref(), Some(r#"{"create":2}"#));
        for bad in [r#"{"events":[{"timestamp":1}]}"#, r#"{"events":[{"sequence":"1"}]}"#, r#"{"events":[{"sequence":-1}]}"#,
                    r#"{"events":[{"sequence":1.5}]}"#, r#"{"events":[{"sequence":500000}]}"#] {
            assert_eq!(prepare_events(bad.as_bytes()).unwrap_err().status, 400, "{bad}");
        }
        let big = "x".repeat(400 << 10);
        let many: Vec<Value> = (0..5).map(|i| serde_json::json!({"sequence": i, "stdoutEvent": {"message": big}})).collect();
        let p = prepare_events(serde_json::json!({"events": many}).to_string().as_bytes()).unwrap();
        assert!(p.pieces.len() >= 3 && p.pieces.iter().all(|x| x.len() <= MAX_EVENTS_PIECE), "{}", p.pieces.len());
        let total: usize = p.pieces.iter().map(|x| serde_json::from_str::<Vec<Value>>(x).unwrap().len()).sum();
        assert_eq!(total, 5);
        let huge = serde_json::json!({"events": [{"sequence": 3, "timestamp": 9, "resOutputsEvent": {"x": "y".repeat(2 << 20)}}]});
        let p = prepare_events(huge.to_string().as_bytes()).unwrap();
        let stub: Vec<Value> = serde_json::from_str(&p.pieces[0]).unwrap();
        assert_eq!((stub[0]["sequence"].as_i64(), stub[0]["truncated"].as_bool()), (Some(3), Some(true)));
    }

    #[test]
    fn delta_request_reads_the_cli_body() {
        let body = r#"{"version":3,"checkpointHash":"ab","sequenceNumber":2,"deploymentDelta":[
            {"Span":{"uri":"","start":{"line":1,"column":0,"offset":1},"end":{"line":1,"column":0,"offset":2}},"NewText":"z"}]}"#;
        let r: DeltaCheckpointRequest = serde_json::from_str(body).unwrap();
        assert_eq!((r.sequence_number, r.deployment_delta.len()), (2, 1));
    }
}
