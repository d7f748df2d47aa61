//! `StackLease`: one Durable Object per stack, the single writer of its update state. It owns the stack's
//! [`Engine`] and wires it to storage (`backends.rs`): its own storage for the lease record and the journal, R2 for
//! checkpoint objects, D1 for the ledger. Every rule lives in `crate::engine`; this file is transport.
//!
//! The worker calls it with JSON ([`LeaseCall`]) or, for bodies (checkpoints, journal batches, imports), with the
//! inflated bytes and headers naming the update. Its alarm fires when the lease would expire.

use super::backends::Backends;
use super::memo::now_ms;
use crate::checkpoint::upload::UploadKind;
use crate::engine::{Engine, ImportRequest, Lease, StartRequest};
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Headers, Method, Request, RequestInit, Response, Result, State};

#[cfg(feature = "faults")]
use crate::engine::faults::{FaultPlan, Faults, Faulty, Step};
use futures_channel::mpsc::{channel, Sender};
use futures_util::StreamExt;
use std::cell::RefCell;

/// One browser watching a running update (`GET .../update/{id}/live`).
///
/// Server-sent events rather than a WebSocket: the dashboard authenticates with an `Authorization` header, which
/// `fetch` can send and the WebSocket constructor cannot, so a watch goes through the same route, authentication
/// and role check as every other read, with no ticket scheme beside it. The price is that the object stays awake
/// while someone watches (it cannot hibernate with a stream open); a watch lasts at most as long as its update.
struct Watcher {
    update_id: String,
    tx: Sender<Vec<u8>>,
}

/// Frames a watcher may have waiting (a batch each). A browser that falls this far behind is dropped rather than
/// buffered without bound in the object's 128 MB; its page reads the stored events and watches again.
const WATCH_QUEUE: usize = 64;

