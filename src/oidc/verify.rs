//! Verifying a CI platform's ID token: RS256 or ES256 only, the key picked by `kid` (and its type) from the
//! issuer's JWKS, `exp`/`iat`/`nbf` with a small leeway, `iss` exactly the registered URL, `aud` one of the
//! issuer's accepted audiences. Pure: the edge fetches and caches the key set and passes the clock in.
//! Messages name the check that failed and never include the token.

use super::exchange::refusal;
use crate::auth::jwt::{JwkEntry, Jwks};
use crate::error::ApiError;
use jwt_compact::alg::{Es256, Rsa, RsaPublicKey, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmExt, UntrustedToken, ValidationError};
use serde::Deserialize;
use serde_json::{Map, Value};

type EcKey = <Es256 as Algorithm>::VerifyingKey;

/// Clock skew tolerated between the CI platform and us.
pub const LEEWAY_SECS: u64 = 30;
/// Keys read from one JWKS (GitHub's holds two or three): a hostile issuer cannot make a set grow without end.
pub const MAX_KEYS: usize = 50;
/// CI ID tokens are about 1-2 KB; far larger is not one, and is refused before any decoding work.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// An issuer's usable keys, by `kid`.
#[derive(Clone, Default)]
pub struct Keys {
    rsa: Vec<(String, RsaPublicKey)>,
    ec: Vec<(String, EcKey)>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kids", &self.kids()).finish()
    }
}

impl Keys {
    /// Parses a JWKS document. Keys that are not signing keys, have no `kid`, declare another `alg`, or are RSA
    /// under 2048 bits or EC on another curve than P-256 are skipped: a token naming one gets "unknown key".
    ///
    /// # Errors
    /// A description for the log and the 502 when the document is not a JWKS or holds no usable key.
    pub fn from_jwks_json(body: &str) -> Result<Self, String> {
        let jwks: Jwks = serde_json::from_str(body).map_err(|_| "the JWKS is not a JSON key set".to_owned())?;
        let mut keys = Keys::default();
        for raw in jwks.keys.into_iter().take(MAX_KEYS) {
            let Ok(e) = serde_json::from_value::<JwkEntry>(raw) else { continue };
            let Some(kid) = e.kid.filter(|k| !k.is_empty()) else { continue };
            if e.key_use.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let Ok(jwk) = serde_json::from_value::<JsonWebKey<'_>>(e.key) else { continue };
            match (&jwk, e.alg.as_deref()) {
                (JsonWebKey::Rsa { .. }, None | Some("RS256")) => {
                    let strong = RsaPublicKey::try_from(&jwk).ok().and_then(|k| StrongKey::try_from(k).ok());
                    if let Some(k) = strong {
                        keys.rsa.push((kid, k.into_inner()));
                    }
                }
                (JsonWebKey::EllipticCurve { .. }, None | Some("ES256")) => {
                    if let Ok(k) = EcKey::try_from(&jwk) {
                        keys.ec.push((kid, k));
                    }
                }
                _ => {}
            }
        }
        if keys.rsa.is_empty() && keys.ec.is_empty() {
            return Err("the JWKS holds no RS256 or ES256 signing key".into());
        }
        Ok(keys)
    }

    pub fn kids(&self) -> Vec<&str> {
        self.rsa.iter().map(|(k, _)| k.as_str()).chain(self.ec.iter().map(|(k, _)| k.as_str())).collect()
    }
}

/// Why a token was refused, before or after its signature was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Malformed(&'static str),
    Algorithm(String),
    /// No key of the set has the token's `kid` (for its algorithm): the edge refetches the set once.
    UnknownKid,
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    MissingClaim(&'static str),
}

