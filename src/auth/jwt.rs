//! Session JWT verification for descope mode: RS256 only, the key picked by `kid` from the project's JWKS.
//!
//! Pure: the edge fetches and caches the key set (`GET /v2/keys/<projectId>`) and passes the clock in, so every
//! rejection is tested natively. The rules are Descope's SDKs' (see `docs/descope-api.md`): the header `alg` must be
//! RS256 and equal the key's `alg`, 5 s of clock skew, `iss` is the project ID or a URL ending in it, and `aud`, when
//! present, names the project. Error messages never echo the token: it is a bearer credential.

use crate::error::ApiError;
use jwt_compact::alg::{Rsa, RsaPublicKey, StrongKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{AlgorithmExt, UntrustedToken, ValidationError};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fmt;

/// The only algorithm we accept. Accepting what the header asks for is how `none` and HS256-with-the-public-key
/// forgeries work, so the algorithm is fixed here, not read from the token.
const ALG: &str = "RS256";

/// Clock skew tolerated on `exp`, `iat` and `nbf`, as Descope's SDKs allow.
pub const LEEWAY_SECS: u64 = 5;

/// Descope session JWTs are a few KB (more with many tenants); anything far larger is not one, and is refused
/// before any decoding work.
const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Why a token was refused. `Display` gives the client-facing reason; none of them includes the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// `exp` (plus leeway) is in the past.
    Expired,
    /// `iat` or `nbf` (minus leeway) is in the future.
    NotYetValid,
    /// No key in the set has the token's `kid`. The edge refetches the JWKS once on this error (key rotation).
    UnknownKid,
    /// `aud` is present and does not name the project.
    InvalidAudience,
    /// `iss` is missing or is neither the project ID nor a URL ending in it.
    InvalidIssuer,
    /// The signature does not verify with the key named by `kid`.
    InvalidSignature,
    /// The header asks for anything but RS256 (`none`, HS256, PS256, ...).
    UnsupportedAlgorithm,
    /// A Descope refresh JWT (`drn: "DSR"`) where a session JWT is required: refresh tokens live much longer.
    NotASessionToken,
    /// Not a JWT: bad structure, base64 or JSON, no `kid`.
    Malformed,
    /// A required claim (`exp`, `iat`, `sub`) is missing or empty.
    MissingClaim(&'static str),
    /// `iat` is older than the maximum session age (`PROCELLA_JWT_MAX_AGE_SECONDS`): log in again.
    TooOld,
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Expired => "token has expired",
            Self::NotYetValid => "token is not yet valid",
            Self::UnknownKid => "public key not found",
            Self::InvalidAudience => "invalid token audience",
            Self::InvalidIssuer => "invalid issuer",
            Self::InvalidSignature => "invalid signature",
            Self::UnsupportedAlgorithm => "unsupported algorithm",
            Self::NotASessionToken => "not a session token",
            Self::Malformed => "malformed token",
            Self::MissingClaim("exp") => "missing required claim `exp`",
            Self::MissingClaim("iat") => "missing required claim `iat`",
            Self::MissingClaim(_) => "missing required claim `sub`",
            Self::TooOld => "token is older than the maximum session age; log in again",
        })
    }
}

impl std::error::Error for JwtError {}

impl From<JwtError> for ApiError {
    /// Every rejected token is a 401: the client should log in again, nothing is wrong with the server.
    fn from(e: JwtError) -> Self {
        ApiError::unauthorized(format!("invalid session token: {e}"))
    }
}

/// The RS256 public keys of a Descope project, by `kid`.
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<(String, RsaPublicKey)>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet").field("kids", &self.kids().collect::<Vec<_>>()).finish()
    }
}

/// One entry of `{"keys": [...]}`; only the fields that decide whether we use it are typed. Also read by the
/// OIDC issuers' key sets (`crate::oidc::verify`).
#[derive(Deserialize)]
pub(crate) struct JwkEntry {
    pub kid: Option<String>,
    pub alg: Option<String>,
    #[serde(rename = "use")]
    pub key_use: Option<String>,
    #[serde(flatten)]
    pub key: Value,
}

