//! The update engine's transitions, natively, over in-memory stores with injected failures.

use super::memory::{block_on, Fake};
use super::*;
use crate::checkpoint::upload::UploadKind;
use serde_json::{json, Value};

const STACK: i64 = 7;
const T0: i64 = 1_800_000_000_000;
const LEASE: i64 = 60_000;

fn start_req(update: &str, journal_version: i64) -> StartRequest {
    StartRequest {
        update_id: update.into(),
        token: format!("tok-{update}"),
        stack_id: STACK,
        lease_ms: LEASE,
        persists_state: true,
        tags: None,
        journal_version,
        journaling: true,
        engine_version: "v3.274.1".into(),
    }
}

/// A stack with update `u` created and started (journaling when `journal`).
fn running(journal: bool) -> (Engine, Fake) {
    let (e, f) = (Engine::new(), Fake::with_stack(STACK));
    f.create_update(STACK, "u1", "update");
    let r = block_on(e.start(&f, start_req("u1", i64::from(journal)), T0)).unwrap();
    assert_eq!(r.journal_version, i64::from(journal));
    (e, f)
}

fn urn(name: &str) -> String {
    format!("urn:pulumi:s::p::t:m:R::{name}")
}

fn state(name: &str, value: &str) -> Value {
    json!({"urn": urn(name), "custom": true, "type": "t:m:R", "id": format!("id-{name}"), "outputs": {"v": value}})
}

fn begin(seq: i64, op: i64, name: &str) -> Value {
    json!({"version": 1, "kind": 0, "sequenceID": seq, "operationID": op, "removeOld": null, "removeNew": null,
           "operation": {"resource": state(name, ""), "type": "creating"}})
}

fn success(seq: i64, op: i64, name: &str, value: &str) -> Value {
    json!({"version": 1, "kind": 1, "sequenceID": seq, "operationID": op, "removeOld": null, "removeNew": null,
           "state": state(name, value)})
}

fn batch(entries: &[Value]) -> Vec<u8> {
    json!({ "entries": entries }).to_string().into_bytes()
}

