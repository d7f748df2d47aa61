"""Descope mode under a hostile or failing world: keys made by browser login expire and are bounded, a refused
management key is Descope's answer (502), and a Descope outage does not log every session out at once."""

import json
import time
import urllib.request

import pytest

from conftest import DESCOPE_MANAGEMENT_KEY, DESCOPE_PROJECT, descope_vars


def user_session(fake, unique):
    """A signed-in user's own session JWT (no `procella*` claims), admin of a tenant of their own."""
    user, tenant = unique("U2u"), unique("T-t")
    fake.call("POST", "/_fake/users", {"userId": user, "loginId": f"{user}@example.com",
                                       "tenants": [{"tenantId": tenant, "tenantName": tenant, "roleNames": ["admin"]}]})
    return user, fake.call("POST", "/_fake/sessions", {"userId": user})["sessionJwt"]


def mgmt(fake, path, body):
    req = urllib.request.Request(fake.url + path, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {DESCOPE_PROJECT}:{DESCOPE_MANAGEMENT_KEY}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


@pytest.fixture(scope="module")
def strict(fake_descope, server_factory):
    return server_factory(descope_vars(fake_descope, PROCELLA_CLI_TOKEN_TTL_DAYS="30",
                                       PROCELLA_CLI_TOKEN_MAX_PER_USER="2", PROCELLA_DESCOPE_CACHE_TTL_SECONDS="2"))


def test_browser_login_keys_expire_and_a_user_holds_a_bounded_number(strict, fake_descope, unique):
    user, session = user_session(fake_descope, unique)
    made = []
    for _ in range(2):
        r = strict.request("POST", "/api/auth/cli-token", session, {"description": "laptop"}, scheme="Bearer")
        assert r.status == 200, r.body
        made.append(r.json()["accessToken"])
        # The key works as an API token.
        assert strict.request("GET", "/api/user", made[-1]).status == 200
    keys = mgmt(fake_descope, "/v1/mgmt/accesskey/search", {"boundUserId": user})["keys"]
    assert len(keys) == 2
    for k in keys:
        assert abs(k["expireTime"] - (time.time() + 30 * 86400)) < 600, k["expireTime"]
    r = strict.request("POST", "/api/auth/cli-token", session, {"description": "third"}, scheme="Bearer")
    assert r.status == 409 and "revoke one" in r.json()["message"], r.body
    # Revoking one makes room.
    mgmt(fake_descope, "/v1/mgmt/accesskey/deactivate", {"id": keys[0]["id"]})
    r = strict.request("POST", "/api/auth/cli-token", session, {"description": "third"}, scheme="Bearer")
    assert r.status == 200, r.body


def test_a_refused_management_key_is_a_502_that_says_what_to_fix(fake_descope, server_factory, unique):
    s = server_factory(descope_vars(fake_descope, PROCELLA_DESCOPE_MANAGEMENT_KEY="not-the-real-mgmt-key"))
    _, session = user_session(fake_descope, unique)
    r = s.request("POST", "/api/auth/cli-token", session, {"description": "x"}, scheme="Bearer")
    assert r.status == 502 and "PROCELLA_DESCOPE_MANAGEMENT_KEY" in r.json()["message"], r.body
    assert "not-the-real-mgmt-key" not in r.body.decode() and "not-the-real-mgmt-key" not in s.log_text()


def test_the_last_good_keys_serve_through_a_descope_outage(strict, fake_descope, unique):
    _, session = user_session(fake_descope, unique)
    assert strict.request("GET", "/api/user", session, scheme="Bearer").status == 200
    fake_descope.call("POST", "/_fake/fail", {"path": "/v2/keys/*", "status": 503})
    try:
        before = fake_descope.stats()["keys"]
        time.sleep(3)  # past this server's 2 s cache TTL: the keys are due for a refetch, which fails
        for _ in range(3):
            r = strict.request("GET", "/api/user", session, scheme="Bearer")
            assert r.status == 200, r.body
        # One attempt, then the failure is remembered for a while instead of asking again on every request.
        assert fake_descope.stats()["keys"] - before == 1
    finally:
        fake_descope.call("POST", "/_fake/clear-failures", {})


def test_the_descope_url_must_be_https_off_loopback(fake_descope, server_factory):
    s = server_factory(descope_vars(fake_descope, PROCELLA_DESCOPE_BASE_URL="http://descope.example.com"))
    r = s.request("GET", "/api/user", "anything")
    assert r.status == 500 and "must be https://" in r.json()["message"]
