//! Hot paths of the worker measured natively (`cargo bench --bench hot_paths`): the pure core code each request
//! runs, without the Workers runtime. Prints `name | per-op time` lines, with `| target | met` (or `NOT met`)
//! where there is a target, that `tests/bench/bench.py` collects.
//! A small harness instead of criterion: a few warm-up runs, then the median of timed runs. Memory is measured by
//! a counting global allocator (below): the peak of bytes allocated and not yet freed while a closure runs.

#[path = "../../src/auth/test_keys.rs"]
#[allow(dead_code)]
mod test_keys;

use procella_edge::auth::jwt::{verify, KeySet};
use procella_edge::body::gunzip;
use procella_edge::checkpoint::delta::{apply_verified, sha256_hex, Point, Span, TextEdit};
use procella_edge::journal::replay::{deployment_of, replay, Manifest, Replayer};
use procella_edge::secrets::MasterKey;
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// `System`, counting the bytes live (allocated and not freed) and their peak while `COUNTING` is on, so timings
/// taken with it off pay one relaxed load per allocation.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() && COUNTING.load(Relaxed) {
            grew(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        if COUNTING.load(Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() && COUNTING.load(Relaxed) {
            // A moving realloc holds both blocks for a moment: count the new one first, then free the old.
            grew(new_size as isize);
            LIVE.fetch_sub(layout.size() as isize, Relaxed);
        }
        p
    }
}

