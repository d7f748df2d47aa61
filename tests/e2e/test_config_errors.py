"""A misconfigured server says what is wrong, on every request, without falling back or leaking tokens."""

import pytest

from conftest import DEFAULT_VARS


def bad(**changes):
    v = dict(DEFAULT_VARS)
    for k, val in changes.items():
        if val is None:
            v.pop(k, None)
        else:
            v[k] = val
    return v


@pytest.mark.parametrize(
    "vars_, fragment",
    [
        (bad(PROCELLA_DEV_USERS='[{"token": "sekrit-1", "login": "x",'), "PROCELLA_DEV_USERS is not valid JSON"),
        (bad(PROCELLA_DEV_USERS='[{"token":"sekrit-1","login":"x","org":"o","role":"owner"}]'),
         'unknown role \\"owner\\"'),
        (bad(PROCELLA_AUTH_MODE="descope"), "PROCELLA_DESCOPE_PROJECT_ID must be set"),
        (bad(PROCELLA_AUTH_MODE="descope", PROCELLA_DESCOPE_PROJECT_ID="P2abc",
             PROCELLA_DESCOPE_MANAGEMENT_KEY="sekrit-mgmt"), "PROCELLA_ENCRYPTION_KEY must be set"),
    ],
    ids=["malformed-users", "unknown-role", "descope-without-project", "descope-without-encryption-key"],
)
def test_misconfiguration_is_a_clear_error(server_factory, vars_, fragment):
    s = server_factory(vars_)
    for path, token in [("/healthz", None), ("/api/user", DEFAULT_VARS["PROCELLA_DEV_AUTH_TOKEN"])]:
        r = s.request("GET", path, token)
        assert r.status == 500
        text = r.body.decode()
        assert fragment in text, text
        assert "sekrit" not in text
    assert "sekrit" not in s.log_text()