impl From<Refusal> for ApiError {
    /// A token that fails a check is a 401 `invalid_grant`, counted like a failed login.
    fn from(r: Refusal) -> Self {
        let message = match r {
            Refusal::Malformed(why) => format!("malformed token: {why}"),
            Refusal::Algorithm(alg) => {
                let shown: String = alg.chars().take(20).collect();
                format!("unsupported algorithm '{shown}': only RS256 and ES256 tokens are accepted")
            }
            Refusal::UnknownKid => "unknown key: the token's `kid` is not in the issuer's key set".into(),
            Refusal::Signature => "invalid signature".into(),
            Refusal::Expired => "the token has expired".into(),
            Refusal::NotYetValid => "the token is not valid yet (`iat` or `nbf` is in the future)".into(),
            Refusal::Issuer => "issuer mismatch: `iss` is not the registered issuer URL".into(),
            Refusal::Audience => "audience: the token's `aud` is not one of the issuer's accepted audiences".into(),
            Refusal::MissingClaim(c) => format!("the token has no `{c}` claim"),
        };
        refusal(401, "invalid_grant", format!("OIDC token refused: {message}"))
    }
}

#[derive(Deserialize)]
struct Peek {
    iss: Option<String>,
}

/// The token's `iss`, read before anything is verified, only to pick which registered issuer verifies it.
///
/// # Errors
/// [`Refusal::Malformed`] for a token that is not a JWT or has no `iss`.
pub fn unverified_issuer(token: &str) -> Result<String, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed("it is larger than 16 KB"));
    }
    let t = UntrustedToken::new(token).map_err(|_| Refusal::Malformed("it is not a JWT"))?;
    let peek = t.deserialize_claims_unchecked::<Peek>().map_err(|_| Refusal::Malformed("its claims are not JSON"))?;
    peek.custom.iss.filter(|i| !i.is_empty()).ok_or(Refusal::MissingClaim("iss"))
}

