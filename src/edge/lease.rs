//! `StackLease`: one Durable Object per stack, the authority on its running update: the lease and its token, the
//! stack version the update writes, and that update's checkpoints.
//!
//! It stores a [`LeaseState`] (a few hundred bytes; Durable Object values may be up to 2 MB) and applies the pure
//! rules of `crate::lease` and `crate::checkpoint::upload` with its own clock. Checkpoints go through it because
//! it is the one writer per stack: it checks the lease token, applies a delta to the text it keeps in memory (no
//! read back from R2), writes R2, and answers — one hop from the worker instead of several D1 and R2 round trips,
//! and no two uploads of one stack can interleave. D1 learns about the update when it starts, at its first
//! checkpoint (the row that points at the R2 object, written after the object) and when it ends.
//!
//! An alarm fires when the lease would expire: if it has not been renewed, the lease is dropped and the update
//! marked failed in D1, so an abandoned stack frees itself.

use super::checkpoints;
use super::db;
use crate::api::updates::resource_count;
use crate::checkpoint::delta::sha256_hex;
use crate::checkpoint::sequence::Upload as Decision;
use crate::checkpoint::upload::{self, Mark, UploadKind};
use crate::error::ApiError;
use crate::lease::{Lease, LeaseState};
use futures_util::lock::Mutex;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State};

