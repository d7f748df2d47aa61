//! Fixed RSA keys and a raw JWT signer for the auth tests.
//!
//! Generating 2048-bit keys at test time takes seconds in a debug build and adds a dev-dependency; two fixed keys
//! committed here are deterministic and cost nothing. They protect nothing: never use them outside tests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::alg::{Rsa, RsaPrivateKey, RsaPublicKey};
use jwt_compact::jwk::JsonWebKey;
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};

/// Private JWK of test key A (2048-bit RSA, generated with openssl for these tests only).
pub(crate) const KEY_A: &str = concat!(
    r#"{"kty":"RSA","e":"AQAB","n":"yY0YVnrCNjxGZ_mfvPFU0r0gRk1_L3KK6UJX1B0GcJm9uEER07P8o_GscNWC7P4ZvIrhH_rIcnEs5CgvVoHK_qpHRjt51hJcZzytsk-h_oa8cLiSzV3Rlq50qj4_kELciG4m0yCDev-TWY6ZHeVhQ9pfPwFogBC6wjTJcL7w7RrccwnwPpgquBxfANdl_qLrDaQGok_486hLPBhsTDd1XoKlJVHSTjs3BHPJaVu7__OmSplpnaiy5pGaOBZwKg4pXdvH14t6TgNLTs4sbomjOFIY3tqkLnGCK5P9X64LSMOmadVhKZWAAN7YpXHsQ2iZeZ4nZ2GIBvjV5eTJ4NySmQ","#,
    r#""d":"CKNSKXSp6aqkJtUhNjcOmFiQL0sneghZ8TzNaFMVIVLJeYHaan0ShRE4v347Ff6e6kB2fQkhuZvlnWKmgrnd0hPIqbcnVdgkGy2T0SpOCktKfLdAXWpZrvBLojc4QK3I51T3N4GzeNxGu6YbpFceF8seXWQpTyHIa0XZY0pfp321fWTNa-ocslwv0qTg1e_k-deS-y8dhn-vnj7EjSr77Io-RrwgBb-3yMhefY1cPNgGsaKgIXV_ySUpBNwxjUeMzVZllYwlQgpFEADLziS3uGPNM_YK7d2EfBbkUKDXOIDqIkS48nZM7Ou9xXjMcOwXI4spEM-qkK6tyGIT_sn_oQ","#,
    r#""p":"6rMRVOvnktQ62R-yF3SZMji0IEjnVjOJlaKv-0SvjT4q4KpbVrjiIEs3-ZJrItuNAh3Se5NOMFeldtTFlGZBkpVFkKw0zp7qkbzJYdypZuqD54QAxvvRdIfkpl1cCExHl9UACwnursfq2bXX8xep1E_eTy2wOnDEXh6gqndfr2k","#,
    r#""q":"29fepcjmcvq-8KWiIUfHPZV5RQBUZ9DNgy4kZgHDR00Ob7Ii9dGSdfIpZhMQD9xxEuZcuR-xMCyJpHfq8epMUcxIYsliN9LG3lJvoRUHmWuVrNp_jPQ9_wvxG9rdHFx4K7sO9xbm7KL1-8Wla3fBlw4PW4sV6gx8v4C7yGHDk7E"}"#
);