fn names(deployment: &Value) -> Vec<String> {
    deployment["deployment"]["resources"]
        .as_array()
        .map(|r| r.iter().map(|r| r["urn"].as_str().unwrap().rsplit("::").next().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn journal(e: &Engine, f: &Fake, entries: &[Value]) -> Result<usize, crate::error::ApiError> {
    block_on(e.journal(f, "u1", "tok-u1", &batch(entries), T0 + 1))
}

#[test]
fn a_journaled_update_becomes_its_checkpoint_when_it_completes() {
    let (e, f) = running(true);
    assert_eq!(journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap(), 2);
    assert!(f.latest(STACK).is_none(), "nothing is materialized per batch");
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
    let cp = f.latest(STACK).unwrap();
    assert_eq!(names(&cp), ["a"]);
    assert_eq!(cp["deployment"]["manifest"]["version"], "v3.274.1");
    assert_eq!(f.status("u1"), "succeeded");
    assert!(f.journal.borrow().is_empty(), "entries are dropped once their checkpoint is stored");
    assert!(block_on(e.status(&f, T0 + 3)).unwrap().is_none(), "the stack is free");
    assert_eq!(f.stacks.borrow()[&STACK].resource_count, 1);
}

#[test]
fn retried_and_out_of_order_batches_store_each_entry_once() {
    let (e, f) = running(true);
    journal(&e, &f, &[success(2, 1, "a", "1")]).unwrap();
    journal(&e, &f, &[begin(1, 1, "a")]).unwrap();
    assert_eq!(journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap(), 0, "a retry stores nothing");
    let reused = journal(&e, &f, &[begin(3, 2, "b"), success(2, 1, "a", "other")]).unwrap_err();
    assert_eq!(reused.status, 409);
    assert!(!f.journal.borrow().contains_key(&("u1".into(), 3)), "a refused batch stores none of its entries");
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
    assert_eq!(names(&f.latest(STACK).unwrap()), ["a"]);
}

#[test]
fn journal_calls_are_checked_against_the_lease_first() {
    let (e, f) = running(true);
    let body = batch(&[begin(1, 1, "a")]);
    assert_eq!(block_on(e.journal(&f, "u1", "wrong", &body, T0)).unwrap_err().status, 401);
    assert_eq!(block_on(e.journal(&f, "u9", "tok-u1", &body, T0)).unwrap_err().status, 403);
    assert_eq!(block_on(e.journal(&f, "u1", "wrong", b"junk", T0)).unwrap_err().status, 401, "before the body");
    assert_eq!(block_on(e.journal(&f, "u1", "tok-u1", &body, T0 + LEASE)).unwrap_err().status, 403, "expired");
}

#[test]
fn an_eviction_between_batches_loses_nothing() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    e.forget();
    let e = Engine::new();
    block_on(e.journal(&f, "u1", "tok-u1", &batch(&[begin(3, 2, "b"), success(4, 2, "b", "2")]), T0 + 1)).unwrap();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
    assert_eq!(names(&f.latest(STACK).unwrap()), ["a", "b"]);
}

#[test]
fn the_base_is_the_checkpoint_the_update_started_from() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
    f.create_update(STACK, "u2", "update");
    let r = block_on(e.start(&f, start_req("u2", 1), T0 + 3)).unwrap();
    assert_eq!(r.lease.base.as_ref().map(|b| b.version), Some(1));
    // The second update replaces `a` in place (index 0 of its base) and adds `b`.
    let update_a = json!({"version": 1, "kind": 1, "sequenceID": 2, "operationID": 1, "removeOld": 0,
        "removeNew": null, "state": state("a", "2")});
    let entries = [begin(1, 1, "a"), update_a, begin(3, 2, "b"), success(4, 2, "b", "1")];
    block_on(e.journal(&f, "u2", "tok-u2", &batch(&entries), T0 + 4)).unwrap();
    let live: Value = serde_json::from_str(&block_on(e.current(&f, T0 + 5)).unwrap().unwrap()).unwrap();
    assert_eq!(names(&live), ["a", "b"], "export sees journaled state while the update runs");
    assert_eq!(live["deployment"]["resources"][0]["outputs"]["v"], "2");
    block_on(e.complete(&f, "u2", "tok-u2", "succeeded", T0 + 6)).unwrap();
    assert_eq!(f.latest(STACK).unwrap()["deployment"]["resources"][0]["outputs"]["v"], "2");
    assert!(block_on(e.current(&f, T0 + 7)).unwrap().is_none(), "nothing runs: export reads the stored state");
}

#[test]
fn a_failed_or_cancelled_update_keeps_what_it_did() {
    for end in ["failed", "cancelled"] {
        let (e, f) = running(true);
        journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1"), begin(3, 2, "b")]).unwrap();
        if end == "failed" {
            block_on(e.complete(&f, "u1", "tok-u1", "failed", T0 + 2)).unwrap();
        } else {
            block_on(e.cancel(&f, STACK, "u1", T0 + 2)).unwrap();
        }
        let cp = f.latest(STACK).unwrap();
        assert_eq!(names(&cp), ["a"], "{end}");
        let pending = &cp["deployment"]["pending_operations"];
        assert_eq!(pending[0]["type"], "creating", "{end}: the begun create survives for the CLI to resolve");
        assert_eq!(f.status("u1"), end);
        assert!(block_on(e.status(&f, T0 + 3)).unwrap().is_none());
    }
}

#[test]
fn the_alarm_ends_an_update_whose_cli_died() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    assert_eq!(f.alarm.get(), Some(T0 + LEASE));
    assert_eq!(block_on(e.alarm(&f, T0 + 10)).unwrap(), AlarmOutcome::Idle, "not yet");
    // D1 down when it fires: the lease stays (refusing every call) and the alarm comes back.
    f.fail("ledger.finish_update");
    assert_eq!(block_on(e.alarm(&f, T0 + LEASE)).unwrap(), AlarmOutcome::Retry);
    assert_eq!(f.alarm.get(), Some(T0 + LEASE + RETRY_FINISH_MS));
    assert_eq!(f.status("u1"), "running");
    f.heal();
    assert_eq!(block_on(e.alarm(&f, T0 + LEASE + RETRY_FINISH_MS)).unwrap(), AlarmOutcome::Expired);
    assert_eq!((f.status("u1"), names(&f.latest(STACK).unwrap())), ("failed".into(), vec!["a".to_owned()]));
    assert_eq!(f.alarm.get(), None);
}

