//! Replay against the CLI's own results: every fixture in `tests/fixtures/journal/` was produced by the CLI's
//! `JournalReplayer` (v3.274.1, `tests/tools/journaloracle`), and the Rust replay must give the same deployment,
//! as JSON, ignoring only the manifest (time, magic, engine version). Hand-written cases below cover the rules the
//! fixtures pin down with the smallest inputs, and the corrupt journals the Go code would silently misread.

use super::replay::{replay, Manifest, ReplayError};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Fixture {
    name: String,
    base: Option<Value>,
    entries: Vec<Value>,
    expected: Value,
}

fn fixtures() -> Vec<Fixture> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journal");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).expect("tests/fixtures/journal exists").flatten().collect();
    files.sort_by_key(|f| f.path());
    for f in files {
        let path = f.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match v {
            Value::Array(list) => out.extend(list.into_iter().map(|f| serde_json::from_value(f).unwrap())),
            one => out.push(serde_json::from_value(one).unwrap()),
        }
    }
    out
}

/// The deployment without its manifest, with pending operations that came from Go's map (the unfinished begins)
/// compared as a set: the Go code leaves their order to map iteration.
fn comparable(mut untyped: Value) -> Value {
    if let Some(d) = untyped.get_mut("deployment").and_then(Value::as_object_mut) {
        d.remove("manifest");
        if let Some(Value::Array(ops)) = d.get_mut("pending_operations") {
            ops.sort_by_key(Value::to_string);
        }
    }
    untyped
}

fn run(base: Option<&Value>, entries: &[Value]) -> Result<Value, ReplayError> {
    let base_text = base.map(Value::to_string);
    let texts: Vec<String> = entries.iter().map(Value::to_string).collect();
    let m = Manifest { time: "2026-01-01T00:00:00.000Z".into(), version: "v3.274.1".into() };
    let out = replay(base_text.as_deref(), texts.iter().map(String::as_str), &m)?;
    let v: Value = serde_json::from_str(&out.text).expect("replay writes JSON");
    let count = v["deployment"]["resources"].as_array().map_or(0, Vec::len);
    assert_eq!(out.resources, count, "the reported resource count is the written one");
    Ok(v)
}