fn grew(n: isize) {
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` once and returns what it returned with the peak of heap bytes allocated beyond what was live before
/// (so the inputs, built earlier, do not count; the output, still held at the end, does).
fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LIVE.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let out = f();
    COUNTING.store(false, Relaxed);
    (out, PEAK.load(Relaxed).max(0) as usize)
}

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

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
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

const JOURNAL_URN: &str = "urn:pulumi:prod::shop::";
const PROVIDER_URN: &str = "urn:pulumi:prod::shop::pulumi:providers:aws::default_6_0_0";
const PARENT_URN: &str = "urn:pulumi:prod::shop::shop:index:Service::web";

/// The state of resource `i` of the 10,000-resource journal (`gen` changes its outputs): about 1 KB, a custom
/// resource under a component, with two dependencies on earlier resources and the provider.
fn resource_state(i: usize, gen: u32) -> serde_json::Value {
    if i == 0 {
        return json!({"urn": PROVIDER_URN, "custom": true, "id": "6d7d3b1e-8f4a-4c55-9b0e-3f4c5a6b7c8d",
                      "type": "pulumi:providers:aws", "inputs": {"region": "eu-west-1", "version": "6.0.0"},
                      "outputs": {"region": "eu-west-1", "version": "6.0.0"},
                      "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"});
    }
    if i == 1 {
        return json!({"urn": PARENT_URN, "custom": false, "type": "shop:index:Service",
                      "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z"});
    }
    let urn = |j: usize| format!("{JOURNAL_URN}shop:index:Service$aws:s3/bucketObject:BucketObject::obj{j}");
    let deps = [urn(2 + (i * 7) % (i - 1).max(1)), urn(2 + (i * 13) % (i - 1).max(1))];
    let deps: Vec<&String> = if i < 4 { vec![] } else { deps.iter().collect() };
    let digest = sha256_hex(format!("{i}/{gen}").as_bytes());
    let inputs = json!({"bucket": "shop-assets", "key": format!("assets/{i}/{}.js", &digest[..16]),
                        "contentType": "text/javascript", "etag": &digest[..32]});
    let mut outputs = inputs.clone();
    outputs["versionId"] = json!(&digest[32..]);
    json!({"urn": urn(i), "custom": true, "id": format!("assets/{i}/{}.js", &digest[..16]),
           "type": "aws:s3/bucketObject:BucketObject", "inputs": inputs, "outputs": outputs,
           "parent": PARENT_URN, "dependencies": deps,
           "provider": format!("{PROVIDER_URN}::6d7d3b1e-8f4a-4c55-9b0e-3f4c5a6b7c8d"),
           "propertyDependencies": {"bucket": deps, "key": []},
           "created": "2026-01-01T00:00:00Z", "modified": format!("2026-01-0{}T00:00:00Z", 1 + gen)})
}

/// A journal of `n` operations, each a begin and a success entry, as the CLI sends them: creates over no base
/// (`gen` 0), or updates of base resource `i` (`removeOld: i`).
fn journal(n: usize, gen: u32) -> Vec<String> {
    let mut entries = Vec::with_capacity(2 * n + 1);
    entries.push(json!({"version": 1, "kind": 6, "sequenceID": 1, "operationID": 0, "removeOld": null,
                        "removeNew": null, "secretsProvider": {"type": "service", "state": {"url": "https://x",
                        "owner": "acme", "project": "shop", "stack": "prod"}}}).to_string());
    for i in 0..n {
        let state = resource_state(i, gen);
        let mut goal = state.clone();
        for k in ["id", "outputs", "created", "modified"] {
            goal.as_object_mut().unwrap().remove(k);
        }
        let (kind, remove_old) = if gen == 0 { ("creating", None) } else { ("updating", Some(i)) };
        let op = i as i64 + 1;
        let seq = 2 * op;
        entries.push(json!({"version": 1, "kind": 0, "sequenceID": seq, "operationID": op, "removeOld": null,
                            "removeNew": null, "operation": {"resource": goal, "type": kind}}).to_string());
        entries.push(json!({"version": 1, "kind": 1, "sequenceID": seq + 1, "operationID": op,
                            "removeOld": remove_old, "removeNew": null, "state": state}).to_string());
    }
    entries
}

/// Replay of a 10,000-resource journal: time (median) and peak heap beyond the inputs, against the state's size.
fn replays() {
    let n = 10_000;
    let manifest = Manifest { time: "2026-01-01T00:00:00Z".into(), version: "v3.274.1".into() };
    let creates = journal(n, 0);
    let entry_bytes: usize = creates.iter().map(String::len).sum();
    let run = |base: Option<&str>, entries: &[String]| replay(base, entries.iter().map(String::as_str), &manifest).unwrap();
    let t = median(9, || {
        black_box(run(None, &creates));
    });
    let (out, peak) = peak_heap(|| run(None, &creates));
    assert_eq!(out.resources, n);
    let state = out.text.len();
    let per = state / n;
    let ms = t.as_secs_f64() * 1000.0;
    println!("journal replay: {n} creates ({} entries, {:.1} MB) over no base into a {:.1} MB state \
              (~{per} B per resource), median of 9 | {ms:.3} ms | < 100 ms | {}",
             creates.len(), entry_bytes as f64 / 1e6, state as f64 / 1e6, met(ms < 100.0));
    let ratio = peak as f64 / state as f64;
    println!("journal replay: peak heap beyond the inputs, {n} creates | {:.1} MB = {ratio:.2}x the {:.1} MB state \
              | < 2x the state | {}", peak as f64 / 1e6, state as f64 / 1e6, met(ratio < 2.0));

    // As the lease object replays at the end of an update: the journal read row by row (`add_copied`), so what
    // survives of each entry is copied out of its row. The rows here are all in memory beforehand (uncounted);
    // in the object only the row being read is.
    let by_rows = || {
        let mut r = Replayer::new(None).unwrap();
        for e in &creates {
            r.add_copied(e).unwrap();
        }
        r.finish(&manifest).unwrap()
    };
    let t = median(9, || {
        black_box(by_rows());
    });
    let (rows_out, peak) = peak_heap(by_rows);
    assert_eq!(rows_out.text, out.text);
    drop(rows_out);
    let ms = t.as_secs_f64() * 1000.0;
    let ratio = peak as f64 / state as f64;
    println!("journal replay row by row (add_copied, as the lease object does), {n} creates, median of 9 | \
              {ms:.3} ms | < 100 ms | {}", met(ms < 100.0));
    // Which phase: what reading the rows leaves held (the copied states), and the peak while generating.
    let (held, finish_peak) = {
        let ((r, held), _) = peak_heap(|| {
            let mut r = Replayer::new(None).unwrap();
            for e in &creates {
                r.add_copied(e).unwrap();
            }
            let held = LIVE.load(Relaxed);
            (r, held)
        });
        let (_, finish_peak) = peak_heap(|| r.finish(&manifest).unwrap());
        (held as f64 / 1e6, finish_peak as f64 / 1e6)
    };
    println!("journal replay row by row: peak heap beyond the rows, {n} creates | {:.1} MB = {ratio:.2}x the state \
              ({held:.1} MB of copied states held after reading the rows, then {finish_peak:.1} MB more at the peak \
              of generating, the {:.1} MB text included) | < 2x the state | {}",
             peak as f64 / 1e6, state as f64 / 1e6, met(ratio < 2.0));

    // Where the time goes: reading the entries (each parsed once, states kept as borrowed text) vs generating
    // the deployment (each state's references viewed, the text written).
    let mut add = Vec::new();
    let mut finish = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let mut r = Replayer::new(None).unwrap();
        for e in &creates {
            r.add_text(e).unwrap();
        }
        add.push(t.elapsed());
        let t = Instant::now();
        black_box(r.finish(&manifest).unwrap());
        finish.push(t.elapsed());
    }
    add.sort();
    finish.sort();
    println!("journal replay: {n} creates, phases | {:.3} ms adding the entries + {:.3} ms generating the state",
             add[4].as_secs_f64() * 1000.0, finish[4].as_secs_f64() * 1000.0);

    // The same stack updated: every resource changes, each success entry replacing base resource i.
    let base_text = out.text;
    let base = deployment_of(&base_text).unwrap().unwrap();
    let updates = journal(n, 1);
    let t = median(9, || {
        black_box(run(Some(base), &updates));
    });
    let (out, peak) = peak_heap(|| run(Some(base), &updates));
    assert_eq!(out.resources, n);
    show(&format!("journal replay: {n} updates (removeOld) over a {n}-resource base, median of 9"), t, "");
    println!("journal replay: peak heap beyond the inputs, {n} updates over the base | {:.1} MB = {:.2}x the {:.1} MB \
              state", peak as f64 / 1e6, peak as f64 / out.text.len() as f64, out.text.len() as f64 / 1e6);
}

fn main() {
    replays();

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
