//! Procella Edge: a self-hosted Pulumi service backend as a Cloudflare Worker.
//!
//! The core (`api`, `auth`, `config`, `error`, `names`, `routes`) is plain Rust with no Workers bindings and is
//! tested natively with `cargo test`. `edge` holds the thin adapters to the Workers runtime: the fetch entry
//! point, D1, R2 and the Durable Object.

pub mod api;
pub mod audit;
pub mod auth;
pub mod body;
pub mod checkpoint;
pub mod config;
pub mod console;
pub mod cors;
pub mod engine;
pub mod error;
pub mod journal;
pub mod log;
pub mod names;
pub mod oidc;
pub mod ratelimit;
pub mod routes;
pub mod secrets;

#[cfg(target_arch = "wasm32")]
mod edge;