#[test]
fn replays_every_fixture_the_cli_produced() {
    let all = fixtures();
    assert!(all.len() >= 214, "the oracle's fixtures are all there ({} found)", all.len());
    let mut failures = Vec::new();
    for f in &all {
        match run(f.base.as_ref(), &f.entries) {
            Ok(got) if comparable(got.clone()) == comparable(f.expected.clone()) => {}
            Ok(got) => failures.push(format!(
                "{}:\n  expected {}\n  got      {}",
                f.name,
                comparable(f.expected.clone()),
                comparable(got)
            )),
            Err(e) => failures.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures differ:\n{}", failures.len(), all.len(), failures.join("\n"));
}

fn res(name: &str) -> Value {
    json!({"urn": format!("urn:pulumi:s::p::t:m:R::{name}"), "custom": true, "type": "t:m:R"})
}

fn entry(kind: i64, seq: i64, op: i64) -> Value {
    json!({"version": 1, "kind": kind, "sequenceID": seq, "operationID": op, "removeOld": null, "removeNew": null})
}

fn with(mut e: Value, k: &str, v: Value) -> Value {
    e[k] = v;
    e
}

fn urns(v: &Value) -> Vec<String> {
    v["deployment"]["resources"]
        .as_array()
        .map(|r| r.iter().map(|r| r["urn"].as_str().unwrap().rsplit("::").next().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn new_resources_come_first_then_the_base_in_order() {
    let base = json!({"manifest": {}, "resources": [res("a"), res("b")]});
    let got = run(Some(&base), &[entry(0, 1, 1), with(entry(1, 2, 1), "state", res("c"))]).unwrap();
    assert_eq!(urns(&got), ["c", "a", "b"]);
    assert_eq!(got["version"], 3);
    assert!(got.get("features").is_none());
    assert_eq!(got["deployment"]["metadata"], json!({}));
}

#[test]
fn a_delete_of_a_base_resource_marks_it_and_a_removal_drops_it() {
    let base = json!({"manifest": {}, "resources": [res("a"), res("b"), res("c")]});
    let entries = [
        with(entry(1, 1, 1), "deleteOld", json!(0)),
        with(entry(1, 2, 2), "removeOld", json!(1)),
        with(entry(1, 3, 3), "pendingReplacementOld", json!(2)),
    ];
    let got = run(Some(&base), &entries).unwrap();
    assert_eq!(urns(&got), ["a", "c"]);
    assert_eq!(got["deployment"]["resources"][0]["delete"], true, "marked, not removed");
    assert_eq!(got["deployment"]["resources"][1]["pendingReplacement"], true);
}

#[test]
fn unfinished_operations_and_the_bases_pending_creates_survive() {
    let creating = json!({"resource": res("x"), "type": "creating"});
    let updating = json!({"resource": res("y"), "type": "updating"});
    let base = json!({"manifest": {}, "resources": [], "pending_operations": [creating, updating]});
    let begin = with(entry(0, 1, 7), "operation", json!({"resource": res("z"), "type": "deleting"}));
    let got = run(Some(&base), &[begin]).unwrap();
    let ops: Vec<&str> = got["deployment"]["pending_operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["type"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["deleting", "creating"], "begins first, then the base's creates; other base operations go");
}

#[test]
fn an_operation_no_entry_added_is_a_corrupt_journal() {
    for field in ["removeNew", "deleteNew", "pendingReplacementNew"] {
        let e = run(None, &[with(entry(1, 3, 1), field, json!(99))]).unwrap_err();
        assert!(matches!(e, ReplayError::UnknownOperation { operation_id: 99, sequence_id: 3, .. }), "{field}: {e:?}");
        assert!(e.to_string().contains("operation 99"), "{e}");
    }
    let outputs = with(with(entry(4, 1, 1), "removeNew", json!(5)), "state", res("a"));
    assert!(matches!(run(None, &[outputs]).unwrap_err(), ReplayError::UnknownOperation { .. }));
    let write = entry(5, 1, 0);
    assert!(matches!(run(None, &[write]).unwrap_err(), ReplayError::Missing { field: "newSnapshot", .. }));
}

#[test]
fn a_refresh_rebuilds_dependencies_to_resources_still_there() {
    let mut child = res("child");
    child["parent"] = json!("urn:pulumi:s::p::t:m:R::gone");
    child["dependencies"] = json!(["urn:pulumi:s::p::t:m:R::gone", "urn:pulumi:s::p::t:m:R::kept"]);
    child["propertyDependencies"] = json!({"a": ["urn:pulumi:s::p::t:m:R::gone"], "b": ["urn:pulumi:s::p::t:m:R::kept"]});
    child["deletedWith"] = json!("urn:pulumi:s::p::t:m:R::gone");
    let base = json!({"manifest": {}, "resources": [res("gone"), res("kept"), child]});
    let refresh_delete = with(entry(3, 1, 1), "removeOld", json!(0));
    let got = run(Some(&base), &[refresh_delete]).unwrap();
    let c = &got["deployment"]["resources"][1];
    assert_eq!(urns(&got), ["kept", "child"]);
    assert_eq!(c["dependencies"], json!(["urn:pulumi:s::p::t:m:R::kept"]));
    assert_eq!(c["propertyDependencies"], json!({"b": ["urn:pulumi:s::p::t:m:R::kept"]}));
    assert!(c.get("deletedWith").is_none() && c.get("parent").is_none(), "{c}");
}

#[test]
fn an_alias_rewrites_references_to_the_new_urn() {
    let mut renamed = res("new");
    renamed["aliases"] = json!(["urn:pulumi:s::p::t:m:R::old"]);
    let mut user = res("user");
    user["dependencies"] = json!(["urn:pulumi:s::p::t:m:R::old"]);
    let got = run(None, &[with(entry(1, 1, 1), "state", renamed), with(entry(1, 2, 2), "state", user)]).unwrap();
    let r = &got["deployment"]["resources"];
    assert!(r[0].get("aliases").is_none(), "aliases are not written out");
    assert_eq!(r[1]["dependencies"], json!(["urn:pulumi:s::p::t:m:R::new"]));
}

#[test]
fn features_follow_the_resources() {
    let mut tainted = res("t");
    tainted["taint"] = json!(true);
    let got = run(None, &[with(with(entry(1, 1, 1), "state", tainted), "requiresByteString", json!(true))]).unwrap();
    assert_eq!(got["version"], 4);
    assert_eq!(got["features"], json!(["byteString", "taint"]));
}

#[test]
fn a_rebuilt_base_state_makes_later_indexes_refer_to_the_rebuilt_base() {
    let base = json!({"manifest": {}, "resources": [res("a"), res("b")]});
    let entries = [
        with(entry(3, 1, 1), "removeOld", json!(0)), // refresh: `a` is gone
        entry(7, 2, 0),                               // the base is now [b]
        with(entry(1, 3, 2), "removeOld", json!(0)), // index 0 is `b` now
    ];
    assert!(urns(&run(Some(&base), &entries).unwrap()).is_empty());
}

#[test]
fn the_secrets_provider_changes_unless_identical() {
    let sp = json!({"type": "service", "state": {"url": "x"}});
    let base = json!({"manifest": {}, "secrets_providers": sp});
    let same = with(entry(6, 1, 0), "secretsProvider", sp.clone());
    assert_eq!(run(Some(&base), &[same]).unwrap()["deployment"]["secrets_providers"], sp);
    let other = json!({"type": "passphrase", "state": {"salt": "s"}});
    let change = with(entry(6, 1, 0), "secretsProvider", other.clone());
    assert_eq!(run(Some(&base), &[change]).unwrap()["deployment"]["secrets_providers"], other);
}

#[test]
fn unknown_entry_fields_are_carried_not_refused() {
    let e = with(with(entry(1, 1, 1), "state", res("a")), "futureField", json!({"x": [1, 2]}));
    assert_eq!(urns(&run(None, &[e]).unwrap()), ["a"]);
}

#[test]
fn a_journal_read_row_by_row_replays_the_same() {
    use super::replay::Replayer;
    let m = Manifest { time: "t".into(), version: "v".into() };
    for f in fixtures() {
        let base = f.base.as_ref().map(Value::to_string);
        let texts: Vec<String> = f.entries.iter().map(Value::to_string).collect();
        let whole = replay(base.as_deref(), texts.iter().map(String::as_str), &m).map(|r| r.text);
        let mut r = Replayer::new(base.as_deref()).unwrap();
        let streamed = texts
            .into_iter()
            .try_for_each(|t| r.add_copied(&t)) // each text is dropped as soon as it is applied
            .and_then(|()| r.finish(&m))
            .map(|r| r.text);
        assert_eq!(whole, streamed, "{}", f.name);
    }
}