const END_FRAME: &[u8] = b"event: end\ndata: {}\n\n";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LeaseCall {
    /// Takes the lease and marks the update started in D1.
    Start {
        update_id: String,
        token: String,
        stack_id: i64,
        lease_ms: i64,
        persists_state: bool,
        tags: Option<String>,
        journal_version: i64,
        journaling: bool,
        engine_version: String,
    },
    /// Checks a lease token; with `ended_ok`, also accepts the token of the update that last ended (a retry).
    Check { update_id: String, token: String, ended_ok: bool },
    Renew { update_id: String, token: String, duration: i64, max_ms: i64 },
    /// Ends the update with `status` (its token's own call).
    Complete { update_id: String, token: String, status: String },
    /// Ends `update_id` if it runs, or records a not-started one as cancelled (an API-token action).
    Cancel { stack_id: i64, update_id: String },
    Status,
    Rename { stack_id: i64, org: String, project: String, name: String },
    Delete { stack_id: i64, force: bool },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseReply {
    #[serde(default)]
    pub lease: Option<Lease>,
    #[serde(default)]
    pub version: i64,
    #[serde(default)]
    pub journal_version: i64,
}

#[durable_object]
pub struct StackLease {
    state: State,
    env: Env,
    engine: Engine,
    watchers: RefCell<Vec<Watcher>>,
    #[cfg(feature = "faults")]
    faults: Faults,
}

impl StackLease {
    fn stores(&self) -> Backends {
        Backends::new(&self.state, &self.env)
    }

    /// The stores with the test build's fault plan applied, for a call at `step`.
    #[cfg(feature = "faults")]
    fn faulty<'a>(&'a self, b: &'a Backends, step: Step) -> Faulty<'a, Backends> {
        fn sleep(ms: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
            Box::pin(worker::Delay::from(std::time::Duration::from_millis(ms)))
        }
        Faulty { inner: b, faults: &self.faults, step, sleep }
    }

    async fn apply(&self, call: LeaseCall) -> std::result::Result<LeaseReply, ApiError> {
        let s = self.stores();
        #[cfg(feature = "faults")]
        let s = self.faulty(&s, call.step());
        let e = &self.engine;
        let t = now_ms();
        Ok(match call {
            LeaseCall::Start { update_id, token, stack_id, lease_ms, persists_state, tags, journal_version, journaling, engine_version } => {
                let req = StartRequest { update_id, token, stack_id, lease_ms, persists_state, tags, journal_version, journaling, engine_version };
                let r = e.start(&s, req, t).await?;
                LeaseReply { lease: Some(r.lease), version: r.version, journal_version: r.journal_version }
            }
            LeaseCall::Check { update_id, token, ended_ok } => {
                LeaseReply { lease: e.check(&s, &update_id, &token, ended_ok, t).await?, ..Default::default() }
            }
            LeaseCall::Renew { update_id, token, duration, max_ms } => {
                LeaseReply { lease: Some(e.renew(&s, &update_id, &token, duration, max_ms, t).await?), ..Default::default() }
            }
            LeaseCall::Complete { update_id, token, status } => {
                e.complete(&s, &update_id, &token, &status, t).await?;
                LeaseReply::default()
            }
            LeaseCall::Cancel { stack_id, update_id } => {
                e.cancel(&s, stack_id, &update_id, t).await?;
                LeaseReply::default()
            }
            LeaseCall::Status => LeaseReply { lease: e.status(&s, t).await?, ..Default::default() },
            LeaseCall::Rename { stack_id, org, project, name } => {
                e.rename(&s, stack_id, (&org, &project, &name), t).await?;
                LeaseReply::default()
            }
            LeaseCall::Delete { stack_id, force } => {
                e.delete_stack(&s, stack_id, force, t).await?;
                LeaseReply::default()
            }
        })
    }

    /// Calls that carry a body: the bytes as the worker inflated them, the rest in headers.
    async fn with_body(&self, path: &str, req: &mut Request) -> Result<std::result::Result<LeaseReply, ApiError>> {
        let h = req.headers();
        let header = |name: &str| h.get(name).ok().flatten().unwrap_or_default();
        let (update_id, token) = (header("x-update-id"), header("x-token"));
        let (kind, requested_by, stack_id) = (header("x-kind"), header("x-requested-by"), header("x-stack-id"));
        let body = req.bytes().await?;
        let s = self.stores();
        #[cfg(feature = "faults")]
        let s = self.faulty(&s, match path {
            "/checkpoint" => Step::Checkpoint,
            "/journal" => Step::Journal,
            "/import" => Step::Import,
            _ => Step::Other,
        });
        let e = &self.engine;
        Ok(match path {
            "/checkpoint" => match UploadKind::parse(&kind) {
                Some(kind) => e.checkpoint(&s, &update_id, &token, kind, body, now_ms()).await.map(|()| LeaseReply::default()),
                None => Err(ApiError::bad_request("bad checkpoint call")),
            },
            "/journal" => e.journal(&s, &update_id, &token, &body, now_ms()).await.map(|_| LeaseReply::default()),
            "/import" => {
                let Ok(stack_id) = stack_id.parse() else { return Ok(Err(ApiError::bad_request("bad import call"))) };
                let req = ImportRequest { update_id, stack_id, requested_by };
                e.import(&s, req, body, now_ms()).await.map(|version| LeaseReply { version, ..Default::default() })
            }
            _ => Err(ApiError::not_found("no such lease call")),
        })
    }
}

#[cfg(feature = "faults")]
impl LeaseCall {
    /// The fault point this call is.
    fn step(&self) -> Step {
        match self {
            Self::Start { .. } => Step::Start,
            Self::Complete { .. } => Step::Complete,
            Self::Cancel { .. } => Step::Cancel,
            Self::Delete { .. } => Step::Delete,
            _ => Step::Other,
        }
    }
}

#[cfg(feature = "faults")]
impl StackLease {
    /// `POST /faults {"plan": ...}` arms a plan (`null` disarms); `GET /faults` says what fired since.
    async fn faults_call(&self, req: &mut Request) -> Result<Response> {
        #[derive(Deserialize)]
        struct Arm {
            plan: Option<FaultPlan>,
        }
        if req.method() == Method::Post {
            match req.json::<Arm>().await {
                Ok(arm) => self.faults.arm(arm.plan),
                Err(e) => return error(&ApiError::bad_request(format!("bad fault plan: {e}"))),
            }
        }
        Response::from_json(&serde_json::json!({ "fired": self.faults.fired() }))
    }
}

/// Forwards a call of the test build's fault switch to the stack's lease object.
#[cfg(feature = "faults")]
pub async fn faults(env: &Env, stack_id: i64, req: &mut Request) -> std::result::Result<Response, ApiError> {
    let mut init = RequestInit::new();
    init.with_method(req.method());
    if req.method() == Method::Post {
        init.with_body(Some(req.text().await?.into()));
    }
    let call = Request::new_with_init("https://lease/faults", &init)?;
    Ok(stub(env, stack_id)?.fetch_with_request(call).await?)
}

impl StackLease {
    /// Opens a stream of the update's events; it ends when the update does (at once if it is not running).
    async fn watch(&self, req: &Request) -> Result<Response> {
        let update_id = req.headers().get("x-update-id")?.unwrap_or_default();
        let (mut tx, rx) = channel::<Vec<u8>>(WATCH_QUEUE);
        // A comment first, so the browser knows the stream is open before any event comes.
        let _ = tx.try_send(b": watching\n\n".to_vec());
        self.watchers.borrow_mut().push(Watcher { update_id, tx });
        self.end_watches().await;
        Ok(Response::from_stream(rx.map(Ok::<Vec<u8>, worker::Error>))?.with_headers(event_stream_headers()?))
    }

    /// Sends a batch of events (JSON arrays, one per line, as stored in D1) to the update's watchers.
    async fn publish(&self, req: &mut Request) -> Result<Response> {
        let update_id = req.headers().get("x-update-id")?.unwrap_or_default();
        let body = req.text().await?;
        let frames: Vec<u8> = body.lines().flat_map(|piece| format!("event: events\ndata: {piece}\n\n").into_bytes()).collect();
        // A watcher whose browser has gone, or fallen too far behind, fails to take it, and is dropped.
        self.watchers.borrow_mut().retain_mut(|w| w.update_id != update_id || w.tx.try_send(frames.clone()).is_ok());
        Response::empty()
    }

    /// Ends the watches of every update that no longer holds the lease (completed, cancelled, expired).
    async fn end_watches(&self) {
        if self.watchers.borrow().is_empty() {
            return;
        }
        let live = match self.engine.status(&self.stores(), now_ms()).await {
            Ok(lease) => lease.map(|l| l.update_id),
            Err(_) => return,
        };
        self.watchers.borrow_mut().retain_mut(|w| {
            if live.as_deref() == Some(w.update_id.as_str()) {
                return true;
            }
            let _ = w.tx.try_send(END_FRAME.to_vec());
            false
        });
    }
}

fn event_stream_headers() -> Result<Headers> {
    let headers = Headers::new();
    headers.set("content-type", "text/event-stream")?;
    headers.set("cache-control", "no-store")?;
    Ok(headers)
}

/// Forwards a watch of `update_id` to the stack's lease object; the stream comes back as it is.
///
/// # Errors
/// An internal error if the object cannot be reached.
pub async fn watch(env: &Env, stack_id: i64, update_id: &str) -> std::result::Result<Response, ApiError> {
    let headers = Headers::new();
    headers.set("x-update-id", update_id)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let mut resp = stub(env, stack_id)?.fetch_with_request(Request::new_with_init("https://lease/watch", &init)?).await?;
    // Re-made, so the worker may add its own headers to it (a fetched response's are immutable).
    Ok(Response::from_stream(resp.stream()?)?.with_headers(event_stream_headers()?))
}

/// Hands a stored batch of events to the update's watchers, if any.
///
/// # Errors
/// An internal error if the object cannot be reached.
pub async fn publish(env: &Env, stack_id: i64, update_id: &str, pieces: &[String]) -> std::result::Result<(), ApiError> {
    let headers = Headers::new();
    headers.set("x-update-id", update_id)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(pieces.join("\n").into()));
    stub(env, stack_id)?.fetch_with_request(Request::new_with_init("https://lease/publish", &init)?).await?;
    Ok(())
}