#[test]
fn d1_failing_after_the_r2_write_is_retried_by_the_cli() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    f.fail("ledger.finish_update");
    let err = block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap_err();
    assert_eq!(err.status, 503, "a storage failure is a 5xx, which the CLI retries");
    assert!(!err.message.contains("injected"), "the detail is logged, not answered: {}", err.message);
    assert!(f.object(&checkpoint_key(STACK, 1)).is_some(), "the object was written first");
    assert!(f.latest(STACK).is_none(), "D1 does not point at it yet");
    assert!(block_on(e.status(&f, T0 + 3)).unwrap().is_some(), "the lease is kept for the retry");
    f.heal();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 4)).unwrap();
    assert_eq!(names(&f.latest(STACK).unwrap()), ["a"]);
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 5)).unwrap();
    assert_eq!(block_on(e.complete(&f, "u1", "tok-u1", "failed", T0 + 5)).unwrap_err().status, 403);
}

#[test]
fn r2_failing_keeps_the_lease_and_the_journal() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    f.fail("objects.put");
    assert_eq!(block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap_err().status, 503);
    assert_eq!(f.journal.borrow().len(), 2);
    f.heal();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 3)).unwrap();
    assert_eq!(names(&f.latest(STACK).unwrap()), ["a"]);
}

#[test]
fn a_corrupt_journal_is_an_error_and_the_previous_state_stays() {
    let (e, f) = running(true);
    let delete_unknown = json!({"version": 1, "kind": 1, "sequenceID": 2, "operationID": 5, "removeOld": null,
        "removeNew": 42});
    journal(&e, &f, &[begin(1, 5, "a"), delete_unknown]).unwrap();
    assert_eq!(block_on(e.current(&f, T0 + 1)).unwrap_err().status, 409);
    let err = block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap_err();
    assert_eq!(err.status, 409);
    assert!(err.message.contains("operation 42"), "{}", err.message);
    assert_eq!(f.status("u1"), "failed");
    assert!(f.latest(STACK).is_none());
    assert!(block_on(e.status(&f, T0 + 3)).unwrap().is_none(), "the stack is not stuck");
}

#[test]
fn a_started_update_cannot_be_started_again() {
    let (e, f) = running(false);
    let again = block_on(e.start(&f, start_req("u1", 0), T0 + 1)).unwrap_err();
    assert_eq!(again.status, 409);
    f.create_update(STACK, "u2", "update");
    assert_eq!(block_on(e.start(&f, start_req("u2", 0), T0 + 1)).unwrap_err().status, 409, "busy");
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
    let late = block_on(e.start(&f, start_req("u1", 0), T0 + 3)).unwrap_err();
    assert_eq!(late.status, 409, "an ended update gets no lease");
    assert!(block_on(e.status(&f, T0 + 3)).unwrap().is_none());
}

#[test]
fn previews_and_disabled_journaling_get_no_journal() {
    let (e, f) = (Engine::new(), Fake::with_stack(STACK));
    f.create_update(STACK, "p1", "preview");
    let preview = StartRequest { persists_state: false, ..start_req("p1", 1) };
    let r = block_on(e.start(&f, preview, T0)).unwrap();
    assert_eq!((r.journal_version, r.lease.version, r.version), (0, 0, 0));
    block_on(e.complete(&f, "p1", "tok-p1", "succeeded", T0 + 1)).unwrap();
    f.create_update(STACK, "u1", "update");
    let off = StartRequest { journaling: false, ..start_req("u1", 1) };
    assert_eq!(block_on(e.start(&f, off, T0 + 2)).unwrap().journal_version, 0);
    let err = block_on(e.journal(&f, "u1", "tok-u1", &batch(&[begin(1, 1, "a")]), T0 + 3)).unwrap_err();
    assert_eq!(err.status, 400);
}

