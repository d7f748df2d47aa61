"""Authentication and authorization over HTTP: what the CLI cannot show directly."""

import pytest

from conftest import ADMIN_TOKEN, EVE_TOKEN, MEMBER_TOKEN, ORG, VIEWER_TOKEN


def make_stack(server, project, name, token=ADMIN_TOKEN):
    r = server.request("POST", f"/api/stacks/{ORG}/{project}", token, {"stackName": name})
    assert r.status == 200, r.body
    return f"/api/stacks/{ORG}/{project}/{name}"


def assert_error(reply, status, *fragments):
    assert reply.status == status, (reply.status, reply.body)
    body = reply.json()
    assert body["code"] == status
    for f in fragments:
        assert f in body["message"], body["message"]
    return body


def test_health_and_capabilities_need_no_auth(server):
    assert server.request("GET", "/healthz").json()["status"] == "ok"
    caps = server.request("GET", "/api/capabilities").json()
    assert isinstance(caps["capabilities"], list)


@pytest.mark.parametrize("header", [None, "", "token", "Basic dXNlcjpwYXNz", "token wrong-token"])
def test_missing_or_unknown_token_is_401(server, header):
    headers = {"Authorization": header} if header is not None else {}
    r = server.request("GET", "/api/user", headers=headers)
    body = assert_error(r, 401)
    if header:
        assert header.split(" ")[-1] not in body["message"] or header == "token"


def test_update_token_is_not_an_api_token(server):
    assert_error(server.request("GET", "/api/user", ADMIN_TOKEN, scheme="update-token"), 401, "update token")


def test_each_role_against_each_method(server, unique):
    project = unique("roleproj")
    # Each role tries to create, read, tag, rename and delete; the table says what must work.
    table = {
        VIEWER_TOKEN: {"POST": 403, "GET": 200, "HEAD": 200, "PATCH": 403, "rename": 403, "DELETE": 403},
        MEMBER_TOKEN: {"POST": 200, "GET": 200, "HEAD": 200, "PATCH": 200, "rename": 200, "DELETE": 403},
        ADMIN_TOKEN: {"POST": 200, "GET": 200, "HEAD": 200, "PATCH": 200, "rename": 200, "DELETE": 200},
    }
    for token, expect in table.items():
        base = make_stack(server, project, unique("st"))
        got = {
            "POST": server.request("POST", f"/api/stacks/{ORG}/{project}", token, {"stackName": unique("new")}).status,
            "GET": server.request("GET", base, token).status,
            "HEAD": server.request("HEAD", f"/api/stacks/{ORG}/{project}", token).status,
            "PATCH": server.request("PATCH", base + "/tags", token, {"k": "v"}).status,
        }
        renamed = unique("ren")
        got["rename"] = server.request("POST", base + "/rename", token, {"newName": renamed}).status
        target = f"/api/stacks/{ORG}/{project}/{renamed}" if got["rename"] == 200 else base
        got["DELETE"] = server.request("DELETE", target, token).status
        assert got == expect, token


def test_forbidden_says_which_role_is_needed(server, unique):
    path = make_stack(server, unique("p"), unique("s"))
    assert_error(server.request("DELETE", path, MEMBER_TOKEN), 403, "admin", "member")
    assert server.request("GET", path, ADMIN_TOKEN).status == 200, "a refused delete deletes nothing"


def test_other_orgs_look_exactly_like_missing_ones(server, unique):
    project, name = unique("p"), unique("s")
    path = make_stack(server, project, name)
    missing = f"/api/stacks/{ORG}/{project}/does-not-exist"
    for method in ["GET", "DELETE"]:
        theirs = server.request(method, path, EVE_TOKEN)
        assert_error(theirs, 404, "not found")
        assert server.request(method, missing, ADMIN_TOKEN).status == 404
    assert_error(server.request("POST", path + "/rename", EVE_TOKEN, {"newName": "x"}), 404)
    assert_error(server.request("PATCH", path + "/tags", EVE_TOKEN, {"a": "b"}), 404)
    assert_error(server.request("POST", f"/api/stacks/{ORG}/{project}", EVE_TOKEN, {"stackName": "y"}), 404)
    assert server.request("HEAD", f"/api/stacks/{ORG}/{project}", EVE_TOKEN).status == 404
    listed = server.request("GET", f"/api/user/stacks?organization={ORG}", EVE_TOKEN).json()
    assert listed["stacks"] == []
    everything = server.request("GET", "/api/user/stacks", EVE_TOKEN).json()
    assert all(s["orgName"] == "eve-org" for s in everything["stacks"])
    # ...and the stack is untouched.
    assert server.request("GET", path, ADMIN_TOKEN).json()["tags"] == {}


def test_malformed_json_and_bad_names_are_400(server, unique):
    project = unique("p")
    assert_error(
        server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, raw=b"{not json"),
        400, "invalid request body")
    assert_error(server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, raw=b""), 400, "JSON body is required")
    assert_error(server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"name": "x"}),
                 400, "missing field `stackName`")
    assert_error(server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": "bad name"}),
                 400, "stack names may only contain")
    assert_error(server.request("POST", f"/api/stacks/{ORG}/bad%20proj", ADMIN_TOKEN, {"stackName": "ok"}),
                 400, "project names may only contain")
    assert_error(server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": "x" * 101}),
                 400, "100 characters")
    path = make_stack(server, project, unique("s"))
    assert_error(server.request("PATCH", path + "/tags", ADMIN_TOKEN, {"bad tag": "v"}), 400, "tag names may only")
    assert_error(server.request("PATCH", path + "/tags", ADMIN_TOKEN, ["not", "a", "map"]), 400, "invalid request body")
    assert_error(server.request("POST", path + "/rename", ADMIN_TOKEN, {"newName": "no/slash"}), 400, "stack names")
    assert_error(server.request("GET", "/api/user/stacks?continuationToken=garbage", ADMIN_TOKEN), 400,
                 "continuationToken")


def test_oversized_body_is_413(server, unique):
    r = server.request("POST", f"/api/stacks/{ORG}/{unique('p')}", ADMIN_TOKEN,
                       raw=b'{"stackName":"a","x":"' + b"y" * (2 << 20) + b'"}')
    assert_error(r, 413, "larger than")


def test_unknown_routes_and_methods_use_the_error_shape(server):
    assert_error(server.request("GET", "/api/nope", ADMIN_TOKEN), 404, "unknown route")
    assert_error(server.request("PUT", f"/api/stacks/{ORG}/p/s", ADMIN_TOKEN, {}), 405, "PUT")
