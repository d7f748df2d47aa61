"""Descope mode: access keys exchanged with (a fake of) Descope, session JWTs verified at the edge, tenant roles
mapped to organizations, the exchange cached, Descope's failures reported, and forged tokens refused."""

import base64
import json
import time
import urllib.request

import pytest

from conftest import DESCOPE_MANAGEMENT_KEY, DESCOPE_PROJECT, Pulumi

ISS = f"https://api.descope.com/{DESCOPE_PROJECT}"


def key_for(fake, unique, role, org="acme", tenant="T-acme", **extra):
    login = unique(role)
    return fake.access_key(name=f"{login} key", tenants=[{"tenantId": tenant, "roleNames": [role]}],
                           customClaims={"procellaLogin": login, "procellaOrgs": {tenant: org}}, **extra)


def test_the_cli_runs_the_lifecycle_with_access_keys_and_tenant_roles_gate_it(descope_server, fake_descope, unique,
                                                                              tmp_path):
    admin, _ = key_for(fake_descope, unique, "admin")
    member, _ = key_for(fake_descope, unique, "member")
    viewer, _ = key_for(fake_descope, unique, "viewer")
    project = unique("web")
    stack = f"acme/{project}/dev"

    def cli(token, name):
        p = Pulumi(descope_server, token, tmp_path / name, project=project)
        p.env.update({"PROCELLA_TEST_PROVIDER_STATE": str(tmp_path / "provider"), "PULUMI_CONFIG_PASSPHRASE": ""})
        (p.dir / "Pulumi.yaml").write_text(
            f"name: {project}\nruntime: yaml\nresources:\n  item:\n    type: procella-test:index:Item\n"
            "    properties:\n      value: one\noutputs:\n  secret:\n    fn::secret: s3cr3t\n")
        return p

    (tmp_path / "provider").mkdir()
    a, m, v = cli(admin, "admin"), cli(member, "member"), cli(viewer, "viewer")
    who = a.run("whoami", "-v").stdout
    assert "acme" in who, who
    a.run("stack", "init", stack)
    created = a.run("up", "--yes", "--skip-preview")
    assert "+ 2 created" in created.stdout, created.stdout
    assert json.loads(a.run("stack", "output", "--json", "--show-secrets").stdout)["secret"] == "s3cr3t"

    for p in (m, v):
        p.run("stack", "select", stack)
    refused = v.run("up", "--yes", "--skip-preview", check=False)
    assert refused.returncode != 0 and "requires the member role" in refused.stderr, refused.stderr
    assert "item" in v.run("stack", "export").stdout, "a viewer can read"
    m.run("config", "set", "x", "1")
    assert m.run("up", "--yes", "--skip-preview").returncode == 0, "a member can update"
    refused = m.run("stack", "rm", "--yes", "--force", check=False)
    assert refused.returncode != 0 and "requires the admin role" in refused.stderr, refused.stderr
    a.run("stack", "rm", "--yes", "--force")
    assert a.run("stack", "ls", "--json").stdout.strip() in ("[]", "")


def test_a_warm_key_costs_one_exchange(descope_server, fake_descope, unique):
    key, key_id = key_for(fake_descope, unique, "viewer")
    for _ in range(10):
        r = descope_server.request("GET", "/api/user", key)
        assert r.status == 200, r.body
    assert r.json()["organizations"][0]["githubLogin"] == "acme"
    assert fake_descope.stats()["exchange"].get(key_id) == 1


def test_a_caller_sees_only_its_own_tenants(descope_server, fake_descope, unique):
    key_a, _ = key_for(fake_descope, unique, "admin", org="alpha", tenant="T-alpha")
    key_b, _ = key_for(fake_descope, unique, "admin", org="beta", tenant="T-beta")
    project = unique("p")
    assert descope_server.request("POST", f"/api/stacks/alpha/{project}", key_a, {"stackName": "s"}).status == 200
    r = descope_server.request("GET", f"/api/stacks/alpha/{project}/s", key_b)
    assert r.status == 404, "tenant B's key cannot see org A"
    listed = descope_server.request("GET", "/api/user/stacks", key_b).json()["stacks"]
    assert all(s["orgName"] == "beta" for s in listed)