#[test]
fn checkpoint_uploads_still_work_without_journaling() {
    let (e, f) = running(false);
    let text = json!({"version": 3, "deployment": {"resources": [state("a", "1")]}}).to_string();
    let body = json!({"version": 3, "untypedDeployment": serde_json::from_str::<Value>(&text).unwrap(),
        "sequenceNumber": 1}).to_string();
    block_on(e.checkpoint(&f, "u1", "tok-u1", UploadKind::Verbatim, body.clone().into_bytes(), T0 + 1)).unwrap();
    assert_eq!(names(&f.latest(STACK).unwrap()), ["a"], "D1 points at the first checkpoint as soon as it exists");
    block_on(e.checkpoint(&f, "u1", "tok-u1", UploadKind::Verbatim, body.into_bytes(), T0 + 2)).unwrap();
    assert_eq!(f.calls.borrow()["objects.put"], 1, "a retry stores nothing");
    let err = journal(&e, &f, &[begin(1, 1, "a")]).unwrap_err();
    assert_eq!(err.status, 400, "a checkpointing update sends no journal");
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 3)).unwrap();
    assert_eq!(f.checkpoints.borrow()[&(STACK, 1)].resources, Some(1), "counted when it ends");
}

#[test]
fn rename_and_delete_wait_for_the_running_update() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    let renamed = block_on(e.rename(&f, STACK, ("o", "p", "t"), T0 + 1)).unwrap_err();
    assert_eq!(renamed.status, 409);
    assert_eq!(f.stacks.borrow()[&STACK].name, "s");
    assert_eq!(block_on(e.delete_stack(&f, STACK, false, T0 + 1)).unwrap_err().status, 409);
    assert!(f.stacks.borrow().contains_key(&STACK));
    // Once the lease has run out (the alarm not yet fired), both settle the update first and go ahead.
    block_on(e.rename(&f, STACK, ("o", "p", "t"), T0 + LEASE)).unwrap();
    assert_eq!((f.status("u1"), f.stacks.borrow()[&STACK].name.clone()), ("failed".into(), "t".into()));
    assert_eq!(names(&f.latest(STACK).unwrap()), ["a"]);
    block_on(e.delete_stack(&f, STACK, false, T0 + LEASE + 1)).unwrap();
    assert!(f.stacks.borrow().is_empty() && f.objects.borrow().is_empty() && f.checkpoints.borrow().is_empty());
}

#[test]
fn a_forced_delete_ends_the_running_update_under_the_lock() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a")]).unwrap();
    block_on(e.delete_stack(&f, STACK, true, T0 + 1)).unwrap();
    assert!(f.objects.borrow().is_empty() && f.journal.borrow().is_empty());
    assert!(block_on(e.status(&f, T0 + 2)).unwrap().is_none());
    assert_eq!(journal(&e, &f, &[begin(2, 2, "b")]).unwrap_err().status, 403, "the old lease is dead");
}

#[test]
fn an_import_is_one_step_and_never_overlaps_an_update() {
    let (e, f) = running(true);
    let body = json!({"version": 3, "deployment": {"resources": [state("x", "1")]}}).to_string().into_bytes();
    let req = ImportRequest { update_id: "i1".into(), stack_id: STACK, requested_by: "ada".into() };
    assert_eq!(block_on(e.import(&f, req.clone(), body.clone(), T0 + 1)).unwrap_err().status, 409);
    assert!(!f.updates.borrow().contains_key("i1"), "a refused import leaves no update behind");
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();

    f.fail("ledger.record_import");
    assert_eq!(block_on(e.import(&f, req.clone(), body.clone(), T0 + 3)).unwrap_err().status, 503);
    assert!(!f.updates.borrow().contains_key("i1"), "no failed import in history");
    f.heal();
    assert_eq!(block_on(e.import(&f, req, body, T0 + 4)).unwrap(), 2);
    assert_eq!((f.status("i1"), names(&f.latest(STACK).unwrap())), ("succeeded".into(), vec!["x".to_owned()]));
}

#[test]
fn renewals_extend_the_lease_and_the_alarm() {
    let (e, f) = running(true);
    let l = block_on(e.renew(&f, "u1", "tok-u1", 300, LEASE, T0 + 1000)).unwrap();
    assert_eq!(l.expires_at, T0 + 1000 + LEASE);
    assert_eq!(f.alarm.get(), Some(T0 + 1000 + LEASE));
    assert_eq!(block_on(e.alarm(&f, T0 + LEASE)).unwrap(), AlarmOutcome::Idle, "renewed since the alarm was set");
    assert_eq!(block_on(e.renew(&f, "u1", "bad", 300, LEASE, T0 + 2000)).unwrap_err().status, 401);
}