/// Verifies `token` as issued by `issuer_url` for one of `audiences`, and returns all its claims.
///
/// # Errors
/// The [`Refusal`] of the first failed check: structure, algorithm, key, signature, then the claims.
pub fn verify(token: &str, keys: &Keys, now: u64, issuer_url: &str, audiences: &[String]) -> Result<Map<String, Value>, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed("it is larger than 16 KB"));
    }
    let t = UntrustedToken::new(token).map_err(|_| Refusal::Malformed("it is not a JWT"))?;
    // The algorithm is ours to choose, not the token's: `none` and HS256-with-the-public-key are how forgeries go.
    let alg = t.algorithm().to_owned();
    let kid = t.header().key_id.clone().filter(|k| !k.is_empty());
    let validated = match alg.as_str() {
        "RS256" => {
            let kid = kid.ok_or(Refusal::Malformed("its header has no `kid`"))?;
            let key = keys.rsa.iter().find(|(k, _)| *k == kid).map(|(_, k)| k).ok_or(Refusal::UnknownKid)?;
            Rsa::rs256().validator::<Map<String, Value>>(key).validate(&t)
        }
        "ES256" => {
            let kid = kid.ok_or(Refusal::Malformed("its header has no `kid`"))?;
            let key = keys.ec.iter().find(|(k, _)| *k == kid).map(|(_, k)| k).ok_or(Refusal::UnknownKid)?;
            Es256.validator::<Map<String, Value>>(key).validate(&t)
        }
        _ => return Err(Refusal::Algorithm(alg)),
    };
    let claims = validated
        .map_err(|e| match e {
            ValidationError::InvalidSignature | ValidationError::MalformedSignature(_) => Refusal::Signature,
            _ => Refusal::Malformed("its claims are not a JSON object"),
        })?
        .into_parts()
        .1;
    let exp = claims.expiration.map(|t| t.timestamp().max(0) as u64).ok_or(Refusal::MissingClaim("exp"))?;
    if now > exp.saturating_add(LEEWAY_SECS) {
        return Err(Refusal::Expired);
    }
    let iat = claims.issued_at.map(|t| t.timestamp().max(0) as u64);
    let nbf = claims.not_before.map(|t| t.timestamp().max(0) as u64);
    if iat.into_iter().chain(nbf).any(|t| t > now.saturating_add(LEEWAY_SECS)) {
        return Err(Refusal::NotYetValid);
    }
    let custom = claims.custom;
    if custom.get("iss").and_then(Value::as_str) != Some(issuer_url) {
        return Err(Refusal::Issuer);
    }
    let aud_ok = match custom.get("aud") {
        Some(Value::String(a)) => audiences.contains(a),
        Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).any(|a| audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(Refusal::Audience);
    }
    if custom.get("sub").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(Refusal::MissingClaim("sub"));
    }
    Ok(custom)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_keys::{b64, private_key, public_jwk, sign_rs256, signing_input, KEY_A, KEY_B};
    use jwt_compact::alg::{Hs256, Hs256Key};
    use jwt_compact::AlgorithmSignature;
    use serde_json::json;

    const ISS: &str = "https://token.actions.githubusercontent.com";
    const NOW: u64 = 1_800_000_000;

    fn ec_key() -> <Es256 as Algorithm>::SigningKey {
        <Es256 as Algorithm>::SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn jwks() -> String {
        let ec = ec_key();
        let mut ec_jwk = serde_json::to_value(JsonWebKey::from(ec.verifying_key())).unwrap();
        ec_jwk["kid"] = json!("e1");
        ec_jwk["alg"] = json!("ES256");
        let mut rsa_no_alg = public_jwk(&private_key(KEY_B), "r2");
        rsa_no_alg.as_object_mut().unwrap().remove("alg");
        rsa_no_alg["x5c"] = json!(["MIIB..."]);
        json!({"keys": [public_jwk(&private_key(KEY_A), "r1"), ec_jwk, rsa_no_alg,
                        {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"}]})
        .to_string()
    }

    fn claims() -> Value {
        json!({"iss": ISS, "aud": "urn:pulumi:org:acme", "sub": "repo:acme/app:ref:refs/heads/main",
               "repository": "acme/app", "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 290})
    }

    fn rs(kid: &str, c: &Value) -> String {
        sign_rs256(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), c, &private_key(KEY_A))
    }

    fn es(kid: &str, c: &Value) -> String {
        let input = signing_input(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), c);
        let sig = Es256.sign(&ec_key(), input.as_bytes());
        format!("{input}.{}", b64(&sig.as_bytes()))
    }

    fn check(token: &str) -> Result<Map<String, Value>, Refusal> {
        let keys = Keys::from_jwks_json(&jwks()).unwrap();
        verify(token, &keys, NOW, ISS, &["urn:pulumi:org:acme".to_owned()])
    }

    fn with(k: &str, v: Value) -> Value {
        let mut c = claims();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    }

    #[test]
    fn rs256_and_es256_tokens_verify_and_give_every_claim() {
        assert_eq!(check(&rs("r1", &claims())).unwrap()["repository"], "acme/app");
        assert_eq!(check(&es("e1", &claims())).unwrap()["sub"], "repo:acme/app:ref:refs/heads/main");
        let keys = Keys::from_jwks_json(&jwks()).unwrap();
        assert_eq!(keys.kids(), ["r1", "r2", "e1"], "a key without alg is typed by kty; symmetric keys are skipped");
        assert!(Keys::from_jwks_json(r#"{"keys": [{"kty": "oct", "kid": "h", "k": "eA"}]}"#).is_err());
        assert!(Keys::from_jwks_json("[]").is_err());
    }

    #[test]
    fn none_and_hs256_are_refused_whatever_they_carry() {
        let none = format!("{}.", signing_input(&json!({"alg": "none", "kid": "r1"}), &claims()));
        assert!(matches!(check(&none), Err(Refusal::Algorithm(a)) if a == "none"));
        // HS256 keyed with the RSA modulus: the classic key-confusion forgery.
        let input = signing_input(&json!({"alg": "HS256", "kid": "r1"}), &claims());
        let key = Hs256Key::new(b"modulus bytes");
        let hs = format!("{input}.{}", b64(&Hs256.sign(&key, input.as_bytes()).as_bytes()));
        let e = check(&hs).unwrap_err();
        assert_eq!(e, Refusal::Algorithm("HS256".into()));
        assert!(ApiError::from(e).message.contains("only RS256 and ES256"));
        let ps = format!("{}.eA", signing_input(&json!({"alg": "PS256", "kid": "r1"}), &claims()));
        assert!(matches!(check(&ps), Err(Refusal::Algorithm(_))));
    }

    #[test]
    fn the_key_must_be_known_and_of_the_tokens_algorithm() {
        assert_eq!(check(&rs("rotated-away", &claims())).unwrap_err(), Refusal::UnknownKid);
        assert_eq!(check(&rs("e1", &claims())).unwrap_err(), Refusal::UnknownKid, "an EC kid for an RS256 token");
        assert_eq!(check(&es("r1", &claims())).unwrap_err(), Refusal::UnknownKid);
        // Signed by key A but naming key B.
        assert_eq!(check(&rs("r2", &claims())).unwrap_err(), Refusal::Signature);
        let unsigned = sign_rs256(&json!({"alg": "RS256"}), &claims(), &private_key(KEY_A));
        assert!(matches!(check(&unsigned), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn time_claims_have_a_small_leeway() {
        assert!(check(&rs("r1", &with("exp", json!(NOW - LEEWAY_SECS)))).is_ok());
        assert_eq!(check(&rs("r1", &with("exp", json!(NOW - LEEWAY_SECS - 1)))).unwrap_err(), Refusal::Expired);
        assert_eq!(check(&rs("r1", &with("exp", Value::Null))).unwrap_err(), Refusal::MissingClaim("exp"));
        assert_eq!(check(&rs("r1", &with("nbf", json!(NOW + 60)))).unwrap_err(), Refusal::NotYetValid);
        assert_eq!(check(&rs("r1", &with("iat", json!(NOW + 60)))).unwrap_err(), Refusal::NotYetValid);
        assert!(check(&rs("r1", &with("iat", json!(NOW + 20)))).is_ok());
    }

    #[test]
    fn issuer_is_exact_and_audience_must_be_accepted() {
        assert_eq!(check(&rs("r1", &with("iss", json!(format!("{ISS}/"))))).unwrap_err(), Refusal::Issuer);
        assert_eq!(check(&rs("r1", &with("aud", json!("urn:pulumi:org:other")))).unwrap_err(), Refusal::Audience);
        assert_eq!(check(&rs("r1", &with("aud", Value::Null))).unwrap_err(), Refusal::Audience);
        assert!(check(&rs("r1", &with("aud", json!(["sts.amazonaws.com", "urn:pulumi:org:acme"])))).is_ok());
        assert_eq!(check(&rs("r1", &with("sub", json!("")))).unwrap_err(), Refusal::MissingClaim("sub"));
        let e = ApiError::from(Refusal::Audience);
        assert_eq!(e.status, 401);
        assert!(e.message.contains("audience"));
    }

    #[test]
    fn the_issuer_is_peeked_without_trusting_it() {
        assert_eq!(unverified_issuer(&rs("r1", &claims())).unwrap(), ISS);
        assert_eq!(unverified_issuer(&rs("r1", &with("iss", Value::Null))).unwrap_err(), Refusal::MissingClaim("iss"));
        assert!(matches!(unverified_issuer("not-a-jwt"), Err(Refusal::Malformed(_))));
        assert!(matches!(unverified_issuer(&"a".repeat(20_000)), Err(Refusal::Malformed(_))));
    }

    #[test]
    fn refusals_never_echo_the_token() {
        let token = rs("r1", &with("exp", json!(1)));
        let e = ApiError::from(check(&token).unwrap_err());
        assert!(!e.message.contains(&token[..20]));
        assert!(e.message.contains("expired"));
    }
}
