//! The service secrets provider's crypto: AES-256-GCM under a per-stack key derived with HKDF-SHA256 from
//! `PROCELLA_ENCRYPTION_KEY`.
//!
//! A ciphertext is `0x01 || nonce (12 bytes) || AES-GCM(ciphertext || tag)`. The stack's immutable id is both
//! in the key derivation and the associated data, so another stack's ciphertext does not decrypt, even after a
//! rename.
//!
//! Encryption is deterministic within a stack: the nonce is a PRF of the plaintext under a second per-stack key
//! (a synthetic IV, as in SIV modes), so one secret always has one ciphertext. The CLI serializes the same
//! state twice in an update that uploads checkpoints (its snapshot and its shadow journal) and compares the
//! two; random nonces made every secret output a "snapshot mismatch". What this gives away is only whether two
//! secrets of one stack are equal; a nonce repeats only with its plaintext, so GCM's keystream is never reused
//! for different messages.

use crate::error::ApiError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;

const FORMAT_V1: u8 = 1;
pub const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The deployment's master key (`PROCELLA_ENCRYPTION_KEY`, 64 hex characters).
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// A fixed key for dev mode when `PROCELLA_ENCRYPTION_KEY` is unset: fine for local work, never for production
/// (descope mode refuses to run without a real key). Loudly logged at the edge when used.
pub const DEV_FALLBACK_KEY_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl MasterKey {
    /// # Errors
    /// A configuration error naming `PROCELLA_ENCRYPTION_KEY` when `hex` is not 64 hex characters
    /// (the value itself is never echoed).
    pub fn from_hex(hex: &str) -> Result<Self, ApiError> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return Err(ApiError::config(format!(
                "PROCELLA_ENCRYPTION_KEY must be 64 hex characters (32 bytes); it has {}",
                hex.len()
            )));
        }
        let mut key = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16);
            let lo = (pair[1] as char).to_digit(16);
            match (hi, lo) {
                (Some(h), Some(l)) => key[i] = (h * 16 + l) as u8,
                _ => return Err(ApiError::config("PROCELLA_ENCRYPTION_KEY must be hexadecimal (0-9, a-f)")),
            }
        }
        Ok(Self(key))
    }

    /// The key of the organization slugs derived from tenant IDs (`tenant-<PRF of the ID>`): unpredictable to
    /// anyone without the master key, so no one can take such a slug before its tenant arrives.
    pub fn slug_key(&self) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"procella-edge org slugs v1"), &self.0);
        let mut key = [0u8; 32];
        let _ = hk.expand(b"derived slugs", &mut key);
        key
    }

    /// The cipher of one stack.
    pub fn for_stack(&self, stack_id: i64) -> StackCipher {
        let hk = Hkdf::<Sha256>::new(Some(b"procella-edge secrets v1"), &self.0);
        let mut key = [0u8; 32];
        let info = format!("stack:{stack_id}");
        // HKDF-SHA256 can expand up to 8160 bytes; 32 never fails.
        let _ = hk.expand(info.as_bytes(), &mut key);
        let mut nonce_key = [0u8; 32];
        let _ = hk.expand(format!("nonce:{info}").as_bytes(), &mut nonce_key);
        StackCipher { cipher: Aes256Gcm::new(&key.into()), aad: info, nonce_key }
    }
}

pub struct StackCipher {
    cipher: Aes256Gcm,
    aad: String,
    nonce_key: [u8; 32],
}

impl StackCipher {
    /// The nonce of `plaintext`: HMAC-SHA256 (HKDF-Extract) of it under the stack's nonce key, cut to 12 bytes.
    pub fn synthetic_nonce(&self, plaintext: &[u8]) -> [u8; NONCE_LEN] {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&self.nonce_key), plaintext);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&prk[..NONCE_LEN]);
        nonce
    }

    /// Encrypts with the synthetic nonce: the same plaintext gives the same ciphertext in this stack.
    pub fn encrypt_deterministic(&self, plaintext: &[u8]) -> Result<Vec<u8>, ApiError> {
        self.encrypt(plaintext, &self.synthetic_nonce(plaintext))
    }

    pub fn encrypt(&self, plaintext: &[u8], nonce: &[u8; NONCE_LEN]) -> Result<Vec<u8>, ApiError> {
        let ct = self
            .cipher
            .encrypt(Nonce::from_slice(nonce), Payload { msg: plaintext, aad: self.aad.as_bytes() })
            .map_err(|_| ApiError::internal("encryption failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// # Errors
    /// 400 for a ciphertext that is malformed, from another stack, or tampered with.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, ApiError> {
        let undecryptable = || ApiError::bad_request("ciphertext cannot be decrypted by this stack");
        if ciphertext.len() < 1 + NONCE_LEN + TAG_LEN || ciphertext[0] != FORMAT_V1 {
            return Err(undecryptable());
        }
        let (nonce, ct) = ciphertext[1..].split_at(NONCE_LEN);
        self.cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: self.aad.as_bytes() })
            .map_err(|_| undecryptable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_hex(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn round_trips_within_a_stack() {
        let c = key().for_stack(7);
        let ct = c.encrypt(b"hunter2", &[1; 12]).unwrap();
        assert_eq!(ct.len(), 1 + 12 + 7 + 16);
        assert!(!ct.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(c.decrypt(&ct).unwrap(), b"hunter2");
        assert_ne!(ct, c.encrypt(b"hunter2", &[2; 12]).unwrap(), "fresh nonces give fresh ciphertexts");
    }

    #[test]
    fn one_secret_has_one_ciphertext_per_stack() {
        let c = key().for_stack(7);
        let a = c.encrypt_deterministic(b"hunter2").unwrap();
        assert_eq!(a, c.encrypt_deterministic(b"hunter2").unwrap(), "the CLI's two serializations agree");
        assert_ne!(a, c.encrypt_deterministic(b"hunter3").unwrap());
        assert_ne!(&a[1..13], &c.encrypt_deterministic(b"hunter3").unwrap()[1..13], "nonces differ per plaintext");
        assert_ne!(a, key().for_stack(8).encrypt_deterministic(b"hunter2").unwrap(), "and per stack");
        assert_eq!(c.decrypt(&a).unwrap(), b"hunter2");
        let random = c.encrypt(b"hunter2", &[9; 12]).unwrap();
        assert_eq!(c.decrypt(&random).unwrap(), b"hunter2", "ciphertexts with random nonces still decrypt");
    }

    #[test]
    fn another_stacks_ciphertext_does_not_decrypt() {
        let ct = key().for_stack(7).encrypt(b"s", &[1; 12]).unwrap();
        assert_eq!(key().for_stack(8).decrypt(&ct).unwrap_err().status, 400);
        let other_key = MasterKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(other_key.for_stack(7).decrypt(&ct).is_err());
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let c = key().for_stack(1);
        let mut ct = c.encrypt(b"secret", &[3; 12]).unwrap();
        let last = ct.len() - 1;
        ct[last] ^= 1;
        assert!(c.decrypt(&ct).is_err());
        assert!(c.decrypt(b"").is_err());
        assert!(c.decrypt(&[9; 40]).is_err());
    }

    #[test]
    fn the_master_key_must_be_64_hex_chars() {
        assert!(MasterKey::from_hex(DEV_FALLBACK_KEY_HEX).is_ok());
        let short = MasterKey::from_hex("abcd").unwrap_err();
        assert!(short.message.contains("64 hex characters") && !short.message.contains("abcd"));
        let bad = MasterKey::from_hex(&"zz".repeat(32)).unwrap_err();
        assert!(bad.message.contains("hexadecimal") && !bad.message.contains("zz"));
    }
}
