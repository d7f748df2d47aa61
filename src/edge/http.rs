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

/// Why an outgoing fetch brought no response.
pub enum NoAnswer {
    Failed(worker::Error),
    TimedOut,
}

/// Sends `fetch`, giving up after `timeout`: a Workers fetch has no timeout of its own, and a request waiting on a
/// stuck upstream still counts against the CLI's patience.
pub async fn send_within(fetch: worker::Fetch, timeout: std::time::Duration) -> Result<Response, NoAnswer> {
    use futures_util::future::{select, Either};
    let sent = Box::pin(fetch.send());
    let timer = Box::pin(worker::Delay::from(timeout));
    match select(sent, timer).await {
        Either::Left((Ok(resp), _)) => Ok(resp),
        Either::Left((Err(e), _)) => Err(NoAnswer::Failed(e)),
        Either::Right(_) => Err(NoAnswer::TimedOut),
    }
}

pub fn json<T: Serialize>(value: &T) -> ApiResult<Response> {
    Ok(Response::from_json(value)?)
}

/// The answer to a write with nothing to return: 200 with `{}`, not a 204. Under `wrangler dev` an empty body
/// is still marked `Content-Encoding: gzip` when the client accepts gzip, and the CLI then fails reading an
/// empty gzip stream ("reading gzip-compressed body: EOF"); a small JSON body is encoded for real.
pub fn no_content() -> ApiResult<Response> {
    json(&serde_json::json!({}))
}

/// Checkpoints, imports and batches are larger. The inflated body, the parsed request and the stored copy all
/// live in one 128 MB isolate at once, so the inflated size is capped well below it (a 20 MB state must work).
pub const MAX_LARGE_BODY: usize = 48 << 20;

/// Our own serialization failing is an internal error.
impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        worker::console_error!("internal serialization error: {e}");
        ApiError::internal("internal error: the server could not encode its answer")
    }
}

/// The message of the 400 for a missing body (a route where the body is optional looks for it).
pub const EMPTY_BODY: &str = "invalid request body: a JSON body is required";

/// Reads a request body of at most `cap` bytes after inflating `Content-Encoding: gzip` (which the CLI uses for
/// checkpoints, events, imports and batches). A gzip bomb stops at the cap with 413, before using the memory.
///
/// # Errors
/// 413 over the cap, 400 for a body that is not valid gzip or is empty.
pub async fn read_body(req: &mut Request, cap: usize) -> ApiResult<Vec<u8>> {
    let gzip = req.headers().get("content-encoding")?.is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let raw = read_raw(req, if gzip { gzip_cap(cap) } else { cap }).await?;
    let bytes = if gzip { crate::body::gunzip(&raw, cap)? } else { raw };
    if bytes.len() > cap {
        return Err(too_large(cap));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(EMPTY_BODY));
    }
    Ok(bytes)
}

/// The most compressed bytes a body that inflates to at most `cap` can take: gzip adds at most a few bytes per
/// 16 KiB block (stored blocks) plus its header and trailer.
fn gzip_cap(cap: usize) -> usize {
    cap + cap / 1024 + 1024
}

/// The body as sent, refused past `cap` bytes. A declared `Content-Length` over the cap is refused before reading;
/// a body without one (chunked) is counted while it streams and cut off at the cap, never buffered whole first.
async fn read_raw(req: &mut Request, cap: usize) -> ApiResult<Vec<u8>> {
    match req.headers().get("content-length")?.map(|l| l.trim().parse::<usize>()) {
        Some(Ok(n)) if n > cap => Err(too_large(cap)),
        Some(Ok(_)) => Ok(req.bytes().await?),
        _ => collect_capped(req.stream()?, cap).await?.ok_or_else(|| too_large(cap)),
    }
}

/// A body read as it streams, `None` once it passes `cap` bytes (what was read so far is dropped then, never
/// the whole body held first): request bodies without a length, and what the edge fetches from others.
pub async fn collect_capped(mut stream: worker::ByteStream, cap: usize) -> worker::Result<Option<Vec<u8>>> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if out.len() + chunk.len() > cap {
            return Ok(None);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Some(out))
}

/// Reads a small JSON request body (at most [`MAX_JSON_BODY`] bytes).
///
/// # Errors
/// 413 when the body is larger than the cap, 400 when it is not the JSON `T` expects.
pub async fn read_json<T: DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    let bytes = read_body(req, MAX_JSON_BODY).await?;
    crate::body::json_object(&bytes)
}

fn too_large(cap: usize) -> ApiError {
    ApiError::payload_too_large(format!("request body is larger than {cap} bytes"))
}
