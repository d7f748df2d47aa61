"""Rate limits at their defaults (100 requests a minute per credential, 20 unverified authentication attempts a
minute per client IP): hit, answered with 429 and Retry-After, recovered; a running update never sees one; junk
access keys cost Descope one exchange each, not one per request."""

import json
import time
import urllib.request

import pytest

from conftest import ORG, Pulumi, descope_vars

USERS = [{"token": f"tok-rl-{n}", "login": f"rl{n}", "org": ORG, "role": "admin"} for n in range(7)]
VARS = {
    "PROCELLA_AUTH_MODE": "dev",
    "PROCELLA_DEV_AUTH_TOKEN": "tok-rl-primary",
    "PROCELLA_DEV_USER_LOGIN": "rl",
    "PROCELLA_DEV_ORG_LOGIN": ORG,
    "PROCELLA_DEV_USERS": json.dumps(USERS),
}


@pytest.fixture(scope="module")
def limited(server_factory):
    return server_factory(VARS)


def ip(n):
    return {"CF-Connecting-IP": f"198.51.100.{n}"}


def fresh_window(margin=25):
    """Waits until the current minute has at least `margin` seconds left (the limits' windows follow the clock)."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.5)


def until_limited(server, token, headers, most):
    """Sends GET /api/user until a 429; returns (how many were answered 200, the 429)."""
    for n in range(most):
        r = server.request("GET", "/api/user", token, headers=headers)
        if r.status != 200:
            return n, r
    raise AssertionError(f"no 429 after {most} requests")


def test_a_token_past_its_limit_gets_429_with_retry_after_and_recovers(limited):
    fresh_window()
    answered, r = until_limited(limited, "tok-rl-0", ip(1), 150)
    assert answered == 100, answered
    assert r.status == 429 and r.json()["code"] == 429 and "100 a minute" in r.json()["message"], r.body
    wait = int(r.headers["Retry-After"])
    assert 1 <= wait <= 60
    # Another token is not affected.
    assert limited.request("GET", "/api/user", "tok-rl-1", headers=ip(1)).status == 200
    time.sleep(wait + 1)
    assert limited.request("GET", "/api/user", "tok-rl-0", headers=ip(1)).status == 200


def test_the_cli_waits_out_a_429_as_its_retry_after_says(limited, tmp_path):
    fresh_window(30)
    answered, r = until_limited(limited, "tok-rl-6", None, 150)
    assert answered == 100 and r.status == 429
    wait = int(r.headers["Retry-After"])
    p = Pulumi(limited, "tok-rl-6", tmp_path)
    mark, started = limited.log_mark(), time.time()
    out = p.run("whoami", timeout=300)
    assert "rl6" in out.stdout
    assert time.time() - started >= wait - 2, "the CLI retried after Retry-After, not at once"
    log = limited.log_since(mark)
    assert "GET /api/user -> 429" in log and "GET /api/user -> 200" in log


def test_failed_authentications_are_limited_per_ip_and_recover(limited):
    fresh_window()
    # A token this server has accepted before (from elsewhere).
    assert limited.request("GET", "/api/user", "tok-rl-2", headers=ip(9)).status == 200
    statuses = [limited.request("GET", "/api/user", f"guess-{n}", headers=ip(2)).status for n in range(20)]
    assert statuses == [401] * 20
    r = limited.request("GET", "/api/user", "guess-20", headers=ip(2))
    assert r.status == 429 and "this address" in r.json()["message"] and int(r.headers["Retry-After"]) >= 1
    # Past the limit a correct guess is not even checked...
    assert limited.request("GET", "/api/user", "tok-rl-3", headers=ip(2)).status == 429
    # ...while a token already accepted here still works from that address, and other addresses are untouched.
    assert limited.request("GET", "/api/user", "tok-rl-2", headers=ip(2)).status == 200
    assert limited.request("GET", "/api/user", "guess-x", headers=ip(3)).status == 401
    time.sleep(int(r.headers["Retry-After"]) + 1)
    assert limited.request("GET", "/api/user", "tok-rl-3", headers=ip(2)).status == 200


def test_the_execution_routes_of_a_running_update_are_exempt(limited, unique):
    fresh_window(40)
    token, project = "tok-rl-4", unique("p")
    base = f"/api/stacks/{ORG}/{project}/s"
    assert limited.request("POST", f"/api/stacks/{ORG}/{project}", token, {"stackName": "s"}, headers=ip(4)).status == 200
    r = limited.request("POST", f"{base}/update", token, {"name": "p", "runtime": "yaml", "main": "",
                                                           "description": "", "options": {}, "config": {},
                                                           "metadata": {}}, headers=ip(4))
    uid = r.json()["updateID"]
    lease = limited.request("POST", f"{base}/update/{uid}", token, {}, headers=ip(4)).json()["token"]
    for n in range(150):
        event = {"events": [{"sequence": n, "timestamp": n, "stdoutEvent": {"message": "x"}}]}
        r = limited.request("POST", f"{base}/update/{uid}/events/batch", lease, event, scheme="update-token",
                            headers=ip(4))
        assert r.status == 200, (n, r.body)
    r = limited.request("POST", f"{base}/update/{uid}/complete", lease, {"status": "succeeded"}, scheme="update-token",
                        headers=ip(4))
    assert r.status == 200, r.body
    # The token's own budget is untouched by those 151 calls: 3 used, 97 left.
    answered, r = until_limited(limited, token, ip(4), 150)
    assert answered == 97 and r.status == 429, answered


def test_guessed_lease_tokens_end_in_429_but_a_valid_lease_never_does(limited, unique):
    fresh_window(40)
    token, project = "tok-rl-1", unique("p")
    base = f"/api/stacks/{ORG}/{project}/s"
    assert limited.request("POST", f"/api/stacks/{ORG}/{project}", token, {"stackName": "s"}, headers=ip(7)).status == 200
    r = limited.request("POST", f"{base}/update", token, {"name": "p", "runtime": "yaml", "main": "", "description": "",
                                                           "options": {}, "config": {}, "metadata": {}}, headers=ip(7))
    uid = r.json()["updateID"]
    lease = limited.request("POST", f"{base}/update/{uid}", token, {}, headers=ip(7)).json()["token"]
    guesses = [limited.request("POST", f"{base}/update/{uid}/renew_lease", f"guess-{n}", {"duration": 60},
                               scheme="update-token", headers=ip(8)).status for n in range(21)]
    assert guesses[:20] == [401] * 20 and guesses[20] == 429, guesses
    # The running update's own calls from that address are never limited.
    r = limited.request("POST", f"{base}/update/{uid}/renew_lease", lease, {"duration": 60}, scheme="update-token",
                        headers=ip(8))
    assert r.status == 200, r.body


def test_an_update_of_1000_resources_sees_no_429(limited, unique, tmp_path):
    p = Pulumi(limited, "tok-rl-5", tmp_path, project=unique("big"))
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp_path / "provider")
    items = "".join(f"  r{i}:\n    type: procella-test:index:Item\n    properties:\n      value: v{i}\n" for i in range(1000))
    (p.dir / "Pulumi.yaml").write_text(
        f"name: {p.dir.parent.name}\nruntime: yaml\nconfig:\n  pw:\n    type: string\n    secret: true\n"
        f"resources:\n{items}outputs:\n  secretOut:\n    fn::secret: ${{pw}}\n")
    mark = limited.log_mark()
    p.run("stack", "init", f"{ORG}/{p.dir.parent.name}/dev")
    p.run("config", "set", "--secret", "pw", "hunter2")
    p.run("up", "--yes", "--skip-preview", "--parallel=32", timeout=900)
    log = limited.log_since(mark)
    assert log.count("journalentries -> 200") > 10, "journaled"
    assert "-> 429" not in log
    exported = json.loads(p.run("stack", "export").stdout)
    assert len(exported["deployment"]["resources"]) == 1002


@pytest.fixture(scope="module")
def descope_limited(fake_descope, server_factory):
    return server_factory({**descope_vars(fake_descope), "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE": "1000000"})


def test_junk_access_keys_cost_one_exchange_each_per_minute(descope_limited, fake_descope):
    junk = [f"K2junk{n:04d}secret" for n in range(30)]
    before = fake_descope.stats()["exchangeTotal"]
    for _ in range(3):
        for key in junk:
            r = descope_limited.request("GET", "/api/user", key)
            assert r.status == 401 and r.json()["message"] == "invalid access key" and key not in r.body.decode()
    assert fake_descope.stats()["exchangeTotal"] - before == len(junk)
