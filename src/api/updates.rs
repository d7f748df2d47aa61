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
    fn delta_request_reads_the_cli_body() {
        let body = r#"{"version":3,"checkpointHash":"ab","sequenceNumber":2,"deploymentDelta":[
            {"Span":{"uri":"","start":{"line":1,"column":0,"offset":1},"end":{"line":1,"column":0,"offset":2}},"NewText":"z"}]}"#;
        let r: DeltaCheckpointRequest = serde_json::from_str(body).unwrap();
        assert_eq!((r.sequence_number, r.deployment_delta.len()), (2, 1));
    }
}