def test_highest_role_wins_and_unknown_roles_are_ignored(descope_server, fake_descope, unique):
    key, _ = fake_descope.access_key(tenants=[{"tenantId": "T-acme", "roleNames": ["viewer", "admin", "owner"]}],
                                     customClaims={"procellaOrgs": {"T-acme": "acme"}})
    orgs = descope_server.request("GET", "/api/user", key).json()["organizations"]
    assert [o["githubLogin"] for o in orgs] == ["acme"]
    assert descope_server.request("DELETE", "/api/stacks/acme/nope/nope", key).status == 404, "admin may delete"
    nobody, _ = fake_descope.access_key(tenants=[{"tenantId": "T-acme", "roleNames": ["Tenant Admin", "owner"]}])
    r = descope_server.request("GET", "/api/user", nobody)
    assert r.status == 403 and "no Procella role" in r.json()["message"]


@pytest.fixture
def fail(fake_descope):
    def inject(**spec):
        fake_descope.call("POST", "/_fake/fail", {"path": "/v1/auth/accesskey/exchange", **spec})
    yield inject
    fake_descope.call("POST", "/_fake/clear-failures", {})


@pytest.mark.parametrize("spec, status, fragment", [
    ({"status": 401}, 401, "invalid access key"),
    ({"status": 429, "retryAfter": 7}, 429, "too many requests"),
    ({"status": 503}, 503, "unavailable"),
    ({"status": 500}, 503, "unavailable"),
    ({"delaySeconds": 8}, 503, "unavailable"),
    ({"garbage": True}, 503, "unavailable"),
    ({"garbage": True, "status": 502}, 503, "unavailable"),
], ids=["401", "429", "503", "500", "slow", "garbage", "garbage-502"])
def test_descope_failures_are_reported_never_a_500_nor_a_success(descope_server, fake_descope, fail, unique,
                                                                 spec, status, fragment):
    key, _ = key_for(fake_descope, unique, "admin")
    fail(**spec)
    r = descope_server.request("GET", "/api/user", key)
    assert r.status == status and fragment in r.json()["message"], (r.status, r.body)
    if status == 429:
        assert r.headers.get("Retry-After") == "7"
    if status == 503:
        assert int(r.headers["Retry-After"]) >= 1
    assert key not in r.body.decode() and key not in descope_server.log_text()


@pytest.mark.parametrize("spec", [{"status": 503}, {"delaySeconds": 8}, {"garbage": True}], ids=["5xx", "slow", "garbage"])
def test_callers_with_a_cached_session_keep_working_while_descope_fails(descope_server, fake_descope, fail, unique, spec):
    key, _ = key_for(fake_descope, unique, "admin")
    assert descope_server.request("GET", "/api/user", key).status == 200
    fail(path="*", **spec)
    before = len(fake_descope.stats()["requests"])
    for _ in range(3):
        assert descope_server.request("GET", "/api/user", key).status == 200
    assert len(fake_descope.stats()["requests"]) == before, "answered from the cache, Descope not asked"
    fresh, _ = key_for(fake_descope, unique, "admin")
    r = descope_server.request("GET", "/api/user", fresh)
    assert r.status == 503 and int(r.headers["Retry-After"]) >= 1


def test_an_unknown_key_is_401(descope_server):
    r = descope_server.request("GET", "/api/user", "K2not-a-real-key")
    assert r.status == 401 and r.json()["message"] == "invalid access key"


def test_key_rotation_is_followed(descope_server, fake_descope, unique):
    key, _ = key_for(fake_descope, unique, "viewer")
    assert descope_server.request("GET", "/api/user", key).status == 200
    fake_descope.call("POST", "/_fake/rotate", {"dropOld": True})
    fresh, _ = key_for(fake_descope, unique, "viewer")
    r = descope_server.request("GET", "/api/user", fresh)
    assert r.status == 200, r.body


