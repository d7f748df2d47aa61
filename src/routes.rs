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
}

impl Route {
    /// Routes that answer without authentication.
    pub fn is_public(&self) -> bool {
        matches!(self, Route::Health | Route::Capabilities)
    }

    /// The organization a route belongs to, which the caller must be a member of.
    pub fn org(&self) -> Option<&str> {
        match self {
            Route::Project { org, .. } => Some(org),
            Route::Stack(s) | Route::StackRename(s) | Route::StackTags(s) => Some(&s.org),
            _ => None,
        }
    }

    /// The 404 this route answers when its resource does not exist, or when the caller is not in its org:
    /// the two are indistinguishable on purpose.
    pub fn not_found(&self) -> ApiError {
        match self {
            Route::Project { org, project } => ApiError::not_found(format!("project '{org}/{project}' not found")),
            Route::Stack(s) | Route::StackRename(s) | Route::StackTags(s) => {
                ApiError::not_found(format!("stack '{}/{}/{}' not found", s.org, s.project, s.stack))
            }
            _ => ApiError::not_found("not found"),
        }
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
    fn unknown_paths_are_404_and_wrong_methods_405() {
        assert_eq!(Route::parse("GET", "/nope").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/api/stacks/acme").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/api/stacks/acme/web/dev/bogus").unwrap_err().status, 404);
        assert_eq!(Route::parse("GET", "/api/stacks//web").unwrap_err().status, 404);
        assert_eq!(Route::parse("PUT", "/api/stacks/acme/web/dev").unwrap_err().status, 405);
        assert_eq!(Route::parse("POST", "/api/user").unwrap_err().status, 405);
    }

    #[test]
    fn only_health_and_capabilities_are_public() {
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
