//! `StackLease`: one Durable Object per stack, the authority on its active update and lease.
//!
//! Bound from the first schema so deployments never need a class rename; the lease protocol (start, renew,
//! complete, cancel, expiry by alarm) lands with updates.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

#[durable_object]
pub struct StackLease {
    #[allow(dead_code)]
    state: State,
}

impl DurableObject for StackLease {
    fn new(state: State, _env: Env) -> Self {
        Self { state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error(r#"{"code":404,"message":"no lease operations yet"}"#, 404)
    }
}