#[test]
fn cancel_of_an_update_that_never_started_records_it() {
    let (e, f) = (Engine::new(), Fake::with_stack(STACK));
    f.create_update(STACK, "u1", "update");
    block_on(e.cancel(&f, STACK, "u1", T0)).unwrap();
    assert_eq!(f.status("u1"), "cancelled");
    assert_eq!(block_on(e.start(&f, start_req("u1", 1), T0 + 1)).unwrap_err().status, 409);
}

#[test]
fn the_lease_record_is_read_once_per_object_life() {
    let (e, f) = running(true);
    for i in 0..5 {
        journal(&e, &f, &[begin(10 + i, 10 + i, "x")]).unwrap();
    }
    assert_eq!(f.calls.borrow()["lease.load"], 1, "batches are checked against the lease kept in memory");
}

#[test]
fn a_retried_complete_is_recognized_by_its_token_and_status() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 3)).unwrap();
    assert_eq!(block_on(e.complete(&f, "u1", "tok-u1", "failed", T0 + 3)).unwrap_err().status, 403, "another status");
    assert_eq!(block_on(e.complete(&f, "u1", "guess", "succeeded", T0 + 3)).unwrap_err().status, 403, "another token");
    assert_eq!(block_on(e.check(&f, "u1", "tok-u1", true, T0 + 3)).unwrap(), None, "the pre-check lets the retry by");
    assert_eq!(block_on(e.check(&f, "u1", "tok-u1", false, T0 + 3)).unwrap_err().status, 403);
    assert_eq!(block_on(e.check(&f, "u1", "guess", true, T0 + 3)).unwrap_err().status, 403);
    e.forget();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 4)).unwrap();
}

#[test]
fn a_corrupt_journal_is_kept_beside_the_checkpoints() {
    let (e, f) = running(true);
    let dangling = json!({"version": 1, "kind": 1, "sequenceID": 2, "operationID": 1, "removeOld": null, "removeNew": 9});
    journal(&e, &f, &[begin(1, 1, "a"), dangling]).unwrap();
    block_on(e.cancel(&f, STACK, "u1", T0 + 2)).unwrap();
    let kept: Value = serde_json::from_str(&f.object(&store::journal_key(STACK, "u1")).unwrap()).unwrap();
    assert_eq!(kept["entries"].as_array().unwrap().len(), 2);
    assert_eq!(f.status("u1"), "failed");
}

#[test]
fn a_journal_that_never_materializes_stops_locking_the_stack() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    f.fail("objects.put");
    for i in 0..5 {
        let err = block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2 + i)).unwrap_err();
        assert_eq!(err.status, 503);
    }
    assert_eq!(f.lease.borrow().as_ref().unwrap().active.as_ref().unwrap().settle_attempts, 5, "every try counted");
    let gave_up = block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 10)).unwrap_err();
    assert_eq!(gave_up.status, 409);
    assert!(gave_up.message.contains("journal is kept"), "{}", gave_up.message);
    assert_eq!(f.status("u1"), "failed");
    assert!(block_on(e.status(&f, T0 + 11)).unwrap().is_none(), "the stack is free");
    f.heal();
    f.create_update(STACK, "u2", "update");
    block_on(e.start(&f, start_req("u2", 1), T0 + 12)).unwrap();
    assert_eq!(f.journal.borrow().len(), 2, "the kept journal survives the next update's start");
}

#[test]
fn a_journal_over_its_limit_is_refused_whole() {
    let (e, f) = (Engine::with_journal_limit(600), Fake::with_stack(STACK));
    f.create_update(STACK, "u1", "update");
    block_on(e.start(&f, start_req("u1", 1), T0)).unwrap();
    journal(&e, &f, &[begin(1, 1, "a")]).unwrap();
    let over = journal(&e, &f, &[success(2, 1, "a", &"x".repeat(600))]).unwrap_err();
    assert_eq!(over.status, 409, "not 413: splitting would not help");
    assert_eq!(f.journal.borrow().len(), 1);
}

#[test]
fn a_delete_that_fails_halfway_is_finished_by_the_alarm() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
    f.fail("objects.delete");
    block_on(e.delete_stack(&f, STACK, false, T0 + 3)).expect("the stack is deleted once its rows are");
    assert!(f.stacks.borrow().is_empty(), "the rows are gone: nothing points at the objects");
    assert_eq!(f.alarm.get(), Some(T0 + 3 + RETRY_FINISH_MS));
    assert_eq!(block_on(e.alarm(&f, T0 + 3 + RETRY_FINISH_MS)).unwrap(), AlarmOutcome::Retry);
    f.heal();
    block_on(e.alarm(&f, T0 + 3 + 2 * RETRY_FINISH_MS)).unwrap();
    assert!(f.objects.borrow().is_empty() && !f.lease.borrow().as_ref().unwrap().purge);
}

