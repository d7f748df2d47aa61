"""One JSON line per request in the worker's log (what Workers Logs and Logpush consume): route template, status,
time, org, actor and request ID, and never a token."""

import json

from conftest import ADMIN_TOKEN, ORG


def logged(server, request_id):
    for line in server.log_text().splitlines():
        if line.startswith('{"') and f'"requestId":"{request_id}"' in line:
            return json.loads(line)
    raise AssertionError(f"no log line for request {request_id}")


def test_each_request_is_one_json_line_naming_its_route_caller_and_outcome(server, unique):
    project = unique("log")
    r = server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": "dev"})
    assert r.status == 200
    line = logged(server, r.headers["x-request-id"])
    assert line["route"] == "/api/stacks/{org}/{project}" and line["method"] == "POST"
    assert (line["status"], line["org"], line["actor"]) == (200, ORG, "ada")
    assert isinstance(line["ms"], int) and line["bytesIn"] > 0

    junk = "tok-do-not-log-me-91c2"
    r = server.request("GET", f"/api/stacks/{ORG}/{project}/dev", junk)
    line = logged(server, r.headers["x-request-id"])
    assert (line["route"], line["status"], line["actor"]) == ("/api/stacks/{org}/{project}/{stack}", 401, None)
    assert junk not in server.log_text()
    assert ADMIN_TOKEN not in server.log_text()
