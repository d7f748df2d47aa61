//! The Workers runtime side: the fetch entry point and the adapters to D1, R2 and the Durable Object.
//!
//! A request flows one way: route → authenticate (`Caller`) → authorize (org membership, role for the method)
//! → handler → storage. Every failure on the way is an `ApiError`, turned into a response in one place.

mod db;
mod http;
mod lease;
mod stacks;
mod user;

use crate::auth::{parse_authorization, Caller, Credential};
use crate::config::{AuthConfig, Config};
use crate::error::ApiError;
use crate::routes::Route;
use http::{json, ApiResult};
use worker::{event, Context, D1Database, Env, Request, Response};

/// The variables the configuration reads; secrets arrive the same way as vars.
fn env_var(env: &Env, name: &str) -> Option<String> {
    env.var(name).ok().map(|v| v.to_string())
}

#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let method = req.method().to_string();
    let path = req.path();
    let result = handle(&mut req, &env, &method).await;
    let response = match result {
        Ok(r) => r,
        Err(e) => {
            if e.status >= 500 {
                worker::console_error!("{method} {path} -> {} {}", e.status, e.message);
            }
            http::error_response(&e)?
        }
    };
    worker::console_log!("{method} {path} -> {}", response.status_code());
    Ok(response)
}

async fn handle(req: &mut Request, env: &Env, method: &str) -> ApiResult<Response> {
    let route = Route::parse(method, &req.path())?;
    let config = Config::from_vars(|name| env_var(env, name));
    let db = env.d1("DB")?;

    match route {
        // A health check that says what is wrong: configuration first, then storage.
        Route::Health => {
            config?;
            db::ping(&db).await?;
            return json(&serde_json::json!({ "status": "ok" }));
        }
        Route::Capabilities => return json(&crate::api::user::Capabilities::current()),
        _ => {}
    }

    let caller = authenticate(&config?, req)?;
    if let Some(org) = route.org() {
        caller.authorize(org, method, || route.not_found())?;
    }
    dispatch(route, &caller, &db, req).await
}

fn authenticate(config: &Config, req: &Request) -> ApiResult<Caller> {
    let header = req.headers().get("authorization")?;
    match parse_authorization(header.as_deref())? {
        Credential::Token(token) => match &config.auth {
            AuthConfig::Dev(users) => users.authenticate(token),
        },
        Credential::UpdateToken(_) => {
            Err(ApiError::unauthorized("an update token is only valid on the routes of its running update"))
        }
        Credential::Bearer(_) => Err(ApiError::unauthorized(
            "Bearer sessions are not accepted by this auth mode; use `Authorization: token <access-token>`",
        )),
    }
}

async fn dispatch(route: Route, caller: &Caller, db: &D1Database, req: &mut Request) -> ApiResult<Response> {
    let url = req.url()?;
    match route {
        Route::Health | Route::Capabilities => Err(ApiError::internal("unreachable route")),
        Route::User => user::get_user(caller),
        Route::DefaultOrg => user::default_org(caller),
        Route::UserStacks => user::list_stacks(caller, db, &url).await,
        Route::Project { org, project } => match req.method().to_string().as_str() {
            "HEAD" => stacks::project_exists(db, &org, &project).await,
            _ => stacks::create(db, &org, &project, req).await,
        },
        Route::Stack(p) => match req.method().to_string().as_str() {
            "DELETE" => stacks::delete(db, &p, &url).await,
            _ => stacks::get(db, &p).await,
        },
        Route::StackRename(p) => stacks::rename(db, &p, req).await,
        Route::StackTags(p) => stacks::replace_tags(db, &p, req).await,
    }
}
