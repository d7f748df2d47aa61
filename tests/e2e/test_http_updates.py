"""The update protocol over HTTP, as the CLI drives it: leases, checkpoints (full, verbatim, delta), events,
history, export/import, cancel, and the service secrets provider."""

import base64
import gzip
import hashlib
import json

from conftest import ADMIN_TOKEN, EVE_TOKEN, ORG, VIEWER_TOKEN


def new_stack(server, unique):
    project, name = unique("up"), unique("st")
    r = server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": name})
    assert r.status == 200, r.body
    return f"/api/stacks/{ORG}/{project}/{name}"


def program(message="deploy"):
    return {"name": "p", "runtime": "yaml", "main": "", "description": "", "options": {},
            "config": {"p:greeting": {"string": "hi", "secret": False}},
            "metadata": {"message": message, "environment": {"git.head": "abc"}}}


def start(server, stack, kind="update"):
    r = server.request("POST", f"{stack}/{kind}", ADMIN_TOKEN, program())
    assert r.status == 200, r.body
    uid = r.json()["updateID"]
    s = server.request("POST", f"{stack}/update/{uid}", ADMIN_TOKEN, {"tags": {"pulumi:project": "p"}})
    assert s.status == 200, s.body
    return uid, s.json()


def deployment(n):
    return {"manifest": {"time": "2026-01-01T00:00:00Z", "magic": "m", "version": "v"},
            "resources": [{"urn": f"urn:pulumi:s::p::t::r{i}", "type": "t", "custom": True} for i in range(n)]}


def up(server, stack, uid, token, op, body, gz=False):
    raw = json.dumps(body, separators=(",", ":")).encode()  # compact, as Go marshals
    headers = {"Content-Encoding": "gzip"} if gz else {}
    method = "PATCH" if op.startswith("checkpoint") else "POST"
    return server.request(method, f"{stack}/update/{uid}/{op}", token, raw=gzip.compress(raw) if gz else raw,
                          scheme="update-token", headers=headers)


