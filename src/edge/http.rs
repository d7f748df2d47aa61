//! HTTP plumbing at the edge: the one mapping of `ApiError` to a response, JSON bodies in and out.

use crate::error::ApiError;
use serde::{de::DeserializeOwned, Serialize};
use worker::{Headers, Request, Response};

/// API request bodies other than checkpoints are small JSON documents; a cap keeps a hostile body from costing
/// memory (the isolate has 128 MB, and Workers accept request bodies up to 100 MB).
pub const MAX_JSON_BODY: usize = 1 << 20;

/// Internal failures become a 500 whose detail goes to the log only.
impl From<worker::Error> for ApiError {
    fn from(e: worker::Error) -> Self {
        worker::console_error!("internal error: {e}");
        ApiError::internal("internal error: the server could not complete the request")
    }
}

/// The one place an `ApiError` becomes a response: the Pulumi error shape `{"code", "message"}`.
pub fn error_response(e: &ApiError) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    if let Some(s) = e.retry_after {
        headers.set("retry-after", &s.to_string())?;
    }
    Ok(Response::ok(e.body().to_string())?.with_status(e.status).with_headers(headers))
}

pub type ApiResult<T> = Result<T, ApiError>;

pub fn json<T: Serialize>(value: &T) -> ApiResult<Response> {
    Ok(Response::from_json(value)?)
}

/// The answer to a write with nothing to return: 200 with `{}`, not a 204. Under `wrangler dev` an empty body
/// is still marked `Content-Encoding: gzip` when the client accepts gzip, and the CLI then fails reading an
/// empty gzip stream ("reading gzip-compressed body: EOF"); a small JSON body is encoded for real.
pub fn no_content() -> ApiResult<Response> {
    json(&serde_json::json!({}))
}

/// Reads a JSON request body of at most [`MAX_JSON_BODY`] bytes.
///
/// # Errors
/// 413 when the body is larger than the cap, 400 when it is not the JSON `T` expects.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.parse::<usize>().map_or(false, |n| n > MAX_JSON_BODY) {
            return Err(too_large());
        }
    }
    let bytes = req.bytes().await?;
    if bytes.len() > MAX_JSON_BODY {
        return Err(too_large());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("invalid request body: a JSON body is required"));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_json(&e))
}

fn too_large() -> ApiError {
    ApiError::payload_too_large(format!("request body is larger than {} bytes", MAX_JSON_BODY))
}
