//! The API's routes: a request's method and path parsed into what it asks for, before any I/O.
//!
//! Path segments stay raw strings here; names are validated by the handler after authentication, so an
//! unauthenticated caller learns nothing from the shape of a path beyond 401.

use crate::error::ApiError;

/// `{org}/{project}/{stack}` as written in the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackPath {
    pub org: String,
    pub project: String,
    pub stack: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    Capabilities,
    User,
    DefaultOrg,
    UserStacks,
    /// `HEAD` (exists?) and `POST` (create a stack) on `/api/stacks/{org}/{project}`.
    Project { org: String, project: String },
    /// `GET` and `DELETE` on `/api/stacks/{org}/{project}/{stack}`.
    Stack(StackPath),
    StackRename(StackPath),
    StackTags(StackPath),
    /// `POST .../{stack}/{update|preview|refresh|destroy}`: create an update of that kind.
    CreateUpdate(StackPath, UpdateKind),
    /// Routes of one update: `.../{stack}/update/{id}[/op]`.
    Update(StackPath, String, UpdateOp),
    Export(StackPath, Option<i64>),
    Import(StackPath),
    History(StackPath),
    LatestUpdate(StackPath),
    UpdateByVersion(StackPath, i64),
    Secrets(StackPath, SecretsOp),
    /// A page of the browser side (login for the CLI, the dashboard): an HTML shell, data comes from the API.
    Page(Page),
    /// `POST /api/auth/cli-token`: a browser session asks for an access key for `pulumi login`.
    CliToken,
    /// `GET /api/console/settings?org=`: what the Settings page's widgets need (org admins only).
    ConsoleSettings,
    /// `GET /api/console/tokens`: what the Tokens page's widgets need.
    ConsoleTokens,
    /// `DELETE /api/admin/{org}/misnamed-stacks?project=&stack=[&force=true]`: removes a stack whose project or
    /// stack name is made only of periods (accepted before such names were refused; a URL path cannot name it).
    MisnamedStack { org: String },
    /// `GET /api/orgs/{org}/auditlogs`: the org's audit log (org admins only; `crate::audit`).
    AuditLogs { org: String },
    /// `GET` (what fired) and `POST` (arm a plan; `null` disarms) on `.../{stack}/_faults`: the test build's fault
    /// switch (`src/engine/faults.rs`). The release build has no such route.
    /// `POST /api/oauth/token`: an OIDC ID token exchanged for an access token (`pulumi login --oidc-token`).
    /// Public: the form's ID token is the credential.
    OAuthToken,
    /// `GET` (list) and `POST` (register) on `/api/orgs/{org}/oidc/issuers` (org admins only; `crate::oidc`).
    OidcIssuers { org: String },
    /// `PUT` (replace) and `DELETE` (remove, revoking its tokens) on `/api/orgs/{org}/oidc/issuers/{id}`.
    OidcIssuer { org: String, id: String },
    /// `GET /api/orgs/{org}/oidc/tokens`: the org's unexpired exchanged tokens (org admins only).
    OidcTokens { org: String },
    /// `DELETE /api/orgs/{org}/oidc/tokens/{id}`: revokes one.
    OidcToken { org: String, id: String },
    #[cfg(feature = "faults")]
    Faults(StackPath),
}

/// The pages the worker serves as HTML shells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Page {
    Stacks,
    CliLogin,
    WelcomeCli,
    Stack(StackPath),
    Update(StackPath, String),
    /// `/stacks/{org}/{project}/{stack}/resources?urn=`: one resource of the stack's latest state.
    Resource(StackPath),
    Tokens,
    Settings,
    /// `/audit?org=`: the org's audit log, for its admins.
    Audit,
}

impl Page {
    /// The name the page's script knows it by.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Stacks => "stacks",
            Self::CliLogin => "cli-login",
            Self::WelcomeCli => "welcome",
            Self::Stack(_) => "stack",
            Self::Update(..) => "update",
            Self::Tokens => "tokens",
            Self::Settings => "settings",
            Self::Resource(_) => "resource",
            Self::Audit => "audit",
        }
    }
}

/// What a created update does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    Update,
    Preview,
    Refresh,
    Destroy,
    Import,
}

