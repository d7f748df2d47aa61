//! The OIDC admin API (`/api/orgs/{org}/oidc/...`, org admins only) and the D1 rows behind it: registered
//! issuers (`oidc_issuers`) and exchanged tokens (`oidc_tokens`, by hash). Schema: migrations/0006_oidc.sql.

use super::db::{changes, int, opt, s};
use super::http::{json, read_json, ApiResult};
use super::memo::now_ms;
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::oidc::issuer::MAX_ISSUERS_PER_ORG;
use crate::oidc::token::StoredToken;
use crate::oidc::{Issuer, IssuerSpec, Policy};
use serde::Deserialize;
use serde_json::json as j;
use wasm_bindgen::JsValue;
use worker::{D1Database, Request, Response};

/// Tokens listed at most: a page of the Settings page, not an export.
const MAX_LISTED_TOKENS: i64 = 200;

#[derive(Deserialize)]
struct IssuerRow {
    id: String,
    name: String,
    url: String,
    audiences: String,
    policies: String,
    max_expiration_secs: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl IssuerRow {
    fn issuer(self) -> ApiResult<Issuer> {
        let corrupt = |what: &str| {
            worker::console_error!("oidc_issuers row {}: its {what} are not valid JSON", self.id);
            ApiError::internal("internal error: a stored OIDC issuer is unreadable")
        };
        let audiences: Vec<String> = serde_json::from_str(&self.audiences).map_err(|_| corrupt("audiences"))?;
        let policies: Vec<Policy> = serde_json::from_str(&self.policies).map_err(|_| corrupt("policies"))?;
        Ok(Issuer {
            audiences,
            policies,
            max_expiration_seconds: self.max_expiration_secs.map(|s| s.max(0) as u64),
            id: self.id,
            name: self.name,
            url: self.url,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

const ISSUER_COLUMNS: &str = "id, name, url, audiences, policies, max_expiration_secs, created_at, updated_at";

/// The org's issuer whose URL is `url` (the token's unverified `iss`): one indexed read.
pub async fn issuer_by_url(db: &D1Database, org: &str, url: &str) -> ApiResult<Option<Issuer>> {
    let row: Option<IssuerRow> = db
        .prepare(format!("SELECT {ISSUER_COLUMNS} FROM oidc_issuers WHERE org = ?1 AND url = ?2"))
        .bind(&[s(org), s(url)])?
        .first(None)
        .await?;
    row.map(IssuerRow::issuer).transpose()
}

async fn issuers_of(db: &D1Database, org: &str) -> ApiResult<Vec<Issuer>> {
    let rows: Vec<IssuerRow> = db
        .prepare(format!("SELECT {ISSUER_COLUMNS} FROM oidc_issuers WHERE org = ?1 ORDER BY name"))
        .bind(&[s(org)])?
        .all()
        .await?
        .results()?;
    rows.into_iter().map(IssuerRow::issuer).collect()
}

/// Stores a new token, if its issuer is still there as last updated at `issuer_updated_at`; whether it did.
pub async fn insert_token(db: &D1Database, hash: &str, t: &StoredToken, issuer_updated_at: i64) -> ApiResult<bool> {
    let result = db.prepare(
        "INSERT INTO oidc_tokens (hash, id, org, issuer_id, name, kind, login, role, created_at, expires_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10
         WHERE EXISTS (SELECT 1 FROM oidc_issuers WHERE id = ?4 AND org = ?3 AND updated_at = ?11)",
    )
    .bind(&[
        s(hash),
        s(&t.id),
        s(&t.org),
        s(&t.issuer_id),
        s(&t.name),
        s(&t.kind),
        opt(t.login.as_deref()),
        s(&t.role),
        int(t.created_at),
        int(t.expires_at),
        int(issuer_updated_at),
    ])?
    .run()
    .await?;
    Ok(changes(&result)? > 0)
}

/// Removes tokens that have expired (the daily Cron Trigger); how many went.
pub async fn purge_expired(db: &D1Database, now_ms: i64) -> worker::Result<i64> {
    let result = db.prepare("DELETE FROM oidc_tokens WHERE expires_at <= ?1").bind(&[int(now_ms)])?.run().await?;
    Ok(changes(&result)? as i64)
}

fn require_admin(caller: &Caller, org: &str) -> ApiResult<()> {
    if caller.role_in(org) != Some(Role::Admin) {
        return Err(ApiError::forbidden(format!("managing OIDC trust requires the admin role in organization '{org}'")));
    }
    if caller.via_oidc {
        return Err(ApiError::forbidden(
            "a token from an OIDC exchange cannot manage OIDC trust; use an admin's own credentials",
        ));
    }
    Ok(())
}

/// `GET /api/orgs/{org}/oidc/issuers`.
pub async fn list_issuers(db: &D1Database, caller: &Caller, org: &str) -> ApiResult<Response> {
    require_admin(caller, org)?;
    json(&j!({ "issuers": issuers_of(db, org).await? }))
}

/// Refuses a spec that would make two issuers of one org share a name or a URL (a token's `iss` must pick one).
fn check_unique(existing: &[Issuer], spec: &IssuerSpec, except: Option<&str>) -> ApiResult<()> {
    for other in existing.iter().filter(|i| Some(i.id.as_str()) != except) {
        if other.name == spec.name {
            return Err(ApiError::conflict(format!("an issuer named '{}' is already registered", spec.name)));
        }
        if other.url == spec.url {
            return Err(ApiError::conflict(format!(
                "the issuer '{}' already has the URL {}; one URL is one issuer",
                other.name, spec.url
            )));
        }
    }
    Ok(())
}

/// A write that lost a race to another registering the same name or URL is the same 409 the check gives.
fn taken(e: worker::Error) -> ApiError {
    if e.to_string().contains("UNIQUE constraint failed") {
        ApiError::conflict("an issuer with this name or URL was registered at the same moment")
    } else {
        e.into()
    }
}

/// A spec's stored columns: name, url, audiences and policies (JSON), max_expiration_secs.
fn stored_fields(spec: &IssuerSpec) -> ApiResult<[JsValue; 5]> {
    Ok([
        s(&spec.name),
        s(&spec.url),
        s(&serde_json::to_string(&spec.audiences)?),
        s(&serde_json::to_string(&spec.policies)?),
        spec.max_expiration_seconds.map_or(JsValue::NULL, |v| int(v as i64)),
    ])
}

/// `POST /api/orgs/{org}/oidc/issuers`: registers an issuer; 201 with it.
pub async fn create_issuer(db: &D1Database, caller: &Caller, org: &str, req: &mut Request) -> ApiResult<Response> {
    require_admin(caller, org)?;
    let spec: IssuerSpec = read_json(req).await?;
    let spec = spec.validate(org)?;
    let existing = issuers_of(db, org).await?;
    if existing.len() >= MAX_ISSUERS_PER_ORG {
        return Err(ApiError::bad_request(format!(
            "organization '{org}' already has {MAX_ISSUERS_PER_ORG} OIDC issuers, the most it may register"
        )));
    }
    check_unique(&existing, &spec, None)?;
    let id = super::updates::random_hex(8)?;
    let now = now_ms();
    let [name, url, audiences, policies, max] = stored_fields(&spec)?;
    db.prepare(
        "INSERT INTO oidc_issuers (id, org, name, url, audiences, policies, max_expiration_secs, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )
    .bind(&[s(&id), s(org), name, url, audiences, policies, max, int(now)])?
    .run()
    .await
    .map_err(taken)?;
    let issuer = spec.into_issuer(id, now, now);
    Ok(json(&issuer)?.with_status(201))
}

/// `PUT /api/orgs/{org}/oidc/issuers/{id}`: replaces an issuer's settings. Tokens already exchanged keep their
/// role until they expire or are revoked; the new policies apply to the next exchange.
pub async fn replace_issuer(db: &D1Database, caller: &Caller, org: &str, id: &str, req: &mut Request) -> ApiResult<Response> {
    require_admin(caller, org)?;
    let spec: IssuerSpec = read_json(req).await?;
    let spec = spec.validate(org)?;
    let existing = issuers_of(db, org).await?;
    let Some(old) = existing.iter().find(|i| i.id == id) else {
        return Err(ApiError::not_found(format!("OIDC issuer '{id}' not found")));
    };
    check_unique(&existing, &spec, Some(id))?;
    let now = now_ms();
    let [name, url, audiences, policies, max] = stored_fields(&spec)?;
    db.prepare(
        "UPDATE oidc_issuers SET name = ?3, url = ?4, audiences = ?5, policies = ?6, max_expiration_secs = ?7,
         updated_at = ?8 WHERE org = ?1 AND id = ?2",
    )
    .bind(&[s(org), s(id), name, url, audiences, policies, max, int(now)])?
    .run()
    .await
    .map_err(taken)?;
    json(&spec.into_issuer(id.to_owned(), old.created_at, now))
}

#[derive(Deserialize)]
struct HashRow {
    hash: String,
}

/// `DELETE /api/orgs/{org}/oidc/issuers/{id}`: removes the issuer and revokes every token exchanged through it,
/// in one transaction.
pub async fn delete_issuer(db: &D1Database, caller: &Caller, org: &str, id: &str) -> ApiResult<Response> {
    require_admin(caller, org)?;
    let results = db
        .batch(vec![
            db.prepare("DELETE FROM oidc_issuers WHERE org = ?1 AND id = ?2").bind(&[s(org), s(id)])?,
            db.prepare("DELETE FROM oidc_tokens WHERE org = ?1 AND issuer_id = ?2 RETURNING hash").bind(&[s(org), s(id)])?,
        ])
        .await?;
    let removed = results.first().and_then(|r| changes(r).ok()).unwrap_or(0);
    if removed == 0 {
        return Err(ApiError::not_found(format!("OIDC issuer '{id}' not found")));
    }
    let revoked: Vec<HashRow> = match results.get(1) {
        Some(r) => r.results()?,
        None => Vec::new(),
    };
    let count = revoked.len();
    super::oidc::forget(revoked.into_iter().map(|r| r.hash));
    json(&j!({ "revokedTokens": count }))
}

/// `GET /api/orgs/{org}/oidc/tokens`: unexpired exchanged tokens, newest first (never the token: it is not kept).
pub async fn list_tokens(db: &D1Database, caller: &Caller, org: &str) -> ApiResult<Response> {
    require_admin(caller, org)?;
    let rows: Vec<StoredToken> = db
        .prepare(
            "SELECT id, org, issuer_id, name, kind, login, role, created_at, expires_at FROM oidc_tokens
             WHERE org = ?1 AND expires_at > ?2 ORDER BY created_at DESC LIMIT ?3",
        )
        .bind(&[s(org), int(now_ms()), int(MAX_LISTED_TOKENS)])?
        .all()
        .await?
        .results()?;
    let tokens: Vec<_> = rows
        .iter()
        .map(|t| {
            j!({
                "id": t.id, "name": t.name, "issuerId": t.issuer_id, "kind": t.kind, "user": t.login,
                "role": t.role, "createdAt": t.created_at, "expiresAt": t.expires_at,
            })
        })
        .collect();
    json(&j!({ "tokens": tokens }))
}

/// `DELETE /api/orgs/{org}/oidc/tokens/{id}`: revokes one token at once (in this isolate; in others within a
/// minute, `src/edge/oidc.rs`).
pub async fn revoke_token(db: &D1Database, caller: &Caller, org: &str, id: &str) -> ApiResult<Response> {
    require_admin(caller, org)?;
    let revoked: Vec<HashRow> = db
        .prepare("DELETE FROM oidc_tokens WHERE org = ?1 AND id = ?2 RETURNING hash")
        .bind(&[s(org), s(id)])?
        .all()
        .await?
        .results()?;
    if revoked.is_empty() {
        return Err(ApiError::not_found(format!("OIDC token '{id}' not found")));
    }
    super::oidc::forget(revoked.into_iter().map(|r| r.hash));
    super::http::no_content()
}
