//! The browser side's server half: the checks on `/cli-login`'s parameters, and the HTML shell every page is.
//!
//! Pages are static shells: the bundled script (`/assets/app.js`, built from `src/ui` into the Workers static
//! assets) renders them from the API, with the caller's own credentials, so every access rule is the API's. The
//! shell carries a strict Content-Security-Policy (no inline script, no other origin but Descope's API) and a JSON
//! config block; nothing in it is a secret.

use crate::error::ApiError;
use serde::Serialize;
use serde_json::Value;

/// The CLI's callback for a browser login: where the page may send the browser, and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CliLogin {
    /// The port of the CLI's listener on 127.0.0.1.
    pub port: u16,
    pub nonce: String,
    /// Shown to the user and used as the new access key's name.
    pub description: String,
}

/// Query parameters that would send the browser somewhere other than the CLI: refused outright.
const REDIRECT_PARAMS: &[&str] = &["redirect", "redirect_uri", "redirectUri", "returnTo", "return_to", "next", "callback", "url"];
const MAX_DESCRIPTION: usize = 200;

impl CliLogin {
    /// Validates `/cli-login?cliSessionPort&cliSessionNonce&cliSessionDescription` (the CLI sends a random port,
    /// a 64-hex-character nonce, and a description naming the host and time).
    ///
    /// # Errors
    /// 400 naming the parameter: a port outside 1024–65535, a missing or malformed nonce, or any parameter that
    /// asks for a redirect elsewhere.
    pub fn from_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ApiError> {
        let (mut port, mut nonce, mut description) = (None, None, None);
        for (k, v) in pairs {
            match k {
                "cliSessionPort" => port = Some(v),
                "cliSessionNonce" => nonce = Some(v),
                "cliSessionDescription" => description = Some(v),
                k if REDIRECT_PARAMS.contains(&k) => {
                    return Err(ApiError::bad_request(format!(
                        "cli-login only ever returns to the pulumi CLI on 127.0.0.1; the parameter {k:?} is not accepted"
                    )))
                }
                _ => {}
            }
        }
        let port = port
            .filter(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|p| *p >= 1024)
            .ok_or_else(|| ApiError::bad_request("cliSessionPort must be a port number from 1024 to 65535"))?;
        let nonce = nonce
            .filter(|n| (16..=128).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
            .ok_or_else(|| ApiError::bad_request("cliSessionNonce is missing or malformed (16-128 letters, digits, - or _)"))?;
        let description: String = description
            .unwrap_or("pulumi login")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_DESCRIPTION)
            .collect();
        Ok(Self { port, nonce: nonce.to_owned(), description })
    }
}