impl UpdateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Update => "update",
            Self::Preview => "preview",
            Self::Refresh => "refresh",
            Self::Destroy => "destroy",
            Self::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "update" => Self::Update,
            "preview" => Self::Preview,
            "refresh" => Self::Refresh,
            "destroy" => Self::Destroy,
            "import" => Self::Import,
            _ => return None,
        })
    }
}

/// An operation on one update. `Start`, `Get` and `Cancel` use the API token; the rest the update's lease token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOp {
    Start,
    Get,
    Cancel,
    Complete,
    RenewLease,
    Events,
    Checkpoint,
    CheckpointVerbatim,
    CheckpointDelta,
    /// `PATCH .../journalentries`: a batch of journal entries (journaling, the CLI's default protocol).
    JournalEntries,
    /// `GET .../update/{id}/events`: the engine events of an update, for the dashboard.
    ListEvents,
    /// `GET .../update/{id}/live`: the running update's events as they arrive (server-sent events).
    Live,
}

impl UpdateOp {
    /// Whether the route is authenticated by `update-token` (the execution routes of a running update).
    pub fn uses_lease_token(self) -> bool {
        !matches!(self, Self::Start | Self::Get | Self::Cancel | Self::ListEvents | Self::Live)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsOp {
    Encrypt,
    Decrypt,
    BatchEncrypt,
    BatchDecrypt,
    LogDecryption,
    LogBatchDecryption,
}

impl Route {
    /// Routes that answer without authentication.
    pub fn is_public(&self) -> bool {
        matches!(self, Route::Health | Route::Capabilities | Route::Page(_) | Route::OAuthToken)
    }

    /// The organization a route belongs to, which the caller must be a member of.
    pub fn org(&self) -> Option<&str> {
        match self {
            Route::Project { org, .. }
            | Route::MisnamedStack { org }
            | Route::AuditLogs { org }
            | Route::OidcIssuers { org }
            | Route::OidcIssuer { org, .. }
            | Route::OidcTokens { org }
            | Route::OidcToken { org, .. } => Some(org),
            _ => self.stack_path().map(|s| s.org.as_str()),
        }
    }

    /// The 404 this route answers when its resource does not exist, or when the caller is not in its org:
    /// the two are indistinguishable on purpose.
    pub fn not_found(&self) -> ApiError {
        match self {
            Route::Project { org, project } => ApiError::not_found(format!("project '{org}/{project}' not found")),
            _ => match self.stack_path() {
                Some(s) => ApiError::not_found(format!("stack '{}/{}/{}' not found", s.org, s.project, s.stack)),
                None => ApiError::not_found("not found"),
            },
        }
    }

    /// The stack a route is about, if any.
    pub fn stack_path(&self) -> Option<&StackPath> {
        match self {
            Route::Stack(s)
            | Route::StackRename(s)
            | Route::StackTags(s)
            | Route::CreateUpdate(s, _)
            | Route::Update(s, _, _)
            | Route::Export(s, _)
            | Route::Import(s)
            | Route::History(s)
            | Route::LatestUpdate(s)
            | Route::UpdateByVersion(s, _)
            | Route::Secrets(s, _) => Some(s),
            #[cfg(feature = "faults")]
            Route::Faults(s) => Some(s),
            _ => None,
        }
    }

    /// The route's path template, as the request log names it (names in a path are not secret, but a template
    /// groups a route's requests whatever stack they are about).
    pub fn template(&self) -> &'static str {
        const S: &str = "/api/stacks/{org}/{project}/{stack}";
        macro_rules! stack {
            ($rest:literal) => {
                concat!("/api/stacks/{org}/{project}/{stack}", $rest)
            };
        }
        match self {
            Route::Health => "/healthz",
            Route::Capabilities => "/api/capabilities",
            Route::User => "/api/user",
            Route::DefaultOrg => "/api/user/organizations/default",
            Route::UserStacks => "/api/user/stacks",
            Route::Project { .. } => "/api/stacks/{org}/{project}",
            Route::Stack(_) => S,
            Route::StackRename(_) => stack!("/rename"),
            Route::StackTags(_) => stack!("/tags"),
            Route::CreateUpdate(..) => stack!("/{kind}"),
            Route::Update(_, _, op) => match op {
                UpdateOp::Start | UpdateOp::Get => stack!("/update/{id}"),
                UpdateOp::Cancel => stack!("/update/{id}/cancel"),
                UpdateOp::Complete => stack!("/update/{id}/complete"),
                UpdateOp::RenewLease => stack!("/update/{id}/renew_lease"),
                UpdateOp::Events => stack!("/update/{id}/events/batch"),
                UpdateOp::ListEvents => stack!("/update/{id}/events"),
                UpdateOp::Live => stack!("/update/{id}/live"),
                UpdateOp::Checkpoint => stack!("/update/{id}/checkpoint"),
                UpdateOp::CheckpointVerbatim => stack!("/update/{id}/checkpointverbatim"),
                UpdateOp::CheckpointDelta => stack!("/update/{id}/checkpointdelta"),
                UpdateOp::JournalEntries => stack!("/update/{id}/journalentries"),
            },
            Route::Export(_, None) => stack!("/export"),
            Route::Export(_, Some(_)) => stack!("/export/{version}"),
            Route::Import(_) => stack!("/import"),
            Route::History(_) => stack!("/updates"),
            Route::LatestUpdate(_) => stack!("/updates/latest"),
            Route::UpdateByVersion(..) => stack!("/updates/{version}"),
            Route::Secrets(_, op) => match op {
                SecretsOp::Encrypt => stack!("/encrypt"),
                SecretsOp::Decrypt => stack!("/decrypt"),
                SecretsOp::BatchEncrypt => stack!("/batch-encrypt"),
                SecretsOp::BatchDecrypt => stack!("/batch-decrypt"),
                SecretsOp::LogDecryption => stack!("/decrypt/log-decryption"),
                SecretsOp::LogBatchDecryption => stack!("/decrypt/log-batch-decryption"),
            },
            Route::Page(_) => "(page)",
            Route::CliToken => "/api/auth/cli-token",
            Route::ConsoleSettings => "/api/console/settings",
            Route::ConsoleTokens => "/api/console/tokens",
            Route::MisnamedStack { .. } => "/api/admin/{org}/misnamed-stacks",
            Route::AuditLogs { .. } => "/api/orgs/{org}/auditlogs",
            Route::OAuthToken => "/api/oauth/token",
            Route::OidcIssuers { .. } => "/api/orgs/{org}/oidc/issuers",
            Route::OidcIssuer { .. } => "/api/orgs/{org}/oidc/issuers/{id}",
            Route::OidcTokens { .. } => "/api/orgs/{org}/oidc/tokens",
            Route::OidcToken { .. } => "/api/orgs/{org}/oidc/tokens/{id}",
            #[cfg(feature = "faults")]
            Route::Faults(_) => stack!("/_faults"),
        }
    }

    /// Whether the route is authenticated by an update's lease token rather than an API token.
    pub fn uses_lease_token(&self) -> bool {
        matches!(self, Route::Update(_, _, op) if op.uses_lease_token())
    }

    /// Parses a method and a URL path (without query).
    ///
    /// # Errors
    /// 404 for an unknown path, 405 for a known path with the wrong method.
    pub fn parse(method: &str, path: &str) -> Result<Route, ApiError> {
        let trimmed = path.trim_end_matches('/');
        let segs: Vec<&str> = trimmed.split('/').skip(1).collect();
        let (route, methods): (Route, &[&str]) = match segs.as_slice() {
            ["healthz"] => (Route::Health, &["GET", "HEAD"]),
            ["api", "capabilities"] => (Route::Capabilities, &["GET"]),
            ["api", "user"] => (Route::User, &["GET"]),
            ["api", "user", "organizations", "default"] => (Route::DefaultOrg, &["GET"]),
            ["api", "user", "stacks"] => (Route::UserStacks, &["GET"]),
            ["api", "auth", "cli-token"] => (Route::CliToken, &["POST"]),
            ["api", "console", "settings"] => (Route::ConsoleSettings, &["GET"]),
            ["api", "console", "tokens"] => (Route::ConsoleTokens, &["GET"]),
            ["api", "orgs", org, "auditlogs"] if !org.is_empty() => (Route::AuditLogs { org: (*org).into() }, &["GET"]),
            ["api", "oauth", "token"] => (Route::OAuthToken, &["POST"]),
            ["api", "orgs", org, "oidc", "issuers"] if !org.is_empty() => {
                (Route::OidcIssuers { org: (*org).into() }, &["GET", "POST"])
            }
            ["api", "orgs", org, "oidc", "issuers", id] if !org.is_empty() && !id.is_empty() => {
                (Route::OidcIssuer { org: (*org).into(), id: (*id).into() }, &["PUT", "DELETE"])
            }
            ["api", "orgs", org, "oidc", "tokens"] if !org.is_empty() => (Route::OidcTokens { org: (*org).into() }, &["GET"]),
            ["api", "orgs", org, "oidc", "tokens", id] if !org.is_empty() && !id.is_empty() => {
                (Route::OidcToken { org: (*org).into(), id: (*id).into() }, &["DELETE"])
            }
            ["api", "admin", org, "misnamed-stacks"] if !org.is_empty() => {
                (Route::MisnamedStack { org: (*org).into() }, &["DELETE"])
            }
            [] | [""] => (Route::Page(Page::Stacks), PAGE_METHODS),
            ["cli-login"] => (Route::Page(Page::CliLogin), PAGE_METHODS),
            ["welcome", "cli"] => (Route::Page(Page::WelcomeCli), PAGE_METHODS),
            ["tokens"] | ["user", "settings", "tokens"] => (Route::Page(Page::Tokens), PAGE_METHODS),
            ["settings"] => (Route::Page(Page::Settings), PAGE_METHODS),
            ["stacks", o, p, st] if !o.is_empty() && !p.is_empty() && !st.is_empty() => {
                let sp = StackPath { org: (*o).into(), project: (*p).into(), stack: (*st).into() };
                (Route::Page(Page::Stack(sp)), PAGE_METHODS)
            }
            ["stacks", o, p, st, "resources"] if !o.is_empty() && !p.is_empty() && !st.is_empty() => {
                let sp = StackPath { org: (*o).into(), project: (*p).into(), stack: (*st).into() };
                (Route::Page(Page::Resource(sp)), PAGE_METHODS)
            }
            ["audit"] => (Route::Page(Page::Audit), PAGE_METHODS),
            ["stacks", o, p, st, "updates", id] if !o.is_empty() && !p.is_empty() && !st.is_empty() && !id.is_empty() => {
                let sp = StackPath { org: (*o).into(), project: (*p).into(), stack: (*st).into() };
                (Route::Page(Page::Update(sp, (*id).into())), PAGE_METHODS)
            }
            ["api", "stacks", org, project] if !org.is_empty() && !project.is_empty() => {
                (Route::Project { org: (*org).into(), project: (*project).into() }, &["HEAD", "POST"])
            }
            ["api", "stacks", org, project, stack, rest @ ..]
                if !org.is_empty() && !project.is_empty() && !stack.is_empty() =>
            {
                let sp = StackPath { org: (*org).into(), project: (*project).into(), stack: (*stack).into() };
                match rest {
                    [] => (Route::Stack(sp), &["GET", "DELETE"]),
                    ["rename"] => (Route::StackRename(sp), &["POST"]),
                    ["tags"] => (Route::StackTags(sp), &["PATCH"]),
                    [kind @ ("update" | "preview" | "refresh" | "destroy")] => {
                        let kind = UpdateKind::parse(kind).ok_or_else(|| unknown_route(method, path))?;
                        (Route::CreateUpdate(sp, kind), &["POST"])
                    }
                    // The CLI uses the literal segment `update` for every kind's execution routes; the others are
                    // accepted too so a client that spells the kind still works.
                    [kind, id, op @ ..] if UpdateKind::parse(kind).is_some() && !id.is_empty() => {
                        let (op, methods): (UpdateOp, &[&str]) = match op {
                            [] => (UpdateOp::Start, &["POST", "GET"]),
                            ["cancel"] => (UpdateOp::Cancel, &["POST"]),
                            ["complete"] => (UpdateOp::Complete, &["POST"]),
                            ["renew_lease"] => (UpdateOp::RenewLease, &["POST"]),
                            ["events", "batch"] => (UpdateOp::Events, &["POST"]),
                            ["events"] => (UpdateOp::ListEvents, &["GET"]),
                            ["live"] => (UpdateOp::Live, &["GET"]),
                            ["checkpoint"] => (UpdateOp::Checkpoint, &["PATCH"]),
                            ["checkpointverbatim"] => (UpdateOp::CheckpointVerbatim, &["PATCH"]),
                            ["checkpointdelta"] => (UpdateOp::CheckpointDelta, &["PATCH"]),
                            ["journalentries"] => (UpdateOp::JournalEntries, &["PATCH"]),
                            _ => return Err(unknown_route(method, path)),
                        };
                        let op = if op == UpdateOp::Start && method == "GET" { UpdateOp::Get } else { op };
                        (Route::Update(sp, (*id).into(), op), methods)
                    }
                    #[cfg(feature = "faults")]
                    ["_faults"] => (Route::Faults(sp), &["GET", "POST"]),
                    ["export"] => (Route::Export(sp, None), &["GET"]),
                    ["export", v] => (Route::Export(sp, Some(parse_version(v)?)), &["GET"]),
                    ["import"] => (Route::Import(sp), &["POST"]),
                    ["updates"] => (Route::History(sp), &["GET"]),
                    ["updates", "latest"] => (Route::LatestUpdate(sp), &["GET"]),
                    ["updates", v] => (Route::UpdateByVersion(sp, parse_version(v)?), &["GET"]),
                    ["encrypt"] => (Route::Secrets(sp, SecretsOp::Encrypt), &["POST"]),
                    ["decrypt"] => (Route::Secrets(sp, SecretsOp::Decrypt), &["POST"]),
                    ["batch-encrypt"] => (Route::Secrets(sp, SecretsOp::BatchEncrypt), &["POST"]),
                    ["batch-decrypt"] => (Route::Secrets(sp, SecretsOp::BatchDecrypt), &["POST"]),
                    ["decrypt", "log-decryption"] => (Route::Secrets(sp, SecretsOp::LogDecryption), &["POST"]),
                    ["decrypt", "log-batch-decryption"] => {
                        (Route::Secrets(sp, SecretsOp::LogBatchDecryption), &["POST"])
                    }
                    _ => return Err(unknown_route(method, path)),
                }
            }
            _ => return Err(unknown_route(method, path)),
        };
        if methods.contains(&method) {
            Ok(route)
        } else {
            Err(ApiError::method_not_allowed(method))
        }
    }
}

const PAGE_METHODS: &[&str] = &["GET", "HEAD"];

fn parse_version(v: &str) -> Result<i64, ApiError> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::bad_request(format!("invalid stack version {:?}: expected a positive integer", v)))
}

