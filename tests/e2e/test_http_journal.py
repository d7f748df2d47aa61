"""The journaling protocol over HTTP, as the CLI speaks it: negotiation at start, `journalentries` batches (retried,
out of order, reused sequence IDs, over the cap), the state rebuilt on demand and at the end, and the rules every
execution route shares: the lease token is checked before the body is read."""

import gzip
import json

import pytest

from conftest import ADMIN_TOKEN, DEFAULT_VARS, EVE_TOKEN, MEMBER_TOKEN, ORG, VIEWER_TOKEN
from test_http_updates import new_stack, program

URN = "urn:pulumi:dev::p::procella-test:index:Item::"


def res(name, value="v"):
    return {"urn": URN + name, "custom": True, "type": "procella-test:index:Item", "id": f"id-{name}",
            "inputs": {"value": value}, "outputs": {"value": value}}


def begin(seq, op, name):
    return {"version": 1, "kind": 0, "sequenceID": seq, "operationID": op, "removeOld": None, "removeNew": None,
            "operation": {"resource": res(name), "type": "creating"}}


def success(seq, op, name, value="v"):
    return {"version": 1, "kind": 1, "sequenceID": seq, "operationID": op, "removeOld": None, "removeNew": None,
            "state": res(name, value)}


def start(server, stack, journal_version=1, kind="update", options=None, token=ADMIN_TOKEN):
    body = {**program(), "options": options or {}}
    uid = server.request("POST", f"{stack}/{kind}", token, body).json()["updateID"]
    r = server.request("POST", f"{stack}/update/{uid}", token, {"journalVersion": journal_version})
    assert r.status == 200, r.body
    return uid, r.json()


def send(server, stack, uid, token, entries, raw=None):
    body = raw if raw is not None else json.dumps({"entries": entries}, separators=(",", ":")).encode()
    return server.request("PATCH", f"{stack}/update/{uid}/journalentries", token, raw=gzip.compress(body),
                          scheme="update-token", headers={"Content-Encoding": "gzip"})


def call(server, stack, uid, token, op, body, method="POST"):
    return server.request(method, f"{stack}/update/{uid}/{op}", token, body, scheme="update-token")


def names(export):
    return [r["urn"].rsplit("::", 1)[1] for r in export["deployment"].get("resources", [])]


def test_journaling_is_offered_at_version_one_and_never_for_previews(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack, journal_version=2)
    assert started["journalVersion"] == 1, "a newer CLI is kept on version 1"
    assert call(server, stack, uid, started["token"], "complete", {"status": "succeeded"}).status == 200
    uid, started = start(server, stack, journal_version=0)
    assert "journalVersion" not in started, "a CLI that does not journal uploads checkpoints"
    assert call(server, stack, uid, started["token"], "complete", {"status": "succeeded"}).status == 200
    _, preview = start(server, stack, kind="preview")
    assert "journalVersion" not in preview
    stack2 = new_stack(server, unique)
    _, dry = start(server, stack2, options={"dryRun": True})
    assert "journalVersion" not in dry, "`pulumi up`'s preview is a dry run of an update"


@pytest.fixture(scope="module")
def checkpoint_server(server_factory):
    return server_factory({**DEFAULT_VARS, "PROCELLA_JOURNALING": "false"})


def test_journaling_can_be_turned_off(checkpoint_server, unique):
    stack = new_stack(checkpoint_server, unique)
    uid, started = start(checkpoint_server, stack)
    assert "journalVersion" not in started
    r = send(checkpoint_server, stack, uid, started["token"], [begin(1, 1, "a")])
    assert r.status == 400 and r.json()["code"] == 400 and "send checkpoints" in r.json()["message"]