/// What a page's script needs to know about the server; public values only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    pub page: &'static str,
    pub mode: &'static str,
    pub project_id: Option<String>,
    pub descope_base_url: Option<String>,
    /// Whether `/api/auth/cli-token` can create access keys (descope mode with a management key).
    pub browser_login: bool,
    pub params: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where Descope serves the screens of hosted flows and widgets (defined per project in the Descope console, so
/// they cannot be bundled): the components try the API's base URL first, then these.
pub const DESCOPE_STATIC_ORIGINS: [&str; 2] = ["https://static.descope.com", "https://static2.descope.com"];

/// The Content-Security-Policy of every page: scripts from this origin only (bundled from npm), API calls to this
/// origin; in descope mode also the Descope API and the origin of its hosted flow screens, which the sign-in
/// component loads (Descope's own service, not a CDN we chose). Inline styles are allowed because the Descope
/// components style their shadow roots that way; inline scripts and `eval` are not.
pub fn content_security_policy(descope_origins: &[&str]) -> String {
    let extra: String = descope_origins.iter().map(|o| format!(" {o}")).collect();
    format!(
        "default-src 'self'; script-src 'self'{extra}; style-src 'self' 'unsafe-inline'{extra}; \
         img-src 'self' data:{extra}; font-src 'self' data:{extra}; connect-src 'self'{extra}; frame-src 'self'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    )
}

/// The HTML shell of a page. The config is JSON inside a non-executed script block, with `<` escaped so no value
/// can close the block.
pub fn shell(config: &PageConfig) -> String {
    let json = serde_json::to_string(config).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>Procella</title>\
         <link rel=\"stylesheet\" href=\"/assets/app.css\"><script type=\"module\" src=\"/assets/app.js\"></script>\
         </head><body><div id=\"app\"></div><script type=\"application/json\" id=\"procella-config\">{json}</script>\
         </body></html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "8f3a8c0e4b1d2a7f9e6c5b4a3d2e1f0a8f3a8c0e4b1d2a7f9e6c5b4a3d2e1f0a";

    fn parse(q: &[(&'static str, &'static str)]) -> Result<CliLogin, ApiError> {
        CliLogin::from_query(q.iter().copied())
    }

    #[test]
    fn the_cli_parameters_are_accepted() {
        let l = parse(&[("cliSessionPort", "53211"), ("cliSessionNonce", NONCE), ("cliSessionDescription", "Generated by pulumi login on box")])
            .unwrap();
        assert_eq!((l.port, l.nonce.as_str(), l.description.as_str()), (53211, NONCE, "Generated by pulumi login on box"));
    }

    #[test]
    fn bad_ports_are_refused() {
        for port in ["80", "1023", "65536", "0", "", "abc", "8080@evil.example", "-1", "99999999"] {
            let e = parse(&[("cliSessionPort", port), ("cliSessionNonce", NONCE)]).unwrap_err();
            assert_eq!(e.status, 400, "{port}");
            assert!(e.message.contains("cliSessionPort"));
        }
        assert!(parse(&[("cliSessionNonce", NONCE)]).is_err(), "a port is required");
    }

    #[test]
    fn the_nonce_must_be_present_and_plain() {
        for nonce in ["", "short", "has space in it 123456", "<script>alert(1)</script>xxxxx"] {
            assert_eq!(parse(&[("cliSessionPort", "5000"), ("cliSessionNonce", nonce)]).unwrap_err().status, 400);
        }
        assert!(parse(&[("cliSessionPort", "5000")]).unwrap_err().message.contains("cliSessionNonce"));
    }

    #[test]
    fn a_redirect_elsewhere_is_refused() {
        let e = parse(&[("cliSessionPort", "5000"), ("cliSessionNonce", NONCE), ("redirect_uri", "https://evil.example")])
            .unwrap_err();
        assert!(e.message.contains("redirect_uri"));
    }

    #[test]
    fn descriptions_are_bounded_and_plain() {
        let long = "x".repeat(500);
        let l = CliLogin::from_query([("cliSessionPort", "5000"), ("cliSessionNonce", NONCE), ("cliSessionDescription", long.as_str())])
            .unwrap();
        assert_eq!(l.description.len(), MAX_DESCRIPTION);
        let l = parse(&[("cliSessionPort", "5000"), ("cliSessionNonce", NONCE), ("cliSessionDescription", "a\nb\u{7}c")]).unwrap();
        assert_eq!(l.description, "abc");
    }

    #[test]
    fn the_shell_cannot_be_broken_out_of() {
        let config = PageConfig {
            page: "cli-login",
            mode: "dev",
            project_id: None,
            descope_base_url: None,
            browser_login: false,
            params: serde_json::json!({"description": "</script><script>alert(1)</script>"}),
            error: None,
        };
        let html = shell(&config);
        assert_eq!(html.matches("</script>").count(), 2, "only the shell's own two script blocks close");
        assert!(html.contains("\\u003c/script>"));
    }

    #[test]
    fn the_policy_allows_only_this_origin_and_descope() {
        let dev = content_security_policy(&[]);
        assert!(dev.contains("script-src 'self';") && dev.contains("connect-src 'self';"));
        let csp = content_security_policy(&["https://api.descope.com", DESCOPE_STATIC_ORIGINS[0]]);
        assert!(csp.contains("connect-src 'self' https://api.descope.com https://static.descope.com;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-eval") && !csp.contains("script-src 'self' 'unsafe-inline'"));
    }
}
