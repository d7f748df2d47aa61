"""What a hostile or careless client sends: names URLs cannot carry, bodies of the wrong shape or size."""

import base64
import http.client
import json
import time
from urllib.parse import urlparse

import pytest

from conftest import ADMIN_TOKEN, MEMBER_TOKEN, ORG


def create(server, project, name, token=ADMIN_TOKEN):
    return server.request("POST", f"/api/stacks/{ORG}/{project}", token, {"stackName": name})


@pytest.mark.parametrize("name", [".", "..", "...", "......"])
def test_a_name_made_only_of_periods_is_refused(server, unique, name):
    project = unique("p")
    r = create(server, project, name)
    assert r.status == 400 and "only of periods" in r.json()["message"], r.body
    # `...` survives in a path (only `.` and `..` are normalised away), and is refused as a project name too.
    r = create(server, "...", unique("s"))
    assert r.status == 400 and "only of periods" in r.json()["message"], r.body
    assert create(server, project, "v1.0").status == 200


@pytest.mark.parametrize("field", ["newName", "newProject"])
def test_a_rename_to_periods_is_refused(server, unique, field):
    project, name = unique("p"), unique("s")
    assert create(server, project, name).status == 200
    r = server.request("POST", f"/api/stacks/{ORG}/{project}/{name}/rename", ADMIN_TOKEN, {field: ".."})
    assert r.status == 400 and "only of periods" in r.json()["message"], r.body
    assert server.request("GET", f"/api/stacks/{ORG}/{project}/{name}", ADMIN_TOKEN).status == 200


def test_an_operator_removes_a_stack_made_before_the_rule(server, unique):
    project = unique("p")
    now = int(time.time())
    server.sql(
        "INSERT INTO stacks (org, project, name, created_at, updated_at) "
        f"VALUES ('{ORG}', '{project}', '..', {now}, {now})"
    )
    listed = server.request("GET", f"/api/user/stacks?project={project}", ADMIN_TOKEN).json()["stacks"]
    assert [s["stackName"] for s in listed] == [".."]
    route = f"/api/admin/{ORG}/misnamed-stacks?project={project}&stack=.."
    # A member may not remove stacks; a well-named stack is not removed here.
    assert server.request("DELETE", route, MEMBER_TOKEN).status == 403
    assert create(server, project, "fine").status == 200
    r = server.request("DELETE", f"/api/admin/{ORG}/misnamed-stacks?project={project}&stack=fine", ADMIN_TOKEN)
    assert r.status == 400 and "only of periods" in r.json()["message"], r.body
    assert server.request("DELETE", route, ADMIN_TOKEN).status == 200
    listed = server.request("GET", f"/api/user/stacks?project={project}", ADMIN_TOKEN).json()["stacks"]
    assert [s["stackName"] for s in listed] == ["fine"]
    assert server.request("DELETE", route, ADMIN_TOKEN).status == 404


def test_a_json_array_is_not_an_object(server, unique):
    project = unique("p")
    r = server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, ["stackName"])
    assert r.status == 400 and r.json() == {"code": 400, "message": "invalid request body: expected a JSON object"}
    assert server.request("HEAD", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN).status == 404
    assert create(server, project, "s").status == 200
    r = server.request("PATCH", f"/api/stacks/{ORG}/{project}/s/tags", ADMIN_TOKEN, [["k", "v"]])
    assert r.status == 400 and "expected a JSON object" in r.json()["message"]
    r = server.request("POST", f"/api/stacks/{ORG}/{project}/s/encrypt", ADMIN_TOKEN, ["aGk="])
    assert r.status == 400 and "expected a JSON object" in r.json()["message"]


def test_one_secret_gets_the_small_cap_and_a_batch_the_large_one(server, unique):
    project = unique("p")
    assert create(server, project, "s").status == 200
    big = base64.b64encode(b"x" * (1 << 20)).decode()
    base = f"/api/stacks/{ORG}/{project}/s"
    r = server.request("POST", base + "/encrypt", ADMIN_TOKEN, {"plaintext": big})
    assert r.status == 413 and r.json()["code"] == 413, r.body[:200]
    r = server.request("POST", base + "/batch-encrypt", ADMIN_TOKEN, {"plaintexts": [big]})
    assert r.status == 200 and len(r.json()["ciphertexts"]) == 1
    r = server.request("POST", base + "/encrypt", ADMIN_TOKEN, {"plaintext": "aGk="})
    assert r.status == 200


def chunked(server, path, chunks, token=ADMIN_TOKEN):
    """A request whose body has no Content-Length: sent in chunks, as a streaming client does."""
    u = urlparse(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    conn.putrequest("POST", path)
    conn.putheader("Authorization", f"token {token}")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    try:
        for c in chunks:
            conn.send(b"%x\r\n%s\r\n" % (len(c), c))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the whole body is sent
    r = conn.getresponse()
    out = (r.status, r.read())
    conn.close()
    return out


def test_a_body_without_length_is_cut_off_at_the_cap(server, unique):
    project = unique("p")
    body = json.dumps({"stackName": "streamed"}).encode()
    status, _ = chunked(server, f"/api/stacks/{ORG}/{project}", [body[:5], body[5:]])
    assert status == 200
    assert server.request("GET", f"/api/stacks/{ORG}/{project}/streamed", ADMIN_TOKEN).status == 200
    # 2 MiB in 64 KiB chunks to a route whose cap is 1 MiB.
    pad = b" " * (64 << 10)
    status, reply = chunked(server, f"/api/stacks/{ORG}/{project}", [b'{"stackName":"big"'] + [pad] * 32 + [b"}"])
    assert status == 413 and json.loads(reply)["code"] == 413, reply
    assert server.request("GET", f"/api/stacks/{ORG}/{project}/big", ADMIN_TOKEN).status == 404