#[test]
fn a_start_whose_lease_cannot_be_saved_is_not_left_running() {
    let (e, f) = (Engine::new(), Fake::with_stack(STACK));
    f.create_update(STACK, "u1", "update");
    f.fail("lease.save");
    assert_eq!(block_on(e.start(&f, start_req("u1", 1), T0)).unwrap_err().status, 503);
    assert_eq!(f.status("u1"), "failed");
    assert!(f.stacks.borrow()[&STACK].active_update.is_none());
}

#[test]
fn exports_of_a_quiet_running_update_reuse_one_replay() {
    let (e, f) = running(true);
    journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
    let first = block_on(e.current(&f, T0 + 1)).unwrap().unwrap();
    assert_eq!(block_on(e.current(&f, T0 + 2)).unwrap().unwrap(), first);
    assert_eq!(f.calls.borrow()["journal.scan"], 1);
    journal(&e, &f, &[begin(3, 2, "b"), success(4, 2, "b", "1")]).unwrap();
    let later: Value = serde_json::from_str(&block_on(e.current(&f, T0 + 3)).unwrap().unwrap()).unwrap();
    assert_eq!(names(&later), ["a", "b"], "a new entry means a new replay");
}

#[test]
fn a_start_whose_answer_from_the_ledger_is_lost_does_not_leave_the_stack_held() {
    let (e, f) = (Engine::new(), Fake::with_stack(STACK));
    f.create_update(STACK, "u1", "update");
    let faults = faults::Faults::default();
    faults.arm(Some(serde_json::from_value(json!({"step": "start", "store": "d1", "phase": "after", "kind": "fail"})).unwrap()));
    fn no_wait(_: u64) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        Box::pin(async {})
    }
    let s = faults::Faulty { inner: &f, faults: &faults, step: faults::Step::Start, sleep: no_wait };
    assert_eq!(block_on(e.start(&s, start_req("u1", 1), T0)).unwrap_err().status, 503);
    assert_eq!(f.status("u1"), "failed");
    assert_eq!(f.stacks.borrow()[&STACK].active_update, None, "the stack is free for the next update");
    f.create_update(STACK, "u2", "update");
    block_on(e.start(&f, start_req("u2", 1), T0 + 1)).unwrap();
}

#[test]
fn an_update_that_stores_nothing_leaves_its_version_at_the_base() {
    for journal_mode in [true, false] {
        let (e, f) = running(true);
        journal(&e, &f, &[begin(1, 1, "a"), success(2, 1, "a", "1")]).unwrap();
        block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 2)).unwrap();
        // A `pulumi up` with nothing to do: no entries (or, without journaling, no checkpoint).
        f.create_update(STACK, "u2", "update");
        block_on(e.start(&f, start_req("u2", i64::from(journal_mode)), T0 + 3)).unwrap();
        block_on(e.complete(&f, "u2", "tok-u2", "succeeded", T0 + 4)).unwrap();
        let cps = f.checkpoints.borrow();
        let (v1, v2) = (&cps[&(STACK, 1)], &cps[&(STACK, 2)]);
        assert_eq!((v2.key.as_str(), &v2.sha256, v2.size), (v1.key.as_str(), &v1.sha256, v1.size), "journal: {journal_mode}");
        assert_eq!(v2.resources, Some(1));
        drop(cps);
        assert_eq!(names(&f.latest(STACK).unwrap()), ["a"]);
    }
}

#[test]
fn a_first_update_that_stores_nothing_leaves_the_empty_deployment_at_its_version() {
    let (e, f) = running(true);
    block_on(e.complete(&f, "u1", "tok-u1", "succeeded", T0 + 1)).unwrap();
    let cp = f.checkpoints.borrow()[&(STACK, 1)].clone();
    assert_eq!(cp.resources, Some(0));
    assert_eq!(f.object(&cp.key).as_deref(), Some(crate::api::updates::EMPTY_DEPLOYMENT));
}