def test_a_whole_update_with_checkpoints_events_and_history(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    assert started["version"] == 1 and started["tokenExpiration"] > 0

    r = up(server, stack, uid, token, "checkpoint", {"version": 3, "deployment": deployment(2)}, gz=True)
    assert r.status == 200, r.body
    events = [{"sequence": 1, "timestamp": 1, "summaryEvent": {"resourceChanges": {"create": 2}}}]
    assert up(server, stack, uid, token, "events/batch", {"events": events}, gz=True).status == 200
    assert up(server, stack, uid, token, "events/batch", {"events": events}, gz=True).status == 200, "retry-safe"
    renewed = up(server, stack, uid, token, "renew_lease", {"token": token, "duration": 300})
    assert renewed.status == 200 and renewed.json()["token"] == token
    assert up(server, stack, uid, token, "complete", {"status": "succeeded"}).status == 200
    assert up(server, stack, uid, token, "complete", {"status": "succeeded"}).status == 200, "retry-safe"

    s = server.request("GET", stack, VIEWER_TOKEN).json()
    assert s["activeUpdate"] == "" and s["version"] == 1 and s["tags"] == {"pulumi:project": "p"}
    exported = server.request("GET", f"{stack}/export", VIEWER_TOKEN).json()
    assert exported["version"] == 3 and len(exported["deployment"]["resources"]) == 2
    hist = server.request("GET", f"{stack}/updates?pageSize=10&page=1", VIEWER_TOKEN).json()["updates"]
    assert len(hist) == 1
    h = hist[0]
    assert (h["kind"], h["result"], h["version"], h["message"]) == ("update", "succeeded", 1, "deploy")
    assert h["resourceChanges"] == {"create": 2} and h["resourceCount"] == 2
    assert h["environment"] == {"git.head": "abc"} and h["endTime"] >= h["startTime"] > 0
    assert server.request("GET", f"{stack}/updates/latest", VIEWER_TOKEN).json()["info"]["version"] == 1
    listed = server.request("GET", f"/api/user/stacks?project={stack.split('/')[4]}", ADMIN_TOKEN).json()
    assert listed["stacks"][0]["resourceCount"] == 2 and listed["stacks"][0]["lastUpdate"] > 0

    # Without force, a stack with resources is refused with the CLI's exact message.
    r = server.request("DELETE", stack, ADMIN_TOKEN)
    assert r.status == 400 and r.json()["message"] == "Bad Request: Stack still contains resources."
    assert server.request("DELETE", stack + "?force=true", ADMIN_TOKEN).status == 200


def test_one_update_at_a_time_and_lease_tokens_are_checked(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    busy = server.request("POST", f"{stack}/update", ADMIN_TOKEN, program())
    assert busy.status == 409 and "in progress" in busy.json()["message"]
    assert server.request("GET", stack, ADMIN_TOKEN).json()["activeUpdate"] == uid

    body = {"version": 3, "deployment": deployment(1)}
    assert up(server, stack, uid, "wrong", "checkpoint", body).status == 401
    assert up(server, stack, "other-update", token, "checkpoint", body).status == 403
    other = new_stack(server, unique)
    assert up(server, other, uid, token, "checkpoint", body).status == 403, "wrong stack"
    assert server.request("PATCH", f"{stack}/update/{uid}/checkpoint", ADMIN_TOKEN, body).status == 401, \
        "an API token is not a lease token"

    # Cancelling (API token) frees the stack; the old lease is dead for good.
    assert server.request("POST", f"{stack}/update/{uid}/cancel", VIEWER_TOKEN).status == 403
    assert server.request("POST", f"{stack}/update/{uid}/cancel", ADMIN_TOKEN).status == 200
    assert up(server, stack, uid, token, "renew_lease", {"duration": 300}).status == 403
    assert up(server, stack, uid, token, "checkpoint", body).status == 403
    assert server.request("GET", f"{stack}/update/{uid}", ADMIN_TOKEN).json()["status"] == "cancelled"
    uid2, _ = start(server, stack)
    assert uid2 != uid


def test_verbatim_then_delta_checkpoints(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    text = json.dumps({"version": 3, "deployment": deployment(3)}, separators=(",", ":"))
    r = up(server, stack, uid, token, "checkpointverbatim",
           {"version": 3, "untypedDeployment": json.loads(text), "sequenceNumber": 1}, gz=True)
    assert r.status == 200, r.body
    # Python re-serializes with the same compact separators, so the stored text is `text`.
    old = 'r1"'
    start_at = text.index(old)
    new_text = text[:start_at] + 'renamed"' + text[start_at + len(old):]
    edit = {"Span": {"uri": "", "start": {"line": 1, "column": 0, "offset": start_at},
                     "end": {"line": 1, "column": 0, "offset": start_at + len(old)}}, "NewText": 'renamed"'}
    good = {"version": 3, "checkpointHash": hashlib.sha256(new_text.encode()).hexdigest(), "sequenceNumber": 2,
            "deploymentDelta": [edit]}
    bad = dict(good, checkpointHash="0" * 64, sequenceNumber=3)
    r = up(server, stack, uid, token, "checkpointdelta", bad, gz=True)
    assert r.status == 409 and "hash mismatch" in r.json()["message"], "a bad delta fails so the CLI falls back"
    assert up(server, stack, uid, token, "checkpointdelta", good, gz=True).status == 200
    assert up(server, stack, uid, token, "complete", {"status": "succeeded"}).status == 200
    exported = server.request("GET", f"{stack}/export", ADMIN_TOKEN)
    assert exported.body.decode() == new_text


def test_every_version_exports_and_import_makes_a_new_one(server, unique):
    stack = new_stack(server, unique)
    for n in (1, 2):
        uid, started = start(server, stack)
        body = {"version": 3, "deployment": deployment(n)}
        assert up(server, stack, uid, started["token"], "checkpoint", body).status == 200
        assert up(server, stack, uid, started["token"], "complete", {"status": "succeeded"}).status == 200
    v1 = server.request("GET", f"{stack}/export/1", ADMIN_TOKEN).json()
    assert len(v1["deployment"]["resources"]) == 1
    assert server.request("GET", f"{stack}/export/9", ADMIN_TOKEN).status == 404

    imported = server.request("POST", f"{stack}/import", ADMIN_TOKEN, raw=gzip.compress(json.dumps(v1).encode()),
                              headers={"Content-Encoding": "gzip"})
    assert imported.status == 200, imported.body
    uid = imported.json()["updateId"]
    assert server.request("GET", f"{stack}/update/{uid}", ADMIN_TOKEN).json()["status"] == "succeeded"
    assert server.request("GET", stack, ADMIN_TOKEN).json()["version"] == 3
    latest = server.request("GET", f"{stack}/export", ADMIN_TOKEN).json()
    assert len(latest["deployment"]["resources"]) == 1
    kinds = [u["kind"] for u in server.request("GET", f"{stack}/updates", ADMIN_TOKEN).json()["updates"]]
    assert kinds == ["import", "update", "update"]


def test_a_gzip_bomb_is_413(server, unique):
    stack = new_stack(server, unique)
    bomb = gzip.compress(b'{"version":3,"deployment":"' + b"a" * (60 << 20) + b'"}')
    r = server.request("POST", f"{stack}/import", ADMIN_TOKEN, raw=bomb, headers={"Content-Encoding": "gzip"})
    assert r.status == 413, r.body


def b64(s):
    return base64.b64encode(s).decode()


def test_secrets_round_trip_and_stay_with_their_stack(server, unique):
    a, b = new_stack(server, unique), new_stack(server, unique)
    ct = server.request("POST", f"{a}/encrypt", ADMIN_TOKEN, {"plaintext": b64(b"hunter2")}).json()["ciphertext"]
    assert b"hunter2" not in base64.b64decode(ct)
    pt = server.request("POST", f"{a}/decrypt", ADMIN_TOKEN, {"ciphertext": ct}).json()["plaintext"]
    assert base64.b64decode(pt) == b"hunter2"
    r = server.request("POST", f"{b}/decrypt", ADMIN_TOKEN, {"ciphertext": ct})
    assert r.status == 400 and "hunter2" not in r.body.decode()

    cts = server.request("POST", f"{a}/batch-encrypt", ADMIN_TOKEN,
                         {"plaintexts": [b64(b"one"), b64(b"two")]}).json()["ciphertexts"]
    body = gzip.compress(json.dumps({"ciphertexts": cts}).encode())
    out = server.request("POST", f"{a}/batch-decrypt", ADMIN_TOKEN, raw=body,
                         headers={"Content-Encoding": "gzip"}).json()["plaintexts"]
    assert {base64.b64decode(out[c]) for c in cts} == {b"one", b"two"}
    assert server.request("POST", f"{a}/decrypt/log-decryption", ADMIN_TOKEN, {}).status == 200
    assert server.request("POST", f"{a}/encrypt", EVE_TOKEN, {"plaintext": b64(b"x")}).status == 404
    caps = {c["capability"] for c in server.request("GET", "/api/capabilities").json()["capabilities"]}
    assert {"delta-checkpoint-uploads-v2", "batch-encrypt"} <= caps


def test_retried_checkpoints_are_idempotent_by_sequence_number(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    first = {"version": 3, "deployment": deployment(2)}
    verbatim = {"version": 3, "untypedDeployment": first, "sequenceNumber": 1}
    assert up(server, stack, uid, token, "checkpointverbatim", verbatim, gz=True).status == 200
    assert up(server, stack, uid, token, "checkpointverbatim", verbatim, gz=True).status == 200, "a retry"

    text = json.dumps(first, separators=(",", ":"))
    at = text.index('r1"')
    new_text = text[:at] + 'r9"' + text[at + 3:]
    edit = {"Span": {"uri": "", "start": {"line": 1, "column": 0, "offset": at},
                     "end": {"line": 1, "column": 0, "offset": at + 3}}, "NewText": 'r9"'}
    delta = {"version": 3, "checkpointHash": hashlib.sha256(new_text.encode()).hexdigest(), "sequenceNumber": 2,
             "deploymentDelta": [edit]}
    assert up(server, stack, uid, token, "checkpointdelta", delta, gz=True).status == 200
    # The retry of an applied delta must not be applied to its own result (that would fail the hash).
    assert up(server, stack, uid, token, "checkpointdelta", delta, gz=True).status == 200
    # A late retry of checkpoint 1 is acknowledged but never rewinds the state.
    assert up(server, stack, uid, token, "checkpointverbatim", verbatim, gz=True).status == 200
    assert server.request("GET", f"{stack}/export", ADMIN_TOKEN).body.decode() == new_text
    # Number 2 again with other content is a client bug, refused rather than silently stored.
    clash = {"version": 3, "untypedDeployment": deployment(5), "sequenceNumber": 2}
    r = up(server, stack, uid, token, "checkpointverbatim", clash, gz=True)
    assert r.status == 409 and "sequence number 2" in r.json()["message"]
    assert server.request("GET", f"{stack}/export", ADMIN_TOKEN).body.decode() == new_text
    assert up(server, stack, uid, token, "complete", {"status": "succeeded"}).status == 200


def big_deployment(target_bytes):
    """A deployment of about `target_bytes` of JSON, with incompressible-enough outputs."""
    per = 2000
    resources = []
    for i in range(target_bytes // per + 1000):
        blob = hashlib.sha256(str(i).encode()).hexdigest() * 28  # 1792 chars
        resources.append({"urn": f"urn:pulumi:s::p::t::r{i}", "type": "t", "custom": True, "outputs": {"blob": blob}})
    return {"manifest": {"time": "2026-01-01T00:00:00Z", "magic": "m", "version": "v"}, "resources": resources}


def test_a_20_mb_checkpoint_is_stored_exported_and_imported(server, unique):
    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    token = started["token"]
    state = {"version": 3, "deployment": big_deployment(20 << 20)}
    text = json.dumps(state, separators=(",", ":"))
    assert len(text) >= 20 << 20
    r = up(server, stack, uid, token, "checkpointverbatim",
           {"version": 3, "untypedDeployment": state, "sequenceNumber": 1}, gz=True)
    assert r.status == 200, r.body
    assert up(server, stack, uid, token, "complete", {"status": "succeeded"}).status == 200
    exported = server.request("GET", f"{stack}/export", ADMIN_TOKEN)
    assert exported.status == 200 and hashlib.sha256(exported.body).hexdigest() == \
        hashlib.sha256(text.encode()).hexdigest()
    assert server.request("GET", stack, ADMIN_TOKEN).json()["version"] == 1

    imported = server.request("POST", f"{stack}/import", ADMIN_TOKEN, raw=gzip.compress(exported.body),
                              headers={"Content-Encoding": "gzip"})
    assert imported.status == 200, imported.body
    again = server.request("GET", f"{stack}/export/2", ADMIN_TOKEN)
    assert again.body == exported.body
    listed = server.request("GET", f"/api/user/stacks?project={stack.split('/')[4]}", ADMIN_TOKEN).json()
    assert listed["stacks"][0]["resourceCount"] == len(state["deployment"]["resources"])


def test_a_stack_deleted_and_created_again_takes_updates(server, unique):
    project, name = unique("again"), unique("st")
    stack = f"/api/stacks/{ORG}/{project}/{name}"
    for round_ in range(2):
        assert server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": name}).status == 200
        uid, started = start(server, stack)
        body = {"version": 3, "deployment": deployment(round_ + 1)}
        r = up(server, stack, uid, started["token"], "checkpoint", body)
        assert r.status == 200, (round_, r.body)
        assert up(server, stack, uid, started["token"], "complete", {"status": "succeeded"}).status == 200
        assert len(server.request("GET", f"{stack}/export", ADMIN_TOKEN).json()["deployment"]["resources"]) == round_ + 1
        assert server.request("DELETE", stack + "?force=true", ADMIN_TOKEN).status == 200


def test_lease_routes_do_not_reveal_which_stacks_exist(server, unique):
    stack = new_stack(server, unique)
    missing = f"/api/stacks/{ORG}/nope-{unique('x')}/nothing"
    body = {"version": 3, "deployment": deployment(1)}
    a = up(server, stack, "u-none", "t", "checkpoint", body)
    b = up(server, missing, "u-none", "t", "checkpoint", body)
    assert (a.status, a.json()) == (b.status, b.json()) == (403, a.json())