fn unknown_route(method: &str, path: &str) -> ApiError {
    // The path is the client's own input, shortened so an error body cannot be used to reflect large content.
    let shown: String = path.chars().take(200).collect();
    ApiError::not_found(format!("unknown route: {method} {shown}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(o: &str, p: &str, s: &str) -> StackPath {
        StackPath { org: o.into(), project: p.into(), stack: s.into() }
    }

    #[test]
    fn every_route_is_logged_under_the_template_its_path_fills() {
        let fill = |t: &str| {
            t.replace("{org}", "o").replace("{project}", "p").replace("{stack}", "s").replace("{id}", "u1")
                .replace("{version}", "3").replace("{kind}", "preview")
        };
        let s = "/api/stacks/{org}/{project}/{stack}";
        let templates = [
            ("GET", "/healthz".to_string()), ("GET", "/api/user".into()), ("GET", "/api/user/stacks".into()),
            ("POST", "/api/stacks/{org}/{project}".into()), ("DELETE", s.into()), ("POST", format!("{s}/rename")),
            ("PATCH", format!("{s}/tags")), ("POST", format!("{s}/{{kind}}")), ("POST", format!("{s}/update/{{id}}")),
            ("PATCH", format!("{s}/update/{{id}}/journalentries")), ("POST", format!("{s}/update/{{id}}/events/batch")),
            ("GET", format!("{s}/export/{{version}}")), ("GET", format!("{s}/updates/latest")),
            ("POST", format!("{s}/decrypt/log-decryption")), ("GET", "/api/orgs/{org}/auditlogs".into()),
            ("POST", "/api/oauth/token".into()), ("POST", "/api/orgs/{org}/oidc/issuers".into()),
            ("PUT", "/api/orgs/{org}/oidc/issuers/{id}".into()), ("GET", "/api/orgs/{org}/oidc/tokens".into()),
            ("DELETE", "/api/orgs/{org}/oidc/tokens/{id}".into()),
        ];
        for (method, template) in templates {
            assert_eq!(Route::parse(method, &fill(&template)).unwrap().template(), template);
        }
    }

    #[test]
    fn parses_the_routes_the_cli_uses() {
        assert_eq!(Route::parse("GET", "/healthz").unwrap(), Route::Health);
        assert_eq!(Route::parse("GET", "/api/capabilities").unwrap(), Route::Capabilities);
        assert_eq!(Route::parse("GET", "/api/user").unwrap(), Route::User);
        assert_eq!(Route::parse("GET", "/api/user/organizations/default").unwrap(), Route::DefaultOrg);
        assert_eq!(Route::parse("GET", "/api/user/stacks").unwrap(), Route::UserStacks);
        assert_eq!(
            Route::parse("HEAD", "/api/stacks/acme/web").unwrap(),
            Route::Project { org: "acme".into(), project: "web".into() }
        );
        assert_eq!(Route::parse("DELETE", "/api/stacks/acme/web/dev").unwrap(), Route::Stack(sp("acme", "web", "dev")));
        assert_eq!(
            Route::parse("POST", "/api/stacks/acme/web/dev/rename").unwrap(),
            Route::StackRename(sp("acme", "web", "dev"))
        );
        assert_eq!(
            Route::parse("PATCH", "/api/stacks/acme/web/dev/tags").unwrap(),
            Route::StackTags(sp("acme", "web", "dev"))
        );
    }

    #[test]
    fn the_misnamed_stacks_route_belongs_to_its_org() {
        let r = Route::parse("DELETE", "/api/admin/acme/misnamed-stacks").unwrap();
        assert_eq!(r, Route::MisnamedStack { org: "acme".into() });
        assert_eq!(r.org(), Some("acme"));
        assert_eq!(Route::parse("GET", "/api/admin/acme/misnamed-stacks").unwrap_err().status, 405);
    }

    #[test]
    fn parses_update_routes() {
        let s = || sp("acme", "web", "dev");
        assert_eq!(Route::parse("POST", "/api/stacks/acme/web/dev/preview").unwrap(), Route::CreateUpdate(s(), UpdateKind::Preview));
        assert_eq!(Route::parse("POST", "/api/stacks/acme/web/dev/update/u1").unwrap(), Route::Update(s(), "u1".into(), UpdateOp::Start));
        assert_eq!(Route::parse("GET", "/api/stacks/acme/web/dev/update/u1").unwrap(), Route::Update(s(), "u1".into(), UpdateOp::Get));
        let j = Route::parse("PATCH", "/api/stacks/acme/web/dev/update/u1/journalentries").unwrap();
        assert_eq!(j, Route::Update(s(), "u1".into(), UpdateOp::JournalEntries));
        assert!(j.uses_lease_token());
        let r = Route::parse("PATCH", "/api/stacks/acme/web/dev/update/u1/checkpointdelta").unwrap();
        assert_eq!(r, Route::Update(s(), "u1".into(), UpdateOp::CheckpointDelta));
        assert!(r.uses_lease_token());
        assert!(!Route::parse("POST", "/api/stacks/acme/web/dev/update/u1/cancel").unwrap().uses_lease_token());
        assert_eq!(
            Route::parse("POST", "/api/stacks/acme/web/dev/update/u1/events/batch").unwrap(),
            Route::Update(s(), "u1".into(), UpdateOp::Events)
        );
        assert_eq!(Route::parse("GET", "/api/stacks/acme/web/dev/export/3").unwrap(), Route::Export(s(), Some(3)));
        assert_eq!(Route::parse("GET", "/api/stacks/acme/web/dev/export/x").unwrap_err().status, 400);
        assert_eq!(Route::parse("GET", "/api/stacks/acme/web/dev/updates/latest").unwrap(), Route::LatestUpdate(s()));
        assert_eq!(Route::parse("GET", "/api/stacks/acme/web/dev/updates/2").unwrap(), Route::UpdateByVersion(s(), 2));
        assert_eq!(
            Route::parse("POST", "/api/stacks/acme/web/dev/decrypt/log-batch-decryption").unwrap(),
            Route::Secrets(s(), SecretsOp::LogBatchDecryption)
        );
        assert_eq!(Route::parse("PATCH", "/api/stacks/acme/web/dev/update/u1/checkpoint").unwrap().org(), Some("acme"));
    }

    #[test]
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(Route::parse("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/api/stacks/acme").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/api/stacks/acme/web/dev/bogus").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/api/stacks//web").unwrap_err().status, 404);
        assert_eq!(Route::parse("PUT", "/api/stacks/acme/web/dev").unwrap_err().status, 405);
        assert_eq!(Route::parse("POST", "/api/user").unwrap_err().status, 405);
    }

    #[test]
    fn pages_are_html_shells_anyone_may_load() {
        assert_eq!(Route::parse("GET", "/").unwrap(), Route::Page(Page::Stacks));
        assert_eq!(Route::parse("GET", "/cli-login").unwrap(), Route::Page(Page::CliLogin));
        assert_eq!(Route::parse("GET", "/welcome/cli").unwrap(), Route::Page(Page::WelcomeCli));
        assert_eq!(Route::parse("GET", "/user/settings/tokens").unwrap(), Route::Page(Page::Tokens));
        assert_eq!(Route::parse("GET", "/stacks/a/b/c").unwrap(), Route::Page(Page::Stack(sp("a", "b", "c"))));
        assert_eq!(
            Route::parse("GET", "/stacks/a/b/c/updates/u1").unwrap(),
            Route::Page(Page::Update(sp("a", "b", "c"), "u1".into()))
        );
        assert!(Route::parse("GET", "/settings").unwrap().is_public());
        assert_eq!(Route::parse("POST", "/cli-login").unwrap_err().status, 405);
        assert_eq!(Route::parse("POST", "/api/auth/cli-token").unwrap(), Route::CliToken);
        assert!(!Route::CliToken.is_public() && !Route::ConsoleSettings.is_public());
        let events = Route::parse("GET", "/api/stacks/a/b/c/update/u1/events").unwrap();
        assert_eq!(events, Route::Update(sp("a", "b", "c"), "u1".into(), UpdateOp::ListEvents));
        assert!(!events.uses_lease_token(), "the dashboard reads events with its own credentials");
    }

    #[test]
    fn the_oidc_admin_routes_belong_to_their_org_and_the_token_endpoint_to_none() {
        let r = Route::parse("DELETE", "/api/orgs/acme/oidc/issuers/i1").unwrap();
        assert_eq!(r, Route::OidcIssuer { org: "acme".into(), id: "i1".into() });
        assert_eq!(r.org(), Some("acme"));
        assert_eq!(Route::parse("GET", "/api/orgs/acme/oidc/tokens").unwrap().org(), Some("acme"));
        assert_eq!(Route::parse("GET", "/api/orgs/acme/oidc/issuers/i1").unwrap_err().status, 405);
        let t = Route::parse("POST", "/api/oauth/token").unwrap();
        assert!(t.is_public() && t.org().is_none());
        assert_eq!(Route::parse("GET", "/api/oauth/token").unwrap_err().status, 405);
    }

    #[test]
    fn only_health_capabilities_and_pages_are_public() {
        assert!(Route::Health.is_public() && Route::Capabilities.is_public());
        assert!(!Route::User.is_public());
        assert!(!Route::Stack(sp("a", "b", "c")).is_public());
    }

    #[test]
    fn not_found_is_the_same_for_missing_and_foreign() {
        let r = Route::parse("GET", "/api/stacks/other/web/dev").unwrap();
        assert_eq!(r.org(), Some("other"));
        assert_eq!(r.not_found().message, "stack 'other/web/dev' not found");
    }
}
