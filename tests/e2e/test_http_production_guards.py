"""What keeps a development setup out of production: dev mode off loopback, /healthz, CORS, wrangler.toml."""

import tomllib

import pytest

from conftest import ADMIN_TOKEN, DEFAULT_VARS, ROOT

KEY = "cd" * 32
APP = "https://app.example.com"


def test_healthz_says_dev_mode_and_the_development_key(server):
    assert server.request("GET", "/healthz").json() == {
        "status": "ok", "authMode": "dev", "devMode": True, "devKey": True, "rateLimits": True,
    }


def test_dev_mode_refuses_a_host_that_is_not_loopback(server):
    r = server.request("GET", "/api/user", ADMIN_TOKEN, headers={"Host": "procella.example.com"})
    assert r.status == 403, r.body
    assert "answers only on loopback" in r.json()["message"] and "PROCELLA_ALLOW_DEV_MODE" in r.json()["message"]
    assert server.request("GET", "/api/user", ADMIN_TOKEN, headers={"Host": "localhost"}).status == 200
    # The monitor still learns why.
    assert server.request("GET", "/healthz", headers={"Host": "procella.example.com"}).json()["devMode"] is True


@pytest.fixture(scope="module")
def shared_dev(server_factory):
    """Dev mode allowed off loopback on purpose, with its own key, and one listed browser origin."""
    return server_factory({
        **DEFAULT_VARS, "PROCELLA_ALLOW_DEV_MODE": "true", "PROCELLA_ENCRYPTION_KEY": KEY,
        "PROCELLA_CORS_ORIGINS": APP,
    })


def test_allowed_dev_mode_answers_off_loopback_but_never_on_the_development_key(server_factory, shared_dev):
    r = shared_dev.request("GET", "/api/user", ADMIN_TOKEN, headers={"Host": "procella.example.com"})
    assert r.status == 200, r.body
    assert shared_dev.request("GET", "/healthz").json()["devKey"] is False
    on_dev_key = server_factory({**DEFAULT_VARS, "PROCELLA_ALLOW_DEV_MODE": "true"})
    r = on_dev_key.request("GET", "/api/user", ADMIN_TOKEN, headers={"Host": "procella.example.com"})
    assert r.status == 403 and "PROCELLA_ENCRYPTION_KEY" in r.json()["message"], r.body


def preflight(server, origin):
    return server.request("OPTIONS", "/api/user", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    })


def test_cors_is_same_origin_only_by_default(server):
    r = preflight(server, APP)
    assert r.status == 403 and r.json()["code"] == 403
    assert r.headers.get("access-control-allow-origin") is None
    r = server.request("GET", "/api/user", ADMIN_TOKEN, headers={"Origin": APP})
    assert r.status == 200 and r.headers.get("access-control-allow-origin") is None


def test_cors_answers_listed_origins_by_name(shared_dev):
    r = preflight(shared_dev, APP)
    assert r.status == 204
    assert r.headers["access-control-allow-origin"] == APP and r.headers["vary"] == "Origin"
    assert "GET" in r.headers["access-control-allow-methods"]
    assert "Authorization" in r.headers["access-control-allow-headers"]
    r = shared_dev.request("GET", "/api/user", ADMIN_TOKEN, headers={"Origin": APP})
    assert r.headers["access-control-allow-origin"] == APP
    other = preflight(shared_dev, "https://evil.example.com")
    assert other.status == 403 and other.headers.get("access-control-allow-origin") is None
    r = shared_dev.request("GET", "/api/user", ADMIN_TOKEN, headers={"Origin": "https://evil.example.com"})
    assert r.headers.get("access-control-allow-origin") is None


def test_a_wildcard_origin_is_a_configuration_error(server_factory):
    s = server_factory({**DEFAULT_VARS, "PROCELLA_CORS_ORIGINS": "*"})
    r = s.request("GET", "/api/user", ADMIN_TOKEN)
    assert r.status == 500 and "never allowed" in r.json()["message"]


def test_wrangler_deploy_ships_no_development_defaults():
    config = tomllib.loads((ROOT / "wrangler.toml").read_text())
    shipped = dict(config.get("vars", {}))
    assert "PROCELLA_AUTH_MODE" not in shipped and not any(k.startswith("PROCELLA_DEV_") for k in shipped)
    # Vars set by infra/ (or in the dashboard) survive a plain `wrangler deploy`.
    assert config.get("keep_vars") is True
    # Local runs get dev mode from .dev.vars (scripts/dev.sh copies the example), which git and deploys skip.
    assert "PROCELLA_AUTH_MODE=dev" in (ROOT / ".dev.vars.example").read_text()