fn error(e: &ApiError) -> Result<Response> {
    if let Some(d) = &e.detail {
        worker::console_error!("lease object: {} ({d})", e.message);
    }
    let resp = Response::from_json(&e.body())?.with_status(e.status);
    if let Some(s) = e.retry_after {
        resp.headers().set("retry-after", &s.to_string())?;
    }
    Ok(resp)
}

impl DurableObject for StackLease {
    fn new(state: State, env: Env) -> Self {
        if let Err(e) = Backends::migrate(&state) {
            worker::console_error!("lease object: could not create the journal table: {e}");
        }
        Self {
            state,
            env,
            engine: Engine::new(),
            watchers: RefCell::default(),
            #[cfg(feature = "faults")]
            faults: Faults::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.url()?.path().to_owned();
        let result = match path.as_str() {
            "/" => match req.json::<LeaseCall>().await {
                Ok(call) => self.apply(call).await,
                Err(e) => Err(ApiError::bad_request(format!("bad lease call: {e}"))),
            },
            "/current" => {
                return match self.engine.current(&self.stores(), now_ms()).await {
                    Ok(Some(text)) => Response::from_bytes(text.into_bytes()),
                    Ok(None) => Ok(Response::empty()?.with_status(204)),
                    Err(e) => error(&e),
                };
            }
            #[cfg(feature = "faults")]
            "/faults" => return self.faults_call(&mut req).await,
            "/watch" => return self.watch(&req).await,
            "/publish" => return self.publish(&mut req).await,
            p => self.with_body(p, &mut req).await?,
        };
        self.end_watches().await;
        match result {
            Ok(reply) => Response::from_json(&reply),
            Err(e) => error(&e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let s = self.stores();
        // Which update is about to be ended for its expired lease, for the audit log.
        let expiring = self.engine.status_record(&s).await.ok().and_then(|st| {
            Some((st.stack_id?, st.expired(now_ms())?.update_id.clone()))
        });
        #[cfg(feature = "faults")]
        let s = self.faulty(&s, Step::Alarm);
        let outcome = self.engine.alarm(&s, now_ms()).await;
        self.end_watches().await;
        if let (Ok(crate::engine::AlarmOutcome::Expired), Some((stack_id, update_id))) = (&outcome, expiring) {
            super::audit::expired(&self.env, stack_id, &update_id, now_ms()).await;
        }
        match outcome {
            Ok(outcome) => Response::ok(format!("{outcome:?}")),
            // An error tells the runtime the alarm did not run, and it retries it.
            Err(e) => Err(worker::Error::RustError(format!("{} {}", e.message, e.detail.unwrap_or_default()))),
        }
    }
}

fn stub(env: &Env, stack_id: i64) -> Result<worker::Stub> {
    env.durable_object("STACK_LEASES")?.id_from_name(&format!("stack:{stack_id}"))?.get_stub()
}

async fn reply(mut resp: Response) -> std::result::Result<LeaseReply, ApiError> {
    let status = resp.status_code();
    if status == 200 {
        return Ok(resp.json::<LeaseReply>().await?);
    }
    Err(refusal(&mut resp).await)
}

async fn refusal(resp: &mut Response) -> ApiError {
    let status = resp.status_code();
    let retry_after = resp.headers().get("retry-after").ok().flatten().and_then(|s| s.parse().ok());
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let message = body.get("message").and_then(|m| m.as_str()).unwrap_or("lease error").to_owned();
    let mut e = ApiError::new(status, message);
    e.retry_after = retry_after;
    e
}

/// Sends one call to the lease object of `stack_id`.
///
/// # Errors
/// The engine's `ApiError`, or an internal error if the object cannot be reached.
pub async fn call(env: &Env, stack_id: i64, call: &LeaseCall) -> std::result::Result<LeaseReply, ApiError> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(call)?.into()));
    let req = Request::new_with_init("https://lease/", &init)?;
    reply(stub(env, stack_id)?.fetch_with_request(req).await?).await
}

