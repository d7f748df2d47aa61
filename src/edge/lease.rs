//! `StackLease`: one Durable Object per stack, the authority on its active update and lease.
//!
//! It stores a [`LeaseState`] (a few hundred bytes; Durable Object values may be up to 2 MB) and applies the
//! pure rules of `crate::lease` with its own clock. An alarm fires when the lease would expire: if it has not
//! been renewed, the lease is dropped and the update marked failed in D1, so an abandoned stack frees itself.
//!
//! The worker talks to it with small JSON requests (`LeaseCall`) through [`call`].

use crate::error::ApiError;
use crate::lease::{Lease, LeaseState};
use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result, State};

const KEY: &str = "lease";
const STACK_KEY: &str = "stack_id";

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LeaseCall {
    Start { update_id: String, token: String, stack_id: i64, lease_ms: i64 },
    Check { update_id: String, token: String },
    Renew { update_id: String, token: String, duration: i64, max_ms: i64 },
    Complete { update_id: String, token: String },
    Cancel { update_id: String },
    Status,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct LeaseReply {
    pub lease: Option<Lease>,
}

#[durable_object]
pub struct StackLease {
    state: State,
    env: Env,
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

    async fn apply(&self, call: LeaseCall) -> Result<std::result::Result<LeaseReply, ApiError>> {
        let mut s = self.load().await?;
        let t = now();
        let reply = match call {
            LeaseCall::Start { update_id, token, stack_id, lease_ms } => {
                // The alarm may not have fired yet for a lease that has expired: settle it first.
                if let Some(old) = s.expire(t) {
                    self.mark_abandoned(&old).await;
                }
                match s.start(&update_id, &token, t, lease_ms) {
                    Ok(l) => {
                        self.state.storage().put(STACK_KEY, stack_id).await?;
                        self.save(&s).await?;
                        Ok(LeaseReply { lease: Some(l) })
                    }
                    Err(e) => Err(e),
                }
            }
            LeaseCall::Check { update_id, token } => {
                s.check(&update_id, &token, t).map(|l| LeaseReply { lease: Some(l.clone()) })
            }
            LeaseCall::Renew { update_id, token, duration, max_ms } => match s.renew(&update_id, &token, duration, t, max_ms) {
                Ok(l) => {
                    self.save(&s).await?;
                    Ok(LeaseReply { lease: Some(l) })
                }
                Err(e) => Err(e),
            },
            LeaseCall::Complete { update_id, token } => match s.complete(&update_id, &token, t) {
                Ok(()) => {
                    self.save(&s).await?;
                    Ok(LeaseReply { lease: None })
                }
                Err(e) => Err(e),
            },
            LeaseCall::Cancel { update_id } => {
                let cancelled = s.cancel(&update_id);
                self.save(&s).await?;
                Ok(LeaseReply { lease: cancelled })
            }
            LeaseCall::Status => Ok(LeaseReply { lease: s.live(t).cloned() }),
        };
        Ok(reply)
    }

    /// Marks an update whose lease ran out as failed and frees its stack in D1. Best effort: a failure here is
    /// logged, and the lease is gone either way, so the stack is usable again.
    async fn mark_abandoned(&self, lease: &Lease) {
        let stack_id: Option<i64> = self.state.storage().get(STACK_KEY).await.ok().flatten();
        let result = async {
            let db = self.env.d1("DB")?;
            super::db::finish_update(&db, &lease.update_id, stack_id.unwrap_or(-1), "failed").await
        }
        .await;
        if let Err(e) = result {
            worker::console_error!("could not mark abandoned update {} failed: {e}", lease.update_id);
        }
    }
}

impl DurableObject for StackLease {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let call: LeaseCall = match req.json().await {
            Ok(c) => c,
            Err(e) => return Response::error(format!("bad lease call: {e}"), 400),
        };
        match self.apply(call).await? {
            Ok(reply) => Response::from_json(&reply),
            Err(e) => Ok(Response::from_json(&e.body())?.with_status(e.status)),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        let mut s = self.load().await?;
        if let Some(old) = s.expire(now()) {
            self.save(&s).await?;
            self.mark_abandoned(&old).await;
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

/// Sends one call to the lease object of `stack_id`.
///
/// # Errors
/// The lease rules' `ApiError` (401/403/409), or an internal error if the object cannot be reached.
pub async fn call(env: &Env, stack_id: i64, call: &LeaseCall) -> std::result::Result<LeaseReply, ApiError> {
    let ns = env.durable_object("STACK_LEASES")?;
    let stub = ns.id_from_name(&format!("stack:{stack_id}"))?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(serde_json::to_string(call)?.into()));
    let req = Request::new_with_init("https://lease/", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    let status = resp.status_code();
    if status == 200 {
        return Ok(resp.json::<LeaseReply>().await?);
    }
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    let message = body.get("message").and_then(|m| m.as_str()).unwrap_or("lease error").to_owned();
    Err(ApiError::new(status, message))
}
