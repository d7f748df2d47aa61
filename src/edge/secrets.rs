//! Handlers of the service secrets provider: encrypt, decrypt and their batches, bound to the stack.

use super::db::StackRow;
use super::http::{json, no_content, read_body, ApiResult, MAX_JSON_BODY, MAX_LARGE_BODY};
use crate::error::ApiError;
use crate::routes::SecretsOp;
use crate::secrets::{MasterKey, StackCipher};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{Request, Response};

#[derive(Deserialize)]
struct EncryptRequest {
    plaintext: String,
}
#[derive(Deserialize)]
struct DecryptRequest {
    ciphertext: String,
}
#[derive(Deserialize)]
struct BatchEncryptRequest {
    plaintexts: Vec<String>,
}
#[derive(Deserialize)]
struct BatchDecryptRequest {
    ciphertexts: Vec<String>,
}

fn b64(s: &str, what: &str) -> ApiResult<Vec<u8>> {
    B64.decode(s).map_err(|_| ApiError::bad_request(format!("{what} is not valid base64")))
}

fn encrypt_one(c: &StackCipher, plaintext_b64: &str) -> ApiResult<String> {
    let pt = b64(plaintext_b64, "plaintext")?;
    Ok(B64.encode(c.encrypt_deterministic(&pt)?))
}

fn decrypt_one(c: &StackCipher, ciphertext_b64: &str) -> ApiResult<String> {
    Ok(B64.encode(c.decrypt(&b64(ciphertext_b64, "ciphertext")?)?))
}

fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> ApiResult<T> {
    // Secrets routes never echo the body: a shape error says only that the shape is wrong.
    crate::body::require_object(bytes)?;
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("invalid request body: {}", e.classify_str())))
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "unexpected JSON shape",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

pub async fn handle(key: &MasterKey, stack: &StackRow, op: SecretsOp, req: &mut Request) -> ApiResult<Response> {
    let cipher = key.for_stack(stack.id);
    // Only the batches carry many secrets (a whole stack's config); one secret gets the small JSON cap.
    let cap = match op {
        SecretsOp::BatchEncrypt | SecretsOp::BatchDecrypt => MAX_LARGE_BODY,
        _ => MAX_JSON_BODY,
    };
    let bytes = read_body(req, cap).await?;
    match op {
        SecretsOp::Encrypt => {
            let r: EncryptRequest = parse(&bytes)?;
            json(&json!({ "ciphertext": encrypt_one(&cipher, &r.plaintext)? }))
        }
        SecretsOp::Decrypt => {
            let r: DecryptRequest = parse(&bytes)?;
            json(&json!({ "plaintext": decrypt_one(&cipher, &r.ciphertext)? }))
        }
        SecretsOp::BatchEncrypt => {
            let r: BatchEncryptRequest = parse(&bytes)?;
            let out = r.plaintexts.iter().map(|p| encrypt_one(&cipher, p)).collect::<ApiResult<Vec<_>>>()?;
            json(&json!({ "ciphertexts": out }))
        }
        SecretsOp::BatchDecrypt => {
            let r: BatchDecryptRequest = parse(&bytes)?;
            // Keyed by the exact base64 string sent: the CLI looks its ciphertexts up verbatim.
            let mut map = Map::with_capacity(r.ciphertexts.len());
            for ct in r.ciphertexts {
                let pt = decrypt_one(&cipher, &ct)?;
                map.insert(ct, Value::String(pt));
            }
            json(&json!({ "plaintexts": map }))
        }
        SecretsOp::LogDecryption | SecretsOp::LogBatchDecryption => no_content(),
    }
}