/// A JWKS document; entries stay raw so one malformed key skips only itself.
#[derive(Deserialize)]
pub(crate) struct Jwks {
    pub keys: Vec<Value>,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [{"alg", "kty", "kid", "n", "e", "use"}]}`).
    ///
    /// Keys that are not RSA, do not declare `alg: RS256`, are not for signatures, have no `kid`, or are weaker
    /// than 2048 bits are skipped: a token that names one of them then fails with [`JwtError::UnknownKid`].
    ///
    /// # Errors
    /// The 503 of [`super::descope::unavailable`] when the document is not a JWKS or holds no usable key: the
    /// identity provider answered something we cannot use, which is not the client's fault.
    pub fn from_jwks_json(body: &str) -> Result<Self, ApiError> {
        // Same answer as an outage: the client can only retry; the edge logs the detail.
        let unusable = super::descope::unavailable;
        let jwks: Jwks = serde_json::from_str(body).map_err(|_| unusable())?;
        let keys: Vec<(String, RsaPublicKey)> = jwks.keys.into_iter().filter_map(usable_key).collect();
        if keys.is_empty() {
            return Err(unusable());
        }
        Ok(Self { keys })
    }

    /// The key IDs in the set, for logs.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(kid, _)| kid.as_str())
    }

    fn get(&self, kid: &str) -> Option<&RsaPublicKey> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }
}

fn usable_key(entry: Value) -> Option<(String, RsaPublicKey)> {
    let entry: JwkEntry = serde_json::from_value(entry).ok()?;
    if entry.alg.as_deref() != Some(ALG) || entry.key_use.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let kid = entry.kid.filter(|k| !k.is_empty())?;
    let jwk: JsonWebKey<'_> = serde_json::from_value(entry.key).ok()?;
    let key = RsaPublicKey::try_from(&jwk).ok()?;
    // RFC 7518 requires at least 2048 bits for RS256; StrongKey enforces exactly that.
    let key = StrongKey::try_from(key).ok()?.into_inner();
    Some((kid, key))
}

/// The claims of a verified session JWT. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub exp: u64,
    pub iat: Option<u64>,
    /// Every other claim as sent (Descope's `dsub`, `dct`, `tenants`, `roles`, `amr`, custom claims, ...).
    pub other: Map<String, Value>,
}

impl Claims {
    /// A string claim from `other`, if present, a string, and not empty.
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.other.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The claims jwt-compact does not type for us (it handles `exp`, `nbf`, `iat`).
#[derive(Deserialize)]
struct Payload {
    sub: Option<String>,
    iss: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(flatten)]
    other: Map<String, Value>,
}

/// Verifies a Descope session JWT and returns its claims.
///
/// The checks, in order: structure, `alg` is RS256, `kid` names a key of `keys`, the signature, `exp`, `iat` and
/// `nbf` against `now_unix_secs` with [`LEEWAY_SECS`], `iss`, `aud`, and that it is not a refresh JWT. No claim
/// is acted on before the signature verifies (a payload that is not even JSON is reported as malformed).
/// `exp`, `iat` and `sub` are required, and `iat` may be at most `max_age_secs` old: that bounds how long one
/// token works whatever its `exp` says (a refreshed session gets a new `iat`); `nbf` and `aud` are checked when
/// present. The key set holds only RS256
/// keys, so "the header's `alg` equals the key's" holds once the header says RS256.
///
/// # Errors
/// The [`JwtError`] for the first check that fails. [`JwtError::UnknownKid`] means the edge should refetch the
/// key set once and retry.
pub fn verify(
    token: &str,
    keys: &KeySet,
    now_unix_secs: u64,
    project_id: &str,
    max_age_secs: u64,
) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(JwtError::Malformed);
    }
    let untrusted = UntrustedToken::new(token).map_err(|_| JwtError::Malformed)?;
    if untrusted.algorithm() != ALG {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    let kid = untrusted.header().key_id.as_deref().filter(|k| !k.is_empty()).ok_or(JwtError::Malformed)?;
    let key = keys.get(kid).ok_or(JwtError::UnknownKid)?;
    let verified = Rsa::rs256().validator::<Payload>(key).validate(&untrusted).map_err(|e| match e {
        ValidationError::InvalidSignature | ValidationError::MalformedSignature(_) => JwtError::InvalidSignature,
        ValidationError::AlgorithmMismatch { .. } => JwtError::UnsupportedAlgorithm,
        _ => JwtError::Malformed,
    })?;
    let (_, claims) = verified.into_parts();

    let exp = claims.expiration.map(|t| secs(t.timestamp())).ok_or(JwtError::MissingClaim("exp"))?;
    if now_unix_secs > exp.saturating_add(LEEWAY_SECS) {
        return Err(JwtError::Expired);
    }
    let iat = claims.issued_at.map(|t| secs(t.timestamp())).ok_or(JwtError::MissingClaim("iat"))?;
    let not_before = claims.not_before.map_or(iat, |t| secs(t.timestamp()).max(iat));
    if not_before > now_unix_secs.saturating_add(LEEWAY_SECS) {
        return Err(JwtError::NotYetValid);
    }
    if now_unix_secs > iat.saturating_add(max_age_secs).saturating_add(LEEWAY_SECS) {
        return Err(JwtError::TooOld);
    }

    let Payload { sub, iss, aud, other } = claims.custom;
    let iss = iss.filter(|i| issuer_matches(i, project_id)).ok_or(JwtError::InvalidIssuer)?;
    let aud_ok = match &aud {
        None => true,
        Some(Audience::One(a)) => a == project_id,
        Some(Audience::Many(all)) => all.iter().any(|a| a == project_id),
    };
    if !aud_ok {
        return Err(JwtError::InvalidAudience);
    }
    // `drn` tells Descope's session ("DS") and refresh ("DSR") tokens apart; both are signed by the same keys.
    if other.get("drn").and_then(Value::as_str) == Some("DSR") {
        return Err(JwtError::NotASessionToken);
    }
    let sub = sub.filter(|s| !s.is_empty()).ok_or(JwtError::MissingClaim("sub"))?;
    Ok(Claims { sub, iss, exp, iat: Some(iat), other })
}

/// Negative timestamps are before 1970: clamp to 0, which is as expired (or as long issued) as it gets.
fn secs(timestamp: i64) -> u64 {
    u64::try_from(timestamp).unwrap_or(0)
}

/// `iss` is the project ID itself, or a URL whose last path segment is the project ID
/// (`https://api.descope.com/<projectId>`). Trust comes from the signature; this only ties the token to our project.
fn issuer_matches(iss: &str, project_id: &str) -> bool {
    if iss == project_id {
        return true;
    }
    let Some(rest) = iss.strip_prefix("https://").or_else(|| iss.strip_prefix("http://")) else {
        return false;
    };
    // The project ID must be a path segment after the host, not the host itself.
    match rest.trim_end_matches('/').split_once('/') {
        Some((host, path)) => !host.is_empty() && path.rsplit('/').next() == Some(project_id),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_keys::{b64, private_key, public_jwk, sign_rs256, signing_input, KEY_A, KEY_B, WEAK_N};
    use jwt_compact::alg::{Hs256, Hs256Key};
    use jwt_compact::{Algorithm, AlgorithmSignature};
    use serde_json::json;

    const PID: &str = "P2abc";
    const NOW: u64 = 1_700_000_100;
    const MAX_AGE: u64 = 86_400;

    fn keys() -> KeySet {
        let jwks = json!({"keys": [public_jwk(&private_key(KEY_A), "kA")]});
        KeySet::from_jwks_json(&jwks.to_string()).unwrap()
    }

    fn header(kid: &str) -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": kid})
    }

    fn payload() -> Value {
        json!({"sub": "U2x", "iss": PID, "iat": 1_700_000_000, "exp": 1_700_000_600, "drn": "DS", "dct": "T1",
               "tenants": {"T1": {"roles": ["admin"]}}})
    }

    fn signed(payload: &Value) -> String {
        sign_rs256(&header("kA"), payload, &private_key(KEY_A))
    }

    fn with(changes: &Value) -> Value {
        let mut p = payload();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                p.as_object_mut().unwrap().remove(k);
            } else {
                p[k] = v.clone();
            }
        }
        p
    }

    fn check(token: &str) -> Result<Claims, JwtError> {
        verify(token, &keys(), NOW, PID, MAX_AGE)
    }

    #[test]
    fn a_valid_token_gives_its_claims() {
        let c = check(&signed(&payload())).unwrap();
        assert_eq!((c.sub.as_str(), c.iss.as_str(), c.exp, c.iat), ("U2x", PID, 1_700_000_600, Some(1_700_000_000)));
        assert_eq!(c.str_claim("dct"), Some("T1"));
        assert_eq!(c.other["tenants"]["T1"]["roles"], json!(["admin"]));
    }

    #[test]
    fn issuer_may_be_the_project_or_a_url_ending_in_it() {
        for iss in
            [PID.to_owned(), format!("https://api.descope.com/{PID}"), format!("https://api.descope.com/v1/{PID}/")]
        {
            assert!(check(&signed(&with(&json!({"iss": iss})))).is_ok(), "{iss}");
        }
        for iss in [
            json!("P2other"),
            json!(format!("https://{PID}")),
            json!(format!("{PID}x")),
            json!(format!("https://h/{PID}x")),
            json!(format!("ftp://h/{PID}")),
            json!(null),
            json!(42),
        ] {
            let r = check(&signed(&with(&json!({"iss": iss.clone()}))));
            // A non-string iss is not valid JSON for our claims: malformed rather than a wrong issuer.
            let want = if iss.is_number() { JwtError::Malformed } else { JwtError::InvalidIssuer };
            assert_eq!(r.unwrap_err(), want, "{iss}");
        }
    }

    #[test]
    fn audience_when_present_must_name_the_project() {
        assert!(check(&signed(&with(&json!({"aud": PID})))).is_ok());
        assert!(check(&signed(&with(&json!({"aud": ["other", PID]})))).is_ok());
        assert_eq!(check(&signed(&with(&json!({"aud": "other"})))).unwrap_err(), JwtError::InvalidAudience);
        assert_eq!(check(&signed(&with(&json!({"aud": ["a", "b"]})))).unwrap_err(), JwtError::InvalidAudience);
        assert_eq!(check(&signed(&with(&json!({"aud": []})))).unwrap_err(), JwtError::InvalidAudience);
    }

    #[test]
    fn times_have_five_seconds_of_leeway() {
        let exp = 1_700_000_600;
        let token = signed(&payload());
        assert!(verify(&token, &keys(), exp + LEEWAY_SECS, PID, MAX_AGE).is_ok(), "within leeway after exp");
        assert_eq!(verify(&token, &keys(), exp + LEEWAY_SECS + 1, PID, MAX_AGE).unwrap_err(), JwtError::Expired);
        let iat = 1_700_000_000;
        assert!(verify(&token, &keys(), iat - LEEWAY_SECS, PID, MAX_AGE).is_ok(), "within leeway before iat");
        assert_eq!(verify(&token, &keys(), iat - LEEWAY_SECS - 1, PID, MAX_AGE).unwrap_err(), JwtError::NotYetValid);
        let nbf = signed(&with(&json!({"nbf": NOW + 60})));
        assert_eq!(check(&nbf).unwrap_err(), JwtError::NotYetValid);
        assert!(check(&signed(&with(&json!({"nbf": NOW + LEEWAY_SECS})))).is_ok());
        // Both are required.
        assert_eq!(check(&signed(&with(&json!({"iat": null})))).unwrap_err(), JwtError::MissingClaim("iat"));
        assert_eq!(check(&signed(&with(&json!({"exp": null})))).unwrap_err(), JwtError::MissingClaim("exp"));
        assert_eq!(check(&signed(&with(&json!({"exp": -5})))).unwrap_err(), JwtError::Expired);
    }

    #[test]
    fn only_rs256_is_accepted() {
        let body = b64(payload().to_string().as_bytes());
        // alg "none", with and without a signature part.
        let none_header = b64(json!({"alg": "none", "kid": "kA"}).to_string().as_bytes());
        assert_eq!(check(&format!("{none_header}.{body}.")).unwrap_err(), JwtError::UnsupportedAlgorithm);
        assert_eq!(check(&format!("{none_header}.{body}")).unwrap_err(), JwtError::Malformed);
        // HS256 "signed" with the public key, the classic confusion attack.
        let public_jwk = public_jwk(&private_key(KEY_A), "kA");
        let input = signing_input(&json!({"alg": "HS256", "kid": "kA"}), &payload());
        let mac = Hs256.sign(&Hs256Key::new(public_jwk["n"].as_str().unwrap().as_bytes()), input.as_bytes());
        assert_eq!(check(&format!("{input}.{}", b64(&mac.as_bytes()))).unwrap_err(), JwtError::UnsupportedAlgorithm);
        // Other RSA algorithms and case variants are refused too.
        for alg in ["PS256", "RS512", "rs256"] {
            let t = sign_rs256(&json!({"alg": alg, "kid": "kA"}), &payload(), &private_key(KEY_A));
            assert_eq!(check(&t).unwrap_err(), JwtError::UnsupportedAlgorithm, "{alg}");
        }
    }

    #[test]
    fn the_key_is_chosen_by_kid() {
        assert_eq!(
            check(&sign_rs256(&header("kZ"), &payload(), &private_key(KEY_A))).unwrap_err(),
            JwtError::UnknownKid
        );
        let no_kid = sign_rs256(&json!({"alg": "RS256"}), &payload(), &private_key(KEY_A));
        assert_eq!(check(&no_kid).unwrap_err(), JwtError::Malformed);
        // Signed by another key under our kid.
        assert_eq!(
            check(&sign_rs256(&header("kA"), &payload(), &private_key(KEY_B))).unwrap_err(),
            JwtError::InvalidSignature
        );
        // A set with both keys verifies each by its own kid (key rotation).
        let both = json!({"keys": [public_jwk(&private_key(KEY_A), "kA"), public_jwk(&private_key(KEY_B), "kB")]});
        let both = KeySet::from_jwks_json(&both.to_string()).unwrap();
        let t = sign_rs256(&header("kB"), &payload(), &private_key(KEY_B));
        assert!(verify(&t, &both, NOW, PID, MAX_AGE).is_ok());
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let token = signed(&payload());
        let (_, rest) = token.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = with(&json!({"tenants": {"T1": {"roles": ["admin"]}, "T2": {"roles": ["admin"]}}}));
        let tampered = format!("{}.{sig}", signing_input(&header("kA"), &forged));
        assert_eq!(check(&tampered).unwrap_err(), JwtError::InvalidSignature);
        // A truncated or empty signature too.
        let short = format!("{}.{}", signing_input(&header("kA"), &payload()), b64(&[7; 200]));
        assert_eq!(check(&short).unwrap_err(), JwtError::InvalidSignature);
        let unsigned = format!("{}.", signing_input(&header("kA"), &payload()));
        assert_eq!(check(&unsigned).unwrap_err(), JwtError::InvalidSignature);
    }

    #[test]
    fn garbage_is_malformed() {
        let body = b64(payload().to_string().as_bytes());
        for t in [
            String::new(),
            "not-a-jwt".into(),
            "a.b".into(),
            "a.b.c.d".into(),
            format!("{}.{body}.AAAA", b64(b"{not json")),
            format!("!!!.{body}.AAAA"),
            format!("{}.{body}.AAAA", b64(b"[1,2]")),
            "x".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            assert_eq!(check(&t).unwrap_err(), JwtError::Malformed, "{t:.40}");
        }
        assert_eq!(check(&signed(&with(&json!({"sub": null})))).unwrap_err(), JwtError::MissingClaim("sub"));
        assert_eq!(check(&signed(&with(&json!({"sub": ""})))).unwrap_err(), JwtError::MissingClaim("sub"));
        assert_eq!(check(&signed(&with(&json!({"iat": null})))).unwrap_err(), JwtError::MissingClaim("iat"));
        assert_eq!(check(&signed(&json!("just a string"))).unwrap_err(), JwtError::Malformed);
    }

    #[test]
    fn a_token_older_than_the_maximum_age_is_refused_whatever_its_exp() {
        let token = signed(&with(&json!({"iat": 1_700_000_000, "exp": 1_800_000_000})));
        let iat = 1_700_000_000;
        assert!(verify(&token, &keys(), iat + 3600 + LEEWAY_SECS, PID, 3600).is_ok());
        assert_eq!(verify(&token, &keys(), iat + 3600 + LEEWAY_SECS + 1, PID, 3600).unwrap_err(), JwtError::TooOld);
    }

    #[test]
    fn refresh_tokens_are_not_sessions() {
        assert_eq!(check(&signed(&with(&json!({"drn": "DSR"})))).unwrap_err(), JwtError::NotASessionToken);
        assert!(check(&signed(&with(&json!({"drn": null})))).is_ok());
    }

    #[test]
    fn errors_are_401s_with_fixed_messages() {
        let cases = [
            (JwtError::Expired, "token has expired"),
            (JwtError::NotYetValid, "token is not yet valid"),
            (JwtError::UnknownKid, "public key not found"),
            (JwtError::InvalidAudience, "invalid token audience"),
            (JwtError::InvalidIssuer, "invalid issuer"),
            (JwtError::InvalidSignature, "invalid signature"),
            (JwtError::UnsupportedAlgorithm, "unsupported algorithm"),
            (JwtError::NotASessionToken, "not a session token"),
            (JwtError::Malformed, "malformed token"),
            (JwtError::MissingClaim("iat"), "missing required claim `iat`"),
            (JwtError::TooOld, "token is older than the maximum session age; log in again"),
        ];
        for (e, msg) in cases {
            assert_eq!(e.to_string(), msg);
            let api = ApiError::from(e);
            assert_eq!((api.status, api.message), (401, format!("invalid session token: {msg}")));
        }
    }

    #[test]
    fn key_sets_keep_only_usable_rs256_keys() {
        let a = public_jwk(&private_key(KEY_A), "kA");
        let mut no_alg = a.clone();
        no_alg.as_object_mut().unwrap().remove("alg");
        no_alg["kid"] = json!("no-alg");
        let mut ps = a.clone();
        ps["alg"] = json!("PS256");
        ps["kid"] = json!("ps");
        let mut enc = a.clone();
        enc["use"] = json!("enc");
        enc["kid"] = json!("enc");
        let mut weak = a.clone();
        weak["n"] = json!(WEAK_N);
        weak["kid"] = json!("weak");
        let mut no_kid = a.clone();
        no_kid.as_object_mut().unwrap().remove("kid");
        let ec = json!({"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "ec", "x": "AA", "y": "AA"});
        let oct = json!({"kty": "oct", "alg": "RS256", "kid": "oct", "k": "c2VjcmV0"});
        let jwks = json!({"keys": [no_alg, ps, enc, weak, no_kid, ec, oct, "junk", a]});
        let set = KeySet::from_jwks_json(&jwks.to_string()).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), ["kA"]);
        assert!(format!("{set:?}").contains("kA"));
        // A token naming a skipped key finds no key.
        let t = sign_rs256(&header("weak"), &payload(), &private_key(KEY_A));
        assert_eq!(verify(&t, &set, NOW, PID, MAX_AGE).unwrap_err(), JwtError::UnknownKid);
    }

    #[test]
    fn an_unusable_key_set_is_a_503() {
        for body in ["", "{}", r#"{"keys": []}"#, r#"{"keys": [{"kty": "EC"}]}"#, "<html>"] {
            let e = KeySet::from_jwks_json(body).unwrap_err();
            assert_eq!(e.status, 503, "{body}");
            assert!(e.retry_after.is_some());
        }
    }

    #[test]
    fn messages_never_echo_the_token() {
        let token = signed(&with(&json!({"sub": "s3cret-subject", "exp": 1})));
        let e = ApiError::from(check(&token).unwrap_err());
        assert!(!e.message.contains("s3cret") && !e.message.contains(&token[..20]), "{}", e.message);
    }
}