/// Private JWK of test key B (2048-bit RSA, generated with openssl for these tests only).
pub(crate) const KEY_B: &str = concat!(
    r#"{"kty":"RSA","e":"AQAB","n":"8et9he7QrTWZldmbRzKx9gfH0xclgqn2b4Ftu-9roR1BOTJr9KETWIBxXTy1HC4L8XR6AtMsyKbg66ujeq7KNdFU8PvoXTXw8uiXTuE_AaTVbQBLoOAhHT81MxC4Yfezq-f6Haku3dW659_KPSthKEIxBCSAWinCqRVM8jdJTE2GEzoX0pL715s6Z31Ivg2Y837H7nEzRbEf68TJ895PiNPKFH8yd0nuVYFMdHjyasETD64w9jxjNb7Si7grO_awT7395Hl9flxaecAmE6ZO6kWyOPLngyI9s_uoXjmr5DtHZXfH5KYdKoENM9_IrGTStF4sSoD6zH6jeDCpUyEHpQ","#,
    r#""d":"OgxdFr2aoe06GKxZ54ghDp2IU7z6mbNJuDDQ0WceJs87vss7_zuFRlevnAU8mfHsmLfvrOzaEp2EW9hYBlCZobdEj_yKIY-XbNnlsJ44vZ69PYX0H7qYB4oKrGGnNI64tJeZuvNFFSK7UfcvcmUNz5iuZUWS7M-Xb3X2fCpK8r0x6H2mGSBMRgEUYaTYFvM_wyeOJ8SZk6_qN9cQZpg-m1v67fyH5g3zwL0PFLiU4LJQ40phnabTGlw05ZGV0FZspGXLXWF61uMsVYfD1DTsoIfFVUk32cae0LDYSSB0J4gojOBn5TfaZKyau0FEyfJDPRx-Ko8O83W91eW1FrvkMw","#,
    r#""p":"_pOwSneNjVgsCMGGg5SZtXRzlkSm9Ht5RV-3Vesa7v7zTfJRg4bm3IZ0qvuUrz3h2r56fyy9HRzSgYDGPlvzY--aRDaVIjtQZEszpYQhH55UTq0-UsQQ4pB7HDN-fycl-scbHl57f9ivWW8FOUI3loOd0zc1iYwIS52hObRTp4M","#,
    r#""q":"80WwW7SRMORcNtJMA0uRjeB8hGnsFZUVLBX9k7gjPAOpLe-82nwXFLpSGwZv_GeYqga8bxUItzovT1AK8s9jSh2ZVsNwsEQxt8WYOb8E4-6yYc-hQVsUsy4fLF80G-oIiwp9XvqsXec22NTAHzbhO3OnzWobxsZXDLCj8rn_Q7c"}"#
);

/// The modulus of a 1024-bit key: too weak for RS256, so a key set must skip it.
pub(crate) const WEAK_N: &str = "1PlguJtqQNCxkmLpe9PhgKTRK2tET2eNvngymRPLuXomYY6OUYr0dOL26aMVajLUZtuTpDSfpvhliM_bYW6PbbEKNntSDUXb7iklUel20GOt0L5bg4QHNrI-joTJKHAwEu-nKosKLf6K58-Dwzt1hbR_1NLfB3u_o-pGkpLzeXU";

pub(crate) fn private_key(jwk: &str) -> RsaPrivateKey {
    let jwk: JsonWebKey<'_> = serde_json::from_str(jwk).expect("test JWK");
    RsaPrivateKey::try_from(&jwk).expect("test key")
}

/// The public JWK of `private` as Descope's `/v2/keys` lists it.
pub(crate) fn public_jwk(private: &RsaPrivateKey, kid: &str) -> Value {
    let public: RsaPublicKey = private.to_public_key();
    let mut v = serde_json::to_value(JsonWebKey::from(&public)).expect("jwk");
    v["kid"] = json!(kid);
    v["alg"] = json!("RS256");
    v["use"] = json!("sig");
    v
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload` base64url-encoded, without a signature: the input every JWS signature covers.
pub(crate) fn signing_input(header: &Value, payload: &Value) -> String {
    format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()))
}

/// A JWT with exactly this header and payload, RS256-signed by `key` (whatever the header claims).
pub(crate) fn sign_rs256(header: &Value, payload: &Value, key: &RsaPrivateKey) -> String {
    let input = signing_input(header, payload);
    let sig = Rsa::rs256().sign(key, input.as_bytes());
    format!("{input}.{}", b64(&sig.as_bytes()))
}
