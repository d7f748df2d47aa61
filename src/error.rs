//! The one error type of the API layer, mapped once to HTTP by `edge::http::error_response`.
//!
//! Every failure the client can see is an `ApiError`: an HTTP status and a message, serialized in the Pulumi
//! error shape `{"code": <status>, "message": "..."}` that the CLI prints. Internal details (storage errors,
//! binding failures) are logged by the edge and replaced by a generic message, so nothing internal leaks.

use std::fmt;

/// An error answered to the client in the Pulumi error shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// Seconds the client should wait before retrying (sent as `Retry-After`), for 429 and 503.
    pub retry_after: Option<u32>,
    /// What went wrong inside (a storage error): logged by the edge, never sent to the client.
    pub detail: Option<String>,
    /// The RFC 6749 §5.2 error code, for the token endpoint (`POST /api/oauth/token`): its answers carry
    /// `error`/`error_description` beside `code`/`message`, which OAuth clients and the CLI both read.
    pub oauth: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), retry_after: None, detail: None, oauth: None }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, message)
    }
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(405, format!("method {method} is not allowed on this path"))
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, message)
    }
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(413, message)
    }
    /// A server-side failure whose detail has already been logged; the client sees only `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, message)
    }
    /// The deployment is misconfigured (a missing or malformed variable). The message names the variable
    /// and the problem, never its value.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(500, format!("server configuration error: {}", message.into()))
    }

    /// A request body that is not the JSON we expect. The message keeps serde's description of *what* is wrong
    /// (a missing field, a wrong type, a position) but drops quoted input values, which may be secrets.
    pub fn bad_json(err: &serde_json::Error) -> Self {
        Self::bad_request(format!("invalid request body: {}", redact_quoted(&err.to_string())))
    }

    /// The body of the Pulumi error shape.
    pub fn body(&self) -> serde_json::Value {
        match self.oauth {
            None => serde_json::json!({ "code": self.status, "message": self.message }),
            Some(error) => serde_json::json!({
                "code": self.status, "message": self.message, "error": error, "error_description": self.message,
            }),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Replaces every double-quoted run in `s` with `"…"`; field names in serde messages are back-quoted and stay.
fn redact_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_quote = false;
    for c in s.chars() {
        if c == '"' {
            if in_quote {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            in_quote = !in_quote;
        } else if !in_quote {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_the_pulumi_shape() {
        let e = ApiError::not_found("stack 'a/b/c' not found");
        assert_eq!(e.body(), serde_json::json!({"code": 404, "message": "stack 'a/b/c' not found"}));
    }

    #[test]
    fn bad_json_names_the_field_but_not_the_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            n: u32,
        }
        let err = serde_json::from_str::<Body>(r#"{"n": "sekrit-value"}"#).unwrap_err();
        let e = ApiError::bad_json(&err);
        assert_eq!(e.status, 400);
        assert!(!e.message.contains("sekrit"), "{}", e.message);
        assert!(e.message.contains("invalid type"), "{}", e.message);
        let missing = serde_json::from_str::<Body>("{}").unwrap_err();
        assert!(ApiError::bad_json(&missing).message.contains("missing field `n`"));
    }
}