def test_batches_are_stored_once_in_any_order_and_replayed_at_the_end(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    assert send(server, stack, uid, token, [success(2, 1, "a"), begin(3, 2, "b")]).status == 200
    assert send(server, stack, uid, token, [begin(1, 1, "a")]).status == 200, "out of order"
    assert send(server, stack, uid, token, [begin(1, 1, "a"), success(2, 1, "a")]).status == 200, "a retry"

    live = server.request("GET", f"{stack}/export", VIEWER_TOKEN).json()
    assert names(live) == ["a"], "export replays the running journal"
    assert [o["type"] for o in live["deployment"]["pending_operations"]] == ["creating"]

    reused = send(server, stack, uid, token, [success(4, 2, "b"), success(2, 1, "a", "changed")])
    assert reused.status == 409 and reused.json()["code"] == 409 and "sequenceID 2" in reused.json()["message"]
    assert names(server.request("GET", f"{stack}/export", VIEWER_TOKEN).json()) == ["a"], "nothing of it was stored"

    assert send(server, stack, uid, token, [success(4, 2, "b")]).status == 200
    assert call(server, stack, uid, token, "complete", {"status": "succeeded"}).status == 200
    final = server.request("GET", f"{stack}/export", VIEWER_TOKEN).json()
    assert names(final) == ["a", "b"] and "pending_operations" not in final["deployment"], "in sequence order"
    h = server.request("GET", f"{stack}/updates", VIEWER_TOKEN).json()["updates"][0]
    assert (h["result"], h["resourceCount"]) == ("succeeded", 2)
    assert server.request("GET", stack, VIEWER_TOKEN).json()["activeUpdate"] == ""

    # The next update indexes into exactly that state: index 0 is `a`.
    uid2, s2 = start(server, stack)
    update_a = {**success(2, 1, "a", "new"), "removeOld": 0}
    assert send(server, stack, uid2, s2["token"], [begin(1, 1, "a"), update_a]).status == 200
    assert call(server, stack, uid2, s2["token"], "complete", {"status": "failed"}).status == 200
    after = server.request("GET", f"{stack}/export", VIEWER_TOKEN).json()["deployment"]["resources"]
    assert [(r["urn"][-1], r["outputs"]["value"]) for r in after] == [("a", "new"), ("b", "v")], \
        "a failed update keeps what it did"


def test_a_batch_over_the_cap_is_a_413_the_cli_splits(server_factory, unique):
    s = server_factory({**DEFAULT_VARS, "PROCELLA_JOURNAL_BATCH_MAX_BYTES": str(16 << 10)})
    stack = new_stack(s, unique)
    uid, started = start(s, stack)
    big = [success(i + 1, i + 1, f"r{i}", "x" * 500) for i in range(20)]
    r = send(s, stack, uid, started["token"], big)
    assert r.status == 413 and r.json()["code"] == 413, r.body
    for half in (big[:10], big[10:]):
        assert send(s, stack, uid, started["token"], half).status == 200
    assert call(s, stack, uid, started["token"], "complete", {"status": "succeeded"}).status == 200
    assert len(names(s.request("GET", f"{stack}/export", ADMIN_TOKEN).json())) == 20


def test_bad_entries_are_400s_in_the_pulumi_error_shape(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    for bad in ([{"version": 2, "kind": 10, "sequenceID": 1}], [{"version": 1, "kind": 0, "sequenceID": 0}],
                [{"version": 1, "kind": 42, "sequenceID": 1}], [{"version": 1, "kind": "x", "sequenceID": 1}]):
        r = send(server, stack, uid, token, bad)
        assert r.status == 400 and r.json()["code"] == 400 and r.json()["message"], (bad, r.body)
    r = send(server, stack, uid, token, None, raw=b"not json")
    assert r.status == 400 and r.json()["code"] == 400
    r = server.request("PATCH", f"{stack}/update/{uid}/journalentries", token, raw=b"\x1f\x8bgarbage",
                       scheme="update-token", headers={"Content-Encoding": "gzip"})
    assert r.status == 400
    # A checkpoint to a journaling update is refused too: one update, one protocol.
    r = call(server, stack, uid, token, "checkpoint", {"version": 3, "deployment": {}}, method="PATCH")
    assert r.status == 400 and "journal" in r.json()["message"]


def test_a_corrupt_journal_fails_its_update_clearly_and_frees_the_stack(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    dangling = {**success(2, 1, "a"), "state": None, "removeNew": 77}
    assert send(server, stack, uid, token, [begin(1, 1, "a"), dangling]).status == 200
    r = call(server, stack, uid, token, "complete", {"status": "succeeded"})
    assert r.status == 409 and "corrupt journal" in r.json()["message"] and "operation 77" in r.json()["message"]
    assert server.request("GET", f"{stack}/update/{uid}", ADMIN_TOKEN).json()["status"] == "failed"
    assert server.request("GET", stack, ADMIN_TOKEN).json()["activeUpdate"] == ""


EXECUTION_ROUTES = [("POST", "complete"), ("POST", "renew_lease"), ("POST", "events/batch"),
                    ("PATCH", "checkpoint"), ("PATCH", "checkpointverbatim"), ("PATCH", "checkpointdelta"),
                    ("PATCH", "journalentries")]


def test_every_execution_route_checks_the_token_before_the_body(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    eve_project = unique("eve")
    assert server.request("POST", f"/api/stacks/eve-org/{eve_project}", EVE_TOKEN, {"stackName": "s"}).status == 200
    for method, op in EXECUTION_ROUTES:
        junk = {"raw": b"{{{ not json", "scheme": "update-token"}
        wrong = server.request(method, f"{stack}/update/{uid}/{op}", "junk-token", **junk)
        assert wrong.status == 401 and wrong.json()["code"] == 401, (op, wrong.body)
        other = server.request(method, f"{stack}/update/not-this-one/{op}", "junk-token", **junk)
        missing = server.request(method, f"/api/stacks/{ORG}/nope/nope/update/{uid}/{op}", "junk-token", **junk)
        foreign = server.request(method, f"/api/stacks/eve-org/{eve_project}/s/update/{uid}/{op}", "junk-token", **junk)
        assert other.status == missing.status == foreign.status == 403, (op, other.body, missing.body, foreign.body)
        assert other.json() == missing.json() == foreign.json(), "nobody learns which stacks exist"


def test_a_started_update_is_never_started_again(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    again = server.request("POST", f"{stack}/update/{uid}", MEMBER_TOKEN, {"journalVersion": 1})
    assert again.status == 409 and again.json()["code"] == 409
    assert started["token"] not in again.body.decode(), "a member never receives someone else's lease"


def test_rename_and_delete_wait_for_the_running_update(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    renamed = server.request("POST", f"{stack}/rename", ADMIN_TOKEN, {"newName": unique("renamed")})
    assert renamed.status == 409 and "in progress" in renamed.json()["message"]
    deleted = server.request("DELETE", stack, ADMIN_TOKEN)
    assert deleted.status == 409 and "in progress" in deleted.json()["message"]
    assert send(server, stack, uid, started["token"], [begin(1, 1, "a"), success(2, 1, "a")]).status == 200, \
        "the running CLI still has its stack"
    assert call(server, stack, uid, started["token"], "complete", {"status": "succeeded"}).status == 200
    new_name = unique("renamed")
    assert server.request("POST", f"{stack}/rename", ADMIN_TOKEN, {"newName": new_name}).status == 200
    moved = stack.rsplit("/", 1)[0] + "/" + new_name
    assert names(server.request("GET", f"{moved}/export", ADMIN_TOKEN).json()) == ["a"]
    uid2, s2 = start(server, moved)
    forced = server.request("DELETE", moved + "?force=true", ADMIN_TOKEN)
    assert forced.status == 200, forced.body
    assert send(server, moved, uid2, s2["token"], [begin(1, 1, "b")]).status == 403, "its lease ended with it"
    assert server.request("GET", moved, ADMIN_TOKEN).status == 404


def test_an_import_is_one_step_and_refused_while_an_update_runs(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    state = {"version": 3, "deployment": {"manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": ""},
                                          "resources": [res("imported")]}}
    busy = server.request("POST", f"{stack}/import", ADMIN_TOKEN, state)
    assert busy.status == 409
    assert call(server, stack, uid, started["token"], "complete", {"status": "succeeded"}).status == 200
    history = server.request("GET", f"{stack}/updates", ADMIN_TOKEN).json()["updates"]
    assert [h["kind"] for h in history] == ["update"], "a refused import leaves no update behind"
    ok = server.request("POST", f"{stack}/import", ADMIN_TOKEN, state)
    assert ok.status == 200, ok.body
    h = server.request("GET", f"{stack}/updates", ADMIN_TOKEN).json()["updates"][0]
    assert (h["kind"], h["result"], h["version"], h["resourceCount"]) == ("import", "succeeded", 2, 1)
    assert names(server.request("GET", f"{stack}/export", ADMIN_TOKEN).json()) == ["imported"]


def test_events_need_a_sequence_and_fit_d1(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack, journal_version=0)
    token = started["token"]
    ok = {"events": [{"sequence": 0, "timestamp": 1, "stdoutEvent": {"message": "hi"}}]}
    assert call(server, stack, uid, token, "events/batch", ok).status == 200
    for bad in ({"events": [{"timestamp": 1}]}, {"events": [{"sequence": "3"}]}, {"events": [{"sequence": 10**7}]}):
        r = call(server, stack, uid, token, "events/batch", bad)
        assert r.status == 400 and r.json()["code"] == 400, bad
    huge = {"events": [{"sequence": 1, "timestamp": 2, "stdoutEvent": {"message": "x" * (2 << 20)}}]}
    assert call(server, stack, uid, token, "events/batch", huge).status == 200, "a huge event is kept as a stub"
    over = {"events": [{"sequence": i, "stdoutEvent": {"message": "y" * (1 << 20)}} for i in range(2, 7)]}
    assert call(server, stack, uid, token, "events/batch", over).status == 413
    events = server.request("GET", f"{stack}/update/{uid}/events", ADMIN_TOKEN).json()["events"]
    assert [e["sequence"] for e in events] == [0, 1] and events[1]["truncated"] is True
