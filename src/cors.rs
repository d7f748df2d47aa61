//! Cross-origin requests (`PROCELLA_CORS_ORIGINS`): an explicit allowlist, empty by default, meaning same origin
//! only. The dashboard is served by the worker itself and the CLI is not a browser, so neither needs CORS; an
//! operator lists the origins of other browser front ends on purpose. `*` is never answered, and never accepted.

use crate::error::ApiError;

/// The allowlisted origins, each `scheme://host[:port]` exactly as a browser sends it in `Origin`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<String>);

/// What a preflight may ask for: the methods of the API and the headers its clients send.
pub const ALLOW_METHODS: &str = "GET, HEAD, POST, PATCH, PUT, DELETE";
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, Content-Encoding, Accept";
/// How long a browser may cache a preflight answer, in seconds.
pub const MAX_AGE: &str = "600";

impl CorsOrigins {
    /// Parses a comma-separated list.
    ///
    /// # Errors
    /// A configuration error for `*` or for an entry that is not a bare origin.
    pub fn parse(list: Option<&str>) -> Result<Self, ApiError> {
        let mut out = Vec::new();
        for entry in list.unwrap_or("").split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry.contains('*') {
                return Err(ApiError::config("PROCELLA_CORS_ORIGINS must list origins; `*` is never allowed"));
            }
            let rest = entry.strip_prefix("https://").or_else(|| entry.strip_prefix("http://"));
            let bare = rest.is_some_and(|host| !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']));
            if !bare {
                return Err(ApiError::config(format!(
                    "PROCELLA_CORS_ORIGINS: {entry:?} is not an origin (scheme://host[:port], no path)"
                )));
            }
            out.push(entry.to_ascii_lowercase());
        }
        Ok(Self(out))
    }

    /// The origin to name in `Access-Control-Allow-Origin`, when the request's `Origin` is listed.
    pub fn allowed<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        origin.filter(|o| self.0.iter().any(|allowed| allowed.eq_ignore_ascii_case(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_same_origin_only() {
        let none = CorsOrigins::parse(None).unwrap();
        assert_eq!(none.allowed(Some("https://app.example.com")), None);
        assert_eq!(CorsOrigins::parse(Some(" , ")).unwrap(), none);
    }

    #[test]
    fn listed_origins_are_allowed_exactly() {
        let c = CorsOrigins::parse(Some("https://app.example.com, http://localhost:3000")).unwrap();
        assert_eq!(c.allowed(Some("https://app.example.com")), Some("https://app.example.com"));
        assert_eq!(c.allowed(Some("http://localhost:3000")), Some("http://localhost:3000"));
        assert_eq!(c.allowed(Some("https://app.example.com.evil.test")), None);
        assert_eq!(c.allowed(Some("http://app.example.com")), None);
        assert_eq!(c.allowed(None), None);
    }

    #[test]
    fn a_wildcard_or_a_path_is_a_configuration_error() {
        for bad in ["*", "https://*.example.com", "app.example.com", "https://app.example.com/", "ftp://x"] {
            let e = CorsOrigins::parse(Some(bad)).unwrap_err();
            assert!(e.message.contains("PROCELLA_CORS_ORIGINS"), "{bad}: {}", e.message);
        }
    }
}