def test_a_revoked_key_stops_working_when_its_cached_session_expires(descope_server, fake_descope, unique):
    # A 35 s JWT is cached for 5 s (30 s before its expiry).
    key, key_id = key_for(fake_descope, unique, "viewer", jwtTtl=35)
    assert descope_server.request("GET", "/api/user", key).status == 200
    mgmt = {"Authorization": f"Bearer {DESCOPE_PROJECT}:{DESCOPE_MANAGEMENT_KEY}"}
    req = urllib.request.Request(fake_descope.url + "/v1/mgmt/accesskey/deactivate",
                                 data=json.dumps({"id": key_id}).encode(), method="POST",
                                 headers={**mgmt, "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    assert descope_server.request("GET", "/api/user", key).status == 200, "still cached"
    time.sleep(6)
    assert descope_server.request("GET", "/api/user", key).status == 401


# ---- forged and broken session tokens (Bearer) ----

def b64url(obj):
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def claims(**over):
    now = int(time.time())
    c = {"sub": "U-attacker", "iss": ISS, "iat": now - 1, "exp": now + 600, "drn": "DS", "dct": "T-acme",
         "tenants": {"T-acme": {"roles": ["admin"]}}}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def mint(fake, sign="rs256", header=None, **over):
    body = {"claims": claims(**over), "sign": sign}
    if header:
        body["header"] = header
    return fake.call("POST", "/_fake/jwt", body)["jwt"]


@pytest.fixture
def acme_bound(descope_server, fake_descope):
    """Tenant T-acme is organization `acme` here: bound when one of its keys (made by this backend, so carrying
    `procellaOrgs`) first signed in. A user's own session then finds its organization by tenant."""
    key, _ = fake_descope.access_key(tenants=[{"tenantId": "T-acme", "roleNames": ["admin"]}],
                                     customClaims={"procellaOrgs": {"T-acme": "acme"}})
    assert descope_server.request("GET", "/api/user", key).status == 200


def test_a_valid_session_token_is_accepted(descope_server, fake_descope, acme_bound):
    r = descope_server.request("GET", "/api/user", mint(fake_descope), scheme="Bearer")
    assert r.status == 200 and r.json()["organizations"][0]["githubLogin"] == "acme", r.body


# Each attack's claims are made when its test runs (times relative to then, not to when the suite started).
ATTACKS = {
    "alg none": (lambda: dict(sign="none"), "unsupported algorithm"),
    "HS256 signed with the public key": (lambda: dict(sign="hs256-with-public-key"), "unsupported algorithm"),
    "unknown kid": (lambda: dict(sign="rs256-other-key", header={"kid": "not-a-known-kid"}), "public key not found"),
    "another key under the real kid": (lambda: dict(sign="rs256-other-key"), "invalid signature"),
    "expired": (lambda: dict(exp=int(time.time()) - 60, iat=int(time.time()) - 700), "token has expired"),
    "not yet valid": (lambda: dict(iat=int(time.time()) + 300, exp=int(time.time()) + 900), "token is not yet valid"),
    "wrong issuer": (lambda: dict(iss="https://api.descope.com/P2someoneElse000000000000"), "invalid issuer"),
    "wrong audience": (lambda: dict(aud="P2someoneElse000000000000"), "invalid token audience"),
    "a refresh token": (lambda: dict(drn="DSR"), "not a session token"),
    "no iat": (lambda: dict(iat=None), "missing required claim `iat`"),
    "no sub": (lambda: dict(sub=None), "missing required claim `sub`"),
    # Older than PROCELLA_JWT_MAX_AGE_SECONDS (a day by default), however far off its exp is.
    "older than the maximum age": (lambda: dict(iat=int(time.time()) - 90_000, exp=int(time.time()) + 600),
                                   "older than the maximum session age"),
    "our own claims in a session": (lambda: dict(procellaOrgs={"T-acme": "acme"}), "not a browser session"),
    "an access key as subject": (lambda: dict(sub="K2someKey", amr=None), "not a browser session"),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_forged_session_tokens_are_refused(descope_server, fake_descope, name):
    make, reason = ATTACKS[name]
    token = mint(fake_descope, **make())
    r = descope_server.request("GET", "/api/user", token, scheme="Bearer")
    assert r.status == 401 and reason in r.json()["message"], (r.status, r.body)
    assert token not in r.body.decode()


def test_a_tampered_payload_is_refused(descope_server, fake_descope):
    header, payload, sig = mint(fake_descope, tenants={"T-acme": {"roles": ["viewer"]}}).split(".")
    forged = claims(tenants={"T-acme": {"roles": ["admin"]}})
    r = descope_server.request("GET", "/api/user", f"{header}.{b64url(forged)}.{sig}", scheme="Bearer")
    assert r.status == 401 and "invalid signature" in r.json()["message"]


def test_a_token_for_tenant_a_does_not_open_org_b(descope_server, fake_descope, unique):
    owner, _ = key_for(fake_descope, unique, "admin", org="bravo", tenant="T-bravo")
    project = unique("p")
    assert descope_server.request("POST", f"/api/stacks/bravo/{project}", owner, {"stackName": "s"}).status == 200
    token = mint(fake_descope)  # admin of T-acme only
    assert descope_server.request("GET", f"/api/stacks/bravo/{project}/s", token, scheme="Bearer").status == 404
    assert descope_server.request("DELETE", f"/api/stacks/bravo/{project}/s", token, scheme="Bearer").status == 404


def test_a_session_jwt_is_not_an_access_key(descope_server, fake_descope):
    before = fake_descope.stats()["exchangeTotal"]
    r = descope_server.request("GET", "/api/user", mint(fake_descope), scheme="token")
    assert r.status == 401 and "not an access key" in r.json()["message"]
    assert fake_descope.stats()["exchangeTotal"] == before, "refused without asking Descope"


@pytest.mark.parametrize("header", ["Bearer", "Bearer x.y", "Bearer a.b.c", "Bearer eyJ" + "e" * 10000 + ".x.y",
                                   "Basic dXNlcjpwYXNz", "token", "Bearer eyJhbGciOiJSUzI1NiJ9..."],
                         ids=["empty", "two-parts", "garbage", "huge", "basic", "no-credential", "empty-parts"])
def test_malformed_authorization_is_401(descope_server, header):
    r = descope_server.request("GET", "/api/user", headers={"Authorization": header})
    assert r.status == 401, (r.status, r.body[:200])


def test_descope_mode_never_accepts_dev_tokens(descope_server):
    assert descope_server.request("GET", "/api/user", "tok-admin").status == 401


def test_a_tenant_cannot_take_another_tenants_org(descope_server, fake_descope, unique):
    owner, _ = key_for(fake_descope, unique, "admin", org="ownedorg", tenant="T-owner")
    project = unique("p")
    assert descope_server.request("POST", f"/api/stacks/ownedorg/{project}", owner, {"stackName": "s"}).status == 200
    # Another tenant's key claims the same slug (a custom claim, or a tenant renamed to it).
    squatter, _ = key_for(fake_descope, unique, "admin", org="ownedorg", tenant="T-squatter")
    r = descope_server.request("GET", f"/api/stacks/ownedorg/{project}/s", squatter)
    assert r.status == 404, (r.status, r.body)
    # It is not locked out either: it goes by its tenant ID.
    orgs = [o["githubLogin"] for o in descope_server.request("GET", "/api/user", squatter).json()["organizations"]]
    assert orgs == ["T-squatter"]
    # A tenant keeps the slug it was first seen with, whatever it claims later.
    renamed, _ = key_for(fake_descope, unique, "admin", org="newname", tenant="T-owner")
    orgs = [o["githubLogin"] for o in descope_server.request("GET", "/api/user", renamed).json()["organizations"]]
    assert orgs == ["ownedorg"]


def test_a_tenant_squatted_first_by_name_still_gets_in(descope_server, fake_descope, unique):
    # T-late's keys say `late-co`, but another tenant signed in under that slug first.
    slug, late = unique("late-co"), unique("T-late")
    early, _ = key_for(fake_descope, unique, "admin", org=slug, tenant=unique("T-early"))
    assert descope_server.request("GET", "/api/user", early).status == 200
    key, _ = key_for(fake_descope, unique, "admin", org=slug, tenant=late)
    r = descope_server.request("GET", "/api/user", key)
    assert r.status == 200 and [o["githubLogin"] for o in r.json()["organizations"]] == [late], r.body
    assert descope_server.request("POST", f"/api/stacks/{late}/p", key, {"stackName": "s"}).status == 200


def test_an_organization_from_before_slug_bindings_is_reserved_for_its_own_keys(descope_server, fake_descope, unique):
    # What migration 0004 leaves for an org that had stacks before tenants were bound: a reserved row.
    legacy, project = unique("legacy"), unique("p")
    now = int(time.time())
    descope_server.sql(
        f"INSERT INTO stacks (org, project, name, created_at, updated_at) VALUES ('{legacy}', '{project}', 's', {now}, {now});"
        f"INSERT INTO org_tenants (slug, tenant_id, created_at) VALUES ('{legacy}', 'reserved:{legacy}', {now})")
    path = f"/api/stacks/{legacy}/{project}/s"
    # A tenant that merely has the name (here a key without our claims, whose session names its tenant) does not
    # get it, nor a fallback that would bind it elsewhere for good: it is told why.
    named, _ = fake_descope.access_key(roleNames=["admin"], dct=unique("T-named"), customClaims={"tenantName": legacy})
    r = descope_server.request("GET", path, named)
    assert r.status == 403 and "reserved" in r.json()["message"], r.body
    # A key this backend made for that org (procellaOrgs) takes it over, and keeps it.
    tenant = unique("T-legacy")
    owner, _ = key_for(fake_descope, unique, "admin", org=legacy, tenant=tenant)
    assert descope_server.request("GET", path, owner).status == 200
    other, _ = key_for(fake_descope, unique, "admin", org=legacy, tenant=unique("T-other"))
    assert descope_server.request("GET", path, other).status == 404


def test_an_access_keys_bare_session_is_not_a_browser_session(descope_server, fake_descope):
    # A JWT template without `amr`, a key bound to no user (no `dsub`), and no custom claims: only the subject
    # tells it is an access key's session.
    key, key_id = fake_descope.access_key(tenants=[{"tenantId": "T-acme", "roleNames": ["admin"]}], amr=None)
    req = urllib.request.Request(
        fake_descope.url + "/v1/auth/accesskey/exchange", method="POST", data=b'{"loginOptions":{}}',
        headers={"Authorization": f"Bearer {DESCOPE_PROJECT}:{key}", "Content-Type": "application/json"})
    jwt = json.loads(urllib.request.urlopen(req, timeout=10).read())["sessionJwt"]
    payload = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    assert "amr" not in payload and "dsub" not in payload and payload["sub"] == key_id
    r = descope_server.request("GET", "/api/user", jwt, scheme="Bearer")
    assert r.status == 401 and "not a browser session" in r.json()["message"], r.body


def test_an_access_keys_session_is_not_a_browser_session(descope_server, fake_descope, unique):
    key, _ = fake_descope.access_key(tenants=[{"tenantId": "T-mal", "roleNames": ["admin"]}])
    req = urllib.request.Request(
        fake_descope.url + "/v1/auth/accesskey/exchange", method="POST",
        data=json.dumps({"loginOptions": {"customClaims": {"procellaOrgs": {"T-mal": "acme"}}}}).encode(),
        headers={"Authorization": f"Bearer {DESCOPE_PROJECT}:{key}", "Content-Type": "application/json"})
    jwt = json.loads(urllib.request.urlopen(req, timeout=10).read())["sessionJwt"]
    r = descope_server.request("GET", "/api/user", jwt, scheme="Bearer")
    assert r.status == 401 and "not a browser session" in r.json()["message"]
    # Nor does an access key mint access keys.
    admin, _ = key_for(fake_descope, unique, "admin")
    r = descope_server.request("POST", "/api/auth/cli-token", admin, {"description": "x"})
    assert r.status == 403 and "browser session" in r.json()["message"]
