//! Request body decoding that must be safe against hostile input: gzip with a hard cap on the inflated size.

use crate::error::ApiError;
use std::io::Read;

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
    fn garbage_is_a_400() {
        assert_eq!(gunzip(b"not gzip at all", 100).unwrap_err().status, 400);
    }
}