const KEY: &str = "lease";
const STACK_KEY: &str = "stack_id";
/// Checkpoint texts up to this size stay in memory for the next delta; larger ones are read back from R2, so an
/// upload's copies (request, text, the copy R2 is handed) stay well inside the isolate's 128 MB.
const MAX_TEXT_IN_MEMORY: usize = 8 << 20;
/// When recording an abandoned update in D1 fails, the alarm tries again after this long.
const RETRY_FINISH_MS: i64 = 30_000;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LeaseCall {
    /// Takes the lease and marks the update started in D1 (giving it the next stack version unless a preview).
    Start {
        update_id: String,
        token: String,
        stack_id: i64,
        lease_ms: i64,
        bumps_version: bool,
        tags: Option<String>,
    },
    Check { update_id: String, token: String },
    Renew { update_id: String, token: String, duration: i64, max_ms: i64 },
    /// Ends the update with `status` (its token's own call).
    Complete { update_id: String, token: String, status: String },
    /// Ends whatever update holds the lease, if it is `update_id` (an API-token action).
    Cancel { update_id: String },
    Status,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LeaseReply {
    pub lease: Option<Lease>,
}

/// The text of the last checkpoint, kept so the next delta applies without reading R2. Lost when the object is
/// evicted; then the text is read back from R2 once.
struct Text {
    update_id: String,
    bytes: Vec<u8>,
}

#[durable_object]
pub struct StackLease {
    state: State,
    env: Env,
    text: RefCell<Option<Text>>,
    /// State changes await D1 and R2, during which other requests are delivered: they take turns.
    serial: Mutex<()>,
}

impl StackLease {
    async fn load(&self) -> Result<LeaseState> {
        Ok(self.state.storage().get::<LeaseState>(KEY).await?.unwrap_or_default())
    }

    async fn save(&self, s: &LeaseState) -> Result<()> {
        self.state.storage().put(KEY, s).await?;
        match &s.active {
            Some(l) => {
                let in_ms = (l.expires_at - now()).max(1);
                self.state.storage().set_alarm(in_ms).await
            }
            None => self.state.storage().delete_alarm().await,
        }
    }

    async fn stack_id(&self) -> Result<i64> {
        Ok(self.state.storage().get::<i64>(STACK_KEY).await?.unwrap_or(-1))
    }

    async fn apply(&self, call: LeaseCall) -> Result<std::result::Result<LeaseReply, ApiError>> {
        // Reads need no lock; every change is made under `serial`, on state loaded after taking it, because the
        // object lets other requests in while it awaits D1 or R2.
        match call {
            LeaseCall::Check { update_id, token } => {
                let s = self.load().await?;
                return Ok(s.check(&update_id, &token, now()).map(|l| LeaseReply { lease: Some(l.clone()) }));
            }
            LeaseCall::Status => return Ok(Ok(LeaseReply { lease: self.load().await?.live(now()).cloned() })),
            _ => {}
        }
        let _serial = self.serial.lock().await;
        let mut s = self.load().await?;
        let t = now();
        let reply = match call {
            LeaseCall::Start { update_id, token, stack_id, lease_ms, bumps_version, tags } => {
                self.state.storage().put(STACK_KEY, stack_id).await?;
                // The alarm may not have fired yet for a lease that has expired: settle it first.
                if let Some(old) = s.expired(t).cloned() {
                    self.finish(&old, "failed").await?;
                    s.expire(t);
                    self.save(&s).await?;
                }
                let mut lease = match s.start(&update_id, &token, t, lease_ms) {
                    Ok(l) => l,
                    Err(e) => return Ok(Err(e)),
                };
                if lease.version == 0 {
                    let db = self.env.d1("DB")?;
                    let started = db::start_update(&db, &update_id, stack_id, bumps_version, tags.as_deref()).await?;
                    if !started.running {
                        // A late or duplicated start of an update that has ended: it gets no lease.
                        return Ok(Err(ApiError::conflict(format!("update '{update_id}' has already ended"))));
                    }
                    lease.version = if bumps_version { started.version } else { 0 };
                    s.active = Some(lease.clone());
                    self.save(&s).await?;
                }
                Ok(LeaseReply { lease: Some(lease) })
            }
            LeaseCall::Renew { update_id, token, duration, max_ms } => {
                match s.renew(&update_id, &token, duration, t, max_ms) {
                    Ok(l) => {
                        self.save(&s).await?;
                        Ok(LeaseReply { lease: Some(l) })
                    }
                    Err(e) => Err(e),
                }
            }
            LeaseCall::Complete { update_id, token, status } => match s.check(&update_id, &token, t).cloned() {
                Ok(l) => {
                    // D1 first: if it fails the lease stays, and the CLI's retried `complete` finds it.
                    self.finish(&l, &status).await?;
                    if let Err(e) = s.complete(&update_id, &token, t) {
                        return Ok(Err(e));
                    }
                    self.save(&s).await?;
                    Ok(LeaseReply { lease: None })
                }
                Err(e) => Err(e),
            },
            LeaseCall::Cancel { update_id } => {
                let held = s.held_by(&update_id).cloned();
                if let Some(l) = &held {
                    self.finish(l, "cancelled").await?;
                    s.cancel(&update_id);
                    self.save(&s).await?;
                }
                Ok(LeaseReply { lease: held })
            }
            LeaseCall::Check { .. } | LeaseCall::Status => unreachable_call(),
        };
        Ok(reply)
    }

    /// `PATCH .../checkpoint*` and imports: the upload is checked against the lease and its last checkpoint,
    /// turned into the new text, written to R2, and only then recorded (D1 at the update's first checkpoint).
    async fn checkpoint(&self, update_id: &str, token: &str, kind: UploadKind, body: Vec<u8>) -> Result<std::result::Result<(), ApiError>> {
        let _serial = self.serial.lock().await;
        let mut s = self.load().await?;
        let lease = match s.check(update_id, token, now()) {
            Ok(l) => l.clone(),
            Err(e) => return Ok(Err(e)),
        };
        if lease.version <= 0 {
            return Ok(Err(ApiError::bad_request("this update takes no checkpoints (a preview)")));
        }
        let upload = match upload::parse(body, kind) {
            Ok(u) => u,
            Err(e) => return Ok(Err(e)),
        };
        match upload.decide(lease.checkpoint.as_ref()) {
            Ok(Decision::AlreadyStored) => return Ok(Ok(())),
            Ok(Decision::Store) => {}
            Err(e) => return Ok(Err(e)),
        }
        let sequence = upload.sequence;
        let stack_id = self.stack_id().await?;
        let bucket = checkpoints::bucket(&self.env)?;
        let key = checkpoints::key(stack_id, lease.version);
        let previous = if upload.needs_previous() { self.previous_text(&lease, &bucket, &key).await? } else { None };
        let text = match upload.into_text(previous.as_deref()) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        let sha = sha256_hex(&text);
        let size = text.len() as u64;
        let kept = (text.len() <= MAX_TEXT_IN_MEMORY).then(|| text.clone());
        *self.text.borrow_mut() = None;
        checkpoints::put(&bucket, &key, text).await?;
        if lease.checkpoint.is_none() {
            // The update's first checkpoint: now that the object exists, D1 may point at it.
            let db = self.env.d1("DB")?;
            db::save_checkpoint(&db, stack_id, lease.version, update_id, &key, &sha, size as usize, None).await?;
        }
        // `s` is current: every change to the lease (renewals included) waits for `serial`.
        if let Some(active) = s.active.as_mut().filter(|l| l.update_id == update_id) {
            active.checkpoint = Some(Mark { sequence, sha256: sha, size });
        }
        self.save(&s).await?;
        *self.text.borrow_mut() = kept.map(|bytes| Text { update_id: update_id.to_owned(), bytes });
        Ok(Ok(()))
    }

    /// The text the last checkpoint stored: from memory, or read back from R2 if the object was evicted.
    async fn previous_text(&self, lease: &Lease, bucket: &worker::Bucket, key: &str) -> Result<Option<Vec<u8>>> {
        if lease.checkpoint.is_none() {
            return Ok(None);
        }
        // Only the stored text is ever kept (it is cleared before each write), so it is the one `checkpoint` marks.
        let in_memory = self.text.borrow_mut().take().filter(|t| t.update_id == lease.update_id);
        if let Some(t) = in_memory {
            return Ok(Some(t.bytes));
        }
        checkpoints::get(bucket, key).await
    }

    /// Records the end of an update in D1: its status, and the final checkpoint's hash, size and resource count
    /// (counted once here rather than on every upload). Callers release the lease only after this succeeded, so a
    /// failure is retried (by the CLI's retried `complete`, by the alarm) instead of leaving D1 behind.
    async fn finish(&self, lease: &Lease, status: &str) -> Result<()> {
        let text = self.text.borrow().as_ref().filter(|t| t.update_id == lease.update_id).map(|t| t.bytes.clone());
        let result = async {
            let stack_id = self.stack_id().await?;
            let db = self.env.d1("DB")?;
            if let (Some(mark), true) = (&lease.checkpoint, lease.version > 0) {
                let key = checkpoints::key(stack_id, lease.version);
                let text = match text {
                    Some(t) => Some(t),
                    None => checkpoints::get(&checkpoints::bucket(&self.env)?, &key).await?,
                };
                let count = text
                    .as_deref()
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .and_then(|t| resource_count(t).ok());
                db::save_checkpoint(&db, stack_id, lease.version, &lease.update_id, &key, &mark.sha256, mark.size as usize, count)
                    .await?;
            }
            db::finish_update(&db, &lease.update_id, stack_id, status).await
        }
        .await;
        match result {
            Ok(()) => {
                self.text.borrow_mut().take();
                Ok(())
            }
            Err(e) => {
                worker::console_error!("could not record the end of update {} ({status}): {e}", lease.update_id);
                Err(e)
            }
        }
    }
}

fn unreachable_call() -> std::result::Result<LeaseReply, ApiError> {
    Err(ApiError::internal("lease call handled before taking the lock"))
}

impl DurableObject for StackLease {
    fn new(state: State, env: Env) -> Self {
        Self { state, env, text: RefCell::new(None), serial: Mutex::new(()) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let result = if url.path() == "/checkpoint" {
            let h = req.headers();
            let (update_id, token) = (h.get("x-update-id")?.unwrap_or_default(), h.get("x-token")?.unwrap_or_default());
            let kind = h.get("x-kind")?.and_then(|k| UploadKind::parse(&k));
            let Some(kind) = kind else { return Response::error("bad checkpoint call", 400) };
            let body = req.bytes().await?;
            self.checkpoint(&update_id, &token, kind, body).await?.map(|()| LeaseReply { lease: None })
        } else {
            let call: LeaseCall = match req.json().await {
                Ok(c) => c,
                Err(e) => return Response::error(format!("bad lease call: {e}"), 400),
            };
            self.apply(call).await?
        };
        match result {
            Ok(reply) => Response::from_json(&reply),
            Err(e) => Ok(Response::from_json(&e.body())?.with_status(e.status)),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let _serial = self.serial.lock().await;
        let mut s = self.load().await?;
        if let Some(old) = s.expired(now()).cloned() {
            if self.finish(&old, "failed").await.is_err() {
                // D1 unreachable: keep the expired lease (it already refuses every call) and try again soon.
                self.state.storage().set_alarm(RETRY_FINISH_MS).await?;
                return Response::ok("retry");
            }
            s.expire(now());
            self.save(&s).await?;
        } else if s.active.is_some() {
            // Renewed since the alarm was set: wait for the new expiry.
            self.save(&s).await?;
        }
        Response::ok("ok")
    }
}

fn now() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn stub(env: &Env, stack_id: i64) -> Result<worker::Stub> {
    env.durable_object("STACK_LEASES")?.id_from_name(&format!("stack:{stack_id}"))?.get_stub()
}

async fn reply(mut resp: Response) -> std::result::Result<LeaseReply, ApiError> {
    let status = resp.status_code();
    if status == 200 {
        return Ok(resp.json::<LeaseReply>().await?);
    }
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let message = body.get("message").and_then(|m| m.as_str()).unwrap_or("lease error").to_owned();
    Err(ApiError::new(status, message))
}

/// Sends one call to the lease object of `stack_id`.
///
/// # Errors
/// The lease rules' `ApiError` (401/403/409), or an internal error if the object cannot be reached.
pub async fn call(env: &Env, stack_id: i64, call: &LeaseCall) -> std::result::Result<LeaseReply, ApiError> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(call)?.into()));
    let req = Request::new_with_init("https://lease/", &init)?;
    reply(stub(env, stack_id)?.fetch_with_request(req).await?).await
}

/// Hands a checkpoint upload (the inflated request body) to the lease object of `stack_id`.
///
/// # Errors
/// As the lease rules (401/403), 400 for a bad body, 409 for a delta that does not apply or a reused sequence
/// number, or an internal error.
pub async fn checkpoint(
    env: &Env,
    stack_id: i64,
    update_id: &str,
    token: &str,
    kind: UploadKind,
    body: &[u8],
) -> std::result::Result<(), ApiError> {
    let headers = worker::Headers::new();
    headers.set("x-update-id", update_id)?;
    headers.set("x-token", token)?;
    headers.set("x-kind", kind.as_str())?;
    let mut init = RequestInit::new();
    let body = worker::js_sys::Uint8Array::from(body);
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let req = Request::new_with_init("https://lease/checkpoint", &init)?;
    reply(stub(env, stack_id)?.fetch_with_request(req).await?).await.map(|_| ())
}
