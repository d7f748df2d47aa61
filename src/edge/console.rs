//! The browser side at the edge: page shells (with their security headers), `POST /api/auth/cli-token`, and
//! what the Tokens and Settings pages' Descope widgets need. Pages hold no data; the API enforces every rule.

use super::descope;
use super::http::{json, read_json, ApiResult};
use crate::auth::{Caller, Role};
use crate::config::{AuthConfig, Config};
use crate::console::{content_security_policy, shell, CliLogin, PageConfig, DESCOPE_STATIC_ORIGINS};
use crate::error::ApiError;
use crate::routes::Page;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Headers, Response, Url};

/// Descope's default widget ids; a project that configured others can rename them in the Descope console.
const WIDGETS_SETTINGS: [(&str, &str); 4] = [
    ("users", "user-management-widget"),
    ("roles", "role-management-widget"),
    ("audit", "audit-management-widget"),
    ("tenant", "tenant-profile-widget"),
];
const WIDGETS_TOKENS: [(&str, &str); 2] = [("accessKeys", "user-access-key-management-widget"), ("profile", "user-profile-widget")];

fn page_config(config: &Config, page: &'static str, params: Value, error: Option<String>) -> PageConfig {
    let (mode, project_id, base_url, browser_login) = match &config.auth {
        AuthConfig::Dev(_) => ("dev", None, None, false),
        AuthConfig::Descope(d) => {
            ("descope", Some(d.project_id.clone()), Some(d.base_url.clone()), d.management_key().is_some())
        }
    };
    PageConfig { page, mode, project_id, descope_base_url: base_url, browser_login, params, error }
}

fn html(config: &PageConfig, status: u16) -> ApiResult<Response> {
    let headers = Headers::new();
    headers.set("content-type", "text/html; charset=utf-8")?;
    let origins: Vec<&str> = match &config.descope_base_url {
        Some(base) => std::iter::once(base.as_str()).chain(DESCOPE_STATIC_ORIGINS).collect(),
        None => vec![],
    };
    headers.set("content-security-policy", &content_security_policy(&origins))?;
    headers.set("x-content-type-options", "nosniff")?;
    headers.set("x-frame-options", "DENY")?;
    // The CLI's callback URL carries the new token; no page sends where it came from to anyone.
    headers.set("referrer-policy", "no-referrer")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::ok(shell(config))?.with_status(status).with_headers(headers))
}

/// `GET` a page: its shell, or an error page (400 for bad `/cli-login` parameters).
pub fn page(config: &Config, page: &Page, url: &Url) -> ApiResult<Response> {
    let params = match page {
        Page::CliLogin => {
            let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            match CliLogin::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                Ok(login) => serde_json::to_value(login)?,
                Err(e) => return html(&page_config(config, "error", json!({}), Some(e.message)), e.status),
            }
        }
        Page::Stack(p) => json!({ "org": p.org, "project": p.project, "stack": p.stack }),
        Page::Update(p, id) => json!({ "org": p.org, "project": p.project, "stack": p.stack, "updateId": id }),
        Page::Resource(p) => {
            let urn = url.query_pairs().find(|(k, _)| k == "urn").map(|(_, v)| v.into_owned());
            json!({ "org": p.org, "project": p.project, "stack": p.stack, "urn": urn })
        }
        Page::Settings | Page::Audit => {
            let org = url.query_pairs().find(|(k, _)| k == "org").map(|(_, v)| v.into_owned());
            json!({ "org": org })
        }
        Page::Stacks | Page::WelcomeCli | Page::Tokens => json!({}),
    };
    html(&page_config(config, page.name(), params, None), 200)
}

#[derive(Deserialize, Default)]
struct CliTokenRequest {
    #[serde(default)]
    description: String,
}

/// `POST /api/auth/cli-token`: a signed-in browser session gets a new Descope access key for the CLI, created
/// through the management API for the session's user, tenants and roles, and returned once.
///
/// # Errors
/// 400 in dev mode, 501 without a management key, 403 for a caller that is itself an access key (keys do not
/// mint keys), Descope's failures as 429/503.
pub async fn cli_token(config: &Config, caller: &Caller, req: &mut worker::Request) -> ApiResult<Response> {
    let AuthConfig::Descope(settings) = &config.auth else {
        return Err(ApiError::bad_request(
            "browser token creation needs PROCELLA_AUTH_MODE=descope; in dev mode log in with a dev token",
        ));
    };
    let Some(management_key) = settings.management_key() else {
        return Err(ApiError::new(
            501,
            "browser login is not configured (PROCELLA_DESCOPE_MANAGEMENT_KEY is not set): log in with an access key instead",
        ));
    };
    if caller.token_name.is_some() {
        return Err(ApiError::forbidden("access keys are created from a browser session, not with another access key"));
    }
    let body: CliTokenRequest = read_json(req).await?;
    // Keys carry a copy of the user's roles, so they expire, and a user holds a bounded number of them.
    let t = super::memo::now_secs();
    let held = descope::working_keys_of(settings, management_key, &caller.user_id, t).await?;
    if held >= settings.cli_token_max as usize {
        return Err(crate::auth::descope::too_many_keys(held, settings.cli_token_max));
    }
    let create = crate::auth::descope::create_access_key_body(caller, &body.description, settings.cli_token_expiry(t))?;
    let key = descope::create_access_key(settings, management_key, &create.to_string()).await?;
    json(&json!({ "accessToken": key, "name": caller.login }))
}

fn descope_settings(config: &Config) -> ApiResult<&crate::auth::descope::DescopeSettings> {
    match &config.auth {
        AuthConfig::Descope(d) => Ok(d),
        AuthConfig::Dev(_) => Err(ApiError::bad_request(
            "the Descope widgets need PROCELLA_AUTH_MODE=descope; dev mode's users come from PROCELLA_DEV_USERS",
        )),
    }
}

fn widgets(list: &[(&str, &str)]) -> Value {
    Value::Object(list.iter().map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned()))).collect())
}

/// `GET /api/console/settings?org=`: the Settings page's configuration (the Descope widgets' in descope mode), for
/// admins of the org only.
pub fn settings(config: &Config, caller: &Caller, url: &Url) -> ApiResult<Response> {
    let org = url.query_pairs().find(|(k, _)| k == "org").map(|(_, v)| v.into_owned());
    let org = org.or_else(|| caller.default_org().map(str::to_owned)).unwrap_or_default();
    let membership = caller.orgs.iter().find(|o| o.org == org).ok_or_else(|| ApiError::not_found(format!("organization '{org}' not found")))?;
    if membership.role != Role::Admin {
        return Err(ApiError::forbidden(format!("settings of organization '{org}' are for its admins; you are a {}", membership.role)));
    }
    // Dev mode has no Descope widgets, but the OIDC trust settings are the same in both modes.
    let AuthConfig::Descope(d) = &config.auth else {
        return json(&json!({ "org": org, "mode": "dev" }));
    };
    json(&json!({ "org": org, "mode": "descope", "projectId": d.project_id, "baseUrl": d.base_url,
                  "tenantId": membership.tenant, "widgets": widgets(&WIDGETS_SETTINGS) }))
}

/// `GET /api/console/tokens`: the Tokens page's widget configuration (the caller's own keys and profile).
pub fn tokens(config: &Config, caller: &Caller) -> ApiResult<Response> {
    let d = descope_settings(config)?;
    let tenant = caller.orgs.first().and_then(|o| o.tenant.clone());
    json(&json!({ "projectId": d.project_id, "baseUrl": d.base_url, "tenantId": tenant,
                  "widgets": widgets(&WIDGETS_TOKENS) }))
}
