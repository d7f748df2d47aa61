//! Request body decoding that must be safe against hostile input: gzip with a hard cap on the inflated size.

use crate::error::ApiError;
use serde::Deserialize;
use std::io::Read;

/// Refuses a body that is not a JSON object. serde also accepts a JSON array for a struct (its sequence form:
/// `["dev"]` would create a stack named "dev"); no client of this API sends one, so it is a 400, not a guess.
///
/// # Errors
/// 400 when the first non-blank byte is not `{`.
pub fn require_object(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(ApiError::bad_request("invalid request body: expected a JSON object")),
    }
}

/// Parses a request body that must be a JSON object into `T`.
///
/// # Errors
/// 400 for anything else, naming the field at fault but never echoing values.
pub fn json_object<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    require_object(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_json(&e))
}

/// Inflates a gzip body, refusing to produce more than `cap` bytes.
///
/// # Errors
/// 413 when the inflated body would exceed `cap`; 400 when the body is not valid gzip.
pub fn gunzip(compressed: &[u8], cap: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(cap));
    let mut decoder = flate2::read::GzDecoder::new(compressed).take(cap as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|_| ApiError::bad_request("invalid request body: Content-Encoding is gzip but the body is not valid gzip"))?;
    if out.len() > cap {
        return Err(ApiError::payload_too_large(format!("request body inflates to more than {cap} bytes")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn inflates_within_the_cap() {
        assert_eq!(gunzip(&gz(br#"{"a":1}"#), 100).unwrap(), br#"{"a":1}"#);
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        let bomb = gz(&vec![b' '; 50 << 20]);
        assert!(bomb.len() < 100 << 10, "50 MB of spaces compresses to {} bytes", bomb.len());
        let e = gunzip(&bomb, 1 << 20).unwrap_err();
        assert_eq!(e.status, 413);
    }

    #[test]
    fn a_json_array_is_not_an_object() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(rename_all = "camelCase")]
        #[allow(dead_code)]
        struct Create {
            stack_name: String,
        }
        // serde alone takes the sequence form: this is the bug the check closes.
        assert!(serde_json::from_slice::<Create>(br#"["stackName"]"#).is_ok());
        let e = json_object::<Create>(br#"["stackName"]"#).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (400, "invalid request body: expected a JSON object"));
        assert!(json_object::<Create>(b"  \n\"dev\"").is_err());
        assert_eq!(json_object::<Create>(br#" {"stackName":"dev"}"#).unwrap().stack_name, "dev");
    }

    #[test]
    fn garbage_is_a_400() {
        assert_eq!(gunzip(b"not gzip at all", 100).unwrap_err().status, 400);
    }
}