/// A body for the lease object: an upload to a running update or an import.
pub enum Upload<'a> {
    Checkpoint { update_id: &'a str, token: &'a str, kind: UploadKind },
    Journal { update_id: &'a str, token: &'a str },
    Import { update_id: &'a str, requested_by: &'a str },
}

/// Hands a request body (inflated) to the lease object of `stack_id`.
///
/// # Errors
/// As the engine (401/403 for the lease, 400 for a bad body, 409 for conflicts), or an internal error.
pub async fn upload(env: &Env, stack_id: i64, what: Upload<'_>, body: &[u8]) -> std::result::Result<LeaseReply, ApiError> {
    let headers = Headers::new();
    let path = match what {
        Upload::Checkpoint { update_id, token, kind } => {
            headers.set("x-update-id", update_id)?;
            headers.set("x-token", token)?;
            headers.set("x-kind", kind.as_str())?;
            "checkpoint"
        }
        Upload::Journal { update_id, token } => {
            headers.set("x-update-id", update_id)?;
            headers.set("x-token", token)?;
            "journal"
        }
        Upload::Import { update_id, requested_by } => {
            headers.set("x-update-id", update_id)?;
            headers.set("x-requested-by", requested_by)?;
            headers.set("x-stack-id", &stack_id.to_string())?;
            "import"
        }
    };
    let mut init = RequestInit::new();
    let body = worker::js_sys::Uint8Array::from(body);
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let req = Request::new_with_init(&format!("https://lease/{path}"), &init)?;
    reply(stub(env, stack_id)?.fetch_with_request(req).await?).await
}

/// The state of the stack's running journaled update, replayed by its lease object; `None` when nothing journaled
/// runs (the stored checkpoint is the state).
///
/// # Errors
/// 409 for a journal that cannot be replayed, or an internal error.
pub async fn current(env: &Env, stack_id: i64) -> std::result::Result<Option<Vec<u8>>, ApiError> {
    let req = Request::new("https://lease/current", Method::Get)?;
    let mut resp = stub(env, stack_id)?.fetch_with_request(req).await?;
    match resp.status_code() {
        200 => Ok(Some(resp.bytes().await?)),
        204 => Ok(None),
        _ => Err(refusal(&mut resp).await),
    }
}
