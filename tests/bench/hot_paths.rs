//! Hot paths of the worker measured natively (`cargo bench --bench hot_paths`): the pure core code each request
//! runs, without the Workers runtime. Prints `name | per-op time` lines that `tests/bench/bench.py` collects.
//! A small harness instead of criterion: a few warm-up runs, then the median of timed runs.

#[path = "../../src/auth/test_keys.rs"]
#[allow(dead_code)]
mod test_keys;

use procella_edge::auth::jwt::{verify, KeySet};
use procella_edge::body::gunzip;
use procella_edge::checkpoint::delta::{apply_verified, sha256_hex, Point, Span, TextEdit};
use procella_edge::secrets::MasterKey;
use serde_json::json;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..runs.min(3) {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn show(name: &str, per_op: Duration, note: &str) {
    println!("{name} | {:.3} ms {note}", per_op.as_secs_f64() * 1000.0);
}

/// A checkpoint text of about `bytes`, one resource per ~1 KB, as the CLI writes it.
fn checkpoint(bytes: usize) -> String {
    let resources: Vec<_> = (0..bytes / 1000)
        .map(|i| json!({"urn": format!("urn:pulumi:dev::app::t::r{i}"), "custom": true, "type": "t",
                        "outputs": {"blob": sha256_hex(&i.to_le_bytes()).repeat(13)}}))
        .collect();
    json!({"version": 3, "deployment": {"manifest": {}, "resources": resources}}).to_string()
}

fn main() {
    // JWT verification (RS256, 2048-bit), per request in descope mode on a cache miss or a Bearer session.
    let key = test_keys::private_key(test_keys::KEY_A);
    let keys = KeySet::from_jwks_json(&json!({"keys": [test_keys::public_jwk(&key, "k1")]}).to_string()).unwrap();
    let now = 1_700_000_000u64;
    let token = test_keys::sign_rs256(
        &json!({"alg": "RS256", "kid": "k1"}),
        &json!({"sub": "U1", "iss": "P2bench", "iat": now, "exp": now + 600, "drn": "DS",
                "tenants": {"T1": {"roles": ["admin"]}}}),
        &key,
    );
    show("RS256 JWT verification", median(200, || {
        black_box(verify(black_box(&token), &keys, now, "P2bench").unwrap());
    }), "");

    // Delta application on a 10 MB checkpoint: one resource changed in the middle, result hashed.
    let before = checkpoint(10 << 20);
    let mid = before.len() / 2;
    let at = mid + before[mid..].find("\"blob\":\"").unwrap() + 8;
    let mut after = before.clone();
    after.replace_range(at..at + 4, "beef");
    let edits = vec![TextEdit {
        span: Span { start: Point { offset: at }, end: Point { offset: at + 4 } },
        new_text: "beef".into(),
    }];
    let hash = sha256_hex(after.as_bytes());
    show(&format!("delta applied to a {:.1} MB checkpoint (with SHA-256)", before.len() as f64 / 1e6), median(20, || {
        black_box(apply_verified(before.as_bytes(), &edits, &hash).unwrap());
    }), "");

    // AES-256-GCM batch of 1000 secrets (batch-encrypt then batch-decrypt), per-stack key derived once.
    let cipher = MasterKey::from_hex(&"ab".repeat(32)).unwrap().for_stack(42);
    let secrets: Vec<Vec<u8>> = (0..1000).map(|i| format!("secret-value-{i:04}-xxxxxxxxxxxxxxxx").into_bytes()).collect();
    let t = median(20, || {
        let cts: Vec<Vec<u8>> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut nonce = [0u8; 12];
                nonce[..8].copy_from_slice(&(i as u64).to_le_bytes());
                cipher.encrypt(s, &nonce).unwrap()
            })
            .collect();
        for c in &cts {
            black_box(cipher.decrypt(c).unwrap());
        }
    });
    show("AES-256-GCM: 1000 secrets encrypted + decrypted", t, &format!("({:.2} µs per secret)", t.as_secs_f64() * 1e6 / 2000.0));

    // Gzip inflate of a 20 MB body (a checkpoint as the CLI sends it), capped at 48 MiB.
    let body = checkpoint(20 << 20);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body.as_bytes()).unwrap();
    let gz = enc.finish().unwrap();
    show(&format!("gzip inflate of {:.1} MB ({:.1} MB compressed)", body.len() as f64 / 1e6, gz.len() as f64 / 1e6),
        median(10, || {
            black_box(gunzip(&gz, 48 << 20).unwrap());
        }), "");
}
