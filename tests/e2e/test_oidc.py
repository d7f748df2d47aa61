"""OIDC token exchange: a CI pipeline trades its platform's ID token (here from the fake issuer, with GitHub
Actions-like claims) for a short-lived token of this backend, with `pulumi login --oidc-token` of the real CLI.
Trust is per org and none by default; every refusal names the check that failed and never echoes the token."""

import json
import time
import urllib.parse

import pytest

from conftest import (ADMIN_TOKEN, CLI_VERSIONS, DEFAULT_VARS, EVE_ORG, EVE_TOKEN, MEMBER_TOKEN, NEWEST_CLI, ORG,
                      Pulumi, github_claims)
from twins import wait_until

ITEM = "procella-test:index:Item"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
ORG_TOKEN = "urn:pulumi:token-type:access_token:organization"


def issuers_path(org=ORG):
    return f"/api/orgs/{org}/oidc/issuers"


def main_branch(role="member", **extra):
    """A policy for pushes to main of acme/app."""
    return {"name": f"main-{role}", "role": role,
            "claims": {"repository": "acme/app", "ref": "refs/heads/main", "sub": "repo:acme/*"}, **extra}


@pytest.fixture
def trust(server, fake_oidc, unique):
    """Registers a fresh fake issuer for an org with the given policies; removes it after the test (an org may
    register 20)."""
    made = []

    def make(*policies, org=ORG, token=ADMIN_TOKEN, srv=None, **spec):
        srv = srv or server
        name = unique("gh")
        body = {"name": name, "url": fake_oidc.issuer(name), "policies": list(policies), **spec}
        r = srv.request("POST", issuers_path(org), token, body)
        assert r.status == 201, r.body
        made.append((srv, org, token, r.json()["id"]))
        return name, r.json()

    yield make
    for srv, org, token, id_ in made:
        srv.request("DELETE", f"{issuers_path(org)}/{id_}", token)


def exchange(server, id_token, org=ORG, **fields):
    form = {"grant_type": EXCHANGE, "audience": f"urn:pulumi:org:{org}", "subject_token": id_token,
            "subject_token_type": ID_TOKEN, "requested_token_type": ORG_TOKEN, "scope": "", "expiration": "7200",
            **fields}
    return server.request("POST", "/api/oauth/token", raw=urllib.parse.urlencode(form).encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})


def ci_cli(server, tmp_path, project, binary=NEWEST_CLI):
    """The real CLI as a CI job runs it: no PULUMI_ACCESS_TOKEN, only the ID token in a file."""
    p = Pulumi(server, "unused", tmp_path / f"ci-{project}", project, binary)
    del p.env["PULUMI_ACCESS_TOKEN"]
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(p.dir.parent / "provider")
    (p.dir.parent / "provider").mkdir(exist_ok=True)
    (p.dir / "Pulumi.yaml").write_text(
        f"name: {project}\nruntime: yaml\nresources:\n  a:\n    type: {ITEM}\n    properties:\n      value: x\n")
    return p


def login(p, fake_oidc, issuer, org=ORG, *flags, check=True, **claims):
    token_file = p.dir.parent / "id-token.jwt"
    token_file.write_text(fake_oidc.mint(issuer, github_claims(fake_oidc.issuer(issuer), org, **claims)))
    return p.run("login", p.server.url, "--oidc-token", f"file://{token_file}", "--oidc-org", org, *flags, check=check)


def audit(server, since, **query):
    q = urllib.parse.urlencode({"startTime": since, "pageSize": 500, **query})
    r = server.request("GET", f"/api/orgs/{ORG}/auditlogs?{q}", ADMIN_TOKEN)
    assert r.status == 200, r.body
    return r.json()["auditLogEvents"]


@pytest.mark.parametrize("cli", CLI_VERSIONS)
def test_a_pipeline_logs_in_with_its_id_token_and_deploys(server, fake_oidc, trust, tmp_path, unique, cli):
    since = int(time.time()) - 1
    issuer, _ = trust(main_branch("member"))
    project = unique("oidc")
    p = ci_cli(server, tmp_path, project, CLI_VERSIONS[cli])
    login(p, fake_oidc, issuer)
    who = p.run("whoami", "-v").stdout
    name = f"oidc:{issuer}:repo:acme/app:ref:refs/heads/main"
    assert "organization: dev-org" in who and name in who, who
    assert f"User: {ORG}" in who, who
    p.run("stack", "init", f"{ORG}/{project}/ci")
    p.run("up", "--yes", "--skip-preview")
    assert '"value": "x"' in p.run("stack", "export").stdout
    p.run("destroy", "--yes", "--skip-preview")
    # The policy grants member: removing the stack is an admin's.
    rm = p.run("stack", "rm", "--yes", check=False)
    assert rm.returncode != 0 and "requires the admin role" in rm.stderr, rm.stderr
    assert server.request("DELETE", f"/api/stacks/{ORG}/{project}/ci", ADMIN_TOKEN).status == 200

    def recorded():
        got = {(e["event"], e["user"]["githubLogin"]) for e in audit(server, since)}
        return {("token.exchange", name), ("stack.create", name), ("update.create", name),
                ("access.denied", name)} <= got
    wait_until(recorded, 20, "the exchange and the token's use in the audit log")


def test_the_policys_role_is_enforced_a_viewer_cannot_up(server, fake_oidc, trust, pulumi, tmp_path, unique):
    project = unique("oidcv")
    owner = pulumi(project=project)
    owner.run("stack", "init", f"{ORG}/{project}/shared")
    issuer, _ = trust(main_branch("viewer"))
    p = ci_cli(server, tmp_path, project)
    login(p, fake_oidc, issuer)
    assert f"{ORG}/{project}/shared" in p.run("stack", "ls", "--all").stdout or "shared" in p.run("stack", "ls").stdout
    up = p.run("up", "--yes", "--skip-preview", "-s", f"{ORG}/{project}/shared", check=False)
    assert up.returncode != 0
    assert "requires the member role" in up.stdout + up.stderr, up.stdout + up.stderr
    assert server.request("GET", f"/api/stacks/{ORG}/{project}/shared/updates", ADMIN_TOKEN).json().get("updates") in ([], None)


def refused(reply, status, needle):
    body = reply.json()
    assert reply.status == status, reply.body
    assert needle in body["message"], body["message"]
    assert body["error"] in ("invalid_grant", "invalid_request", "invalid_target", "unsupported_grant_type",
                             "temporarily_unavailable"), body
    assert body["error_description"] == body["message"] and body["code"] == status
    return body


def test_every_refusal_names_the_check_that_failed(server, fake_oidc, trust, unique):
    since = int(time.time()) - 1
    issuer, _ = trust(main_branch("member"))
    url = fake_oidc.issuer(issuer)
    good = github_claims(url, ORG)
    now = int(time.time())
    cases = {
        "expired": (fake_oidc.mint(issuer, {**good, "iat": now - 900, "exp": now - 300}), 401, "the token has expired"),
        "wrong audience": (fake_oidc.mint(issuer, {**good, "aud": "sts.amazonaws.com"}), 401, "audience"),
        # A token from an issuer nobody registered.
        "unknown issuer": (fake_oidc.mint(f"stranger-{issuer}", github_claims(fake_oidc.issuer(f"stranger-{issuer}"), ORG)),
                           401, "issuer unknown: "),
        "unknown kid": (fake_oidc.mint(issuer, good, kid="not-a-key-of-this-issuer"), 401, "unknown key"),
        "alg none": (fake_oidc.mint(issuer, good, alg="none"), 401, "unsupported algorithm 'none'"),
        "alg HS256": (fake_oidc.mint(issuer, good, alg="HS256"), 401, "unsupported algorithm 'HS256'"),
        "ref mismatch": (fake_oidc.mint(issuer, {**good, "ref": "refs/heads/feature"}), 403,
                         "`ref` is 'refs/heads/feature', which its condition does not accept"),
    }
    for what, (token, status, needle) in cases.items():
        r = exchange(server, token)
        body = refused(r, status, needle)
        assert token not in r.body.decode() and token.split(".")[1] not in r.body.decode(), what
        assert body["message"].startswith(("OIDC token refused", "no policy matched")), (what, body["message"])
        if what != "unknown issuer":  # that one names the `iss` the token itself claims
            assert "refs/heads/main" not in body["message"] and issuer not in body["message"], "what the org trusts stays its own"
        assert r.headers["Cache-Control"] is None or "no-store" in r.headers["Cache-Control"]
    assert exchange(server, fake_oidc.mint(issuer, good)).status == 200, "the same issuer's good token passes"

    def failures():
        return [e for e in audit(server, since, action="auth.failed") if (e["target"] or "").startswith(f"{ORG}: ")]
    wait_until(lambda: len(failures()) >= len(cases), 20, "every refusal to be audited")
    logged = json.dumps(failures())
    assert not any(token in logged for token, _, _ in cases.values()), "the audit log never holds a token"


def test_a_token_for_one_org_is_refused_by_another(server, fake_oidc, trust):
    # The CLI itself refuses an --oidc-org that contradicts the token's audience, so this is the HTTP exchange.
    issuer, _ = trust(main_branch("admin"))
    for_dev = fake_oidc.mint(issuer, github_claims(fake_oidc.issuer(issuer), ORG))
    # eve-org has not registered the issuer: unknown there.
    refused(exchange(server, for_dev, org=EVE_ORG), 401, f"is not a registered issuer of organization '{EVE_ORG}'")
    # eve-org trusts the same issuer too: the token's audience is dev-org's, not one eve-org accepts.
    trust(main_branch("admin"), org=EVE_ORG, token=EVE_TOKEN, name=f"{issuer}-eve", url=fake_oidc.issuer(issuer))
    refused(exchange(server, for_dev, org=EVE_ORG), 401, "audience")
    granted = exchange(server, fake_oidc.mint(issuer, github_claims(fake_oidc.issuer(issuer), EVE_ORG)), org=EVE_ORG)
    assert granted.status == 200, granted.body
    eve_token = granted.json()["access_token"]
    # What it grants stays in eve-org: dev-org's stacks are as invisible as to any outsider.
    assert server.request("GET", f"/api/stacks/{ORG}/any/stack", eve_token).status == 404
    assert server.request("GET", "/api/user", eve_token).json()["organizations"] == [
        {"githubLogin": EVE_ORG, "name": EVE_ORG, "avatarUrl": ""}]


def test_an_expiration_above_the_cap_is_capped_not_refused(server, fake_oidc, trust, tmp_path, unique):
    issuer, _ = trust(main_branch("member", maxExpirationSeconds=3))
    claims = github_claims(fake_oidc.issuer(issuer), ORG)
    r = exchange(server, fake_oidc.mint(issuer, claims), expiration="36000")
    assert r.status == 200, r.body
    granted = r.json()
    assert granted["expires_in"] == 3 and granted["token_type"] == "token"
    assert granted["issued_token_type"] == ORG_TOKEN
    assert server.request("GET", "/api/user", granted["access_token"]).status == 200
    time.sleep(4)
    late = server.request("GET", "/api/user", granted["access_token"])
    assert late.status == 401 and "expired" in late.json()["message"], late.body
    # Without a policy cap, the server's (PROCELLA_OIDC_MAX_TOKEN_SECONDS, 2 h by default) applies.
    issuer2, _ = trust(main_branch("member"))
    r = exchange(server, fake_oidc.mint(issuer2, github_claims(fake_oidc.issuer(issuer2), ORG)), expiration="36000")
    assert r.json()["expires_in"] == 7200, r.body
    # The real CLI asks for --oidc-expiration and gets what the cap allows.
    p = ci_cli(server, tmp_path, unique("oidcx"))
    login(p, fake_oidc, issuer, ORG, "--oidc-expiration", "10h")
    time.sleep(4)
    # The CLI knows the token's expiry from `expires_in` and stops using it (it has no refresh token to renew it).
    who = p.run("whoami", check=False)
    assert who.returncode != 0, who.stdout


def test_rotated_keys_are_fetched_again_and_es256_is_accepted(server, fake_oidc, trust):
    issuer, _ = trust(main_branch("member"))
    url = fake_oidc.issuer(issuer)
    assert exchange(server, fake_oidc.mint(issuer, github_claims(url, ORG))).status == 200
    assert exchange(server, fake_oidc.mint(issuer, github_claims(url, ORG), alg="ES256")).status == 200
    assert fake_oidc.stats(issuer)["jwks"] == 1, "the key set is cached"
    fake_oidc.rotate(issuer)
    time.sleep(5.5)  # an unknown kid refetches at most every 5 s per issuer
    r = exchange(server, fake_oidc.mint(issuer, github_claims(url, ORG)))
    assert r.status == 200, r.body
    assert fake_oidc.stats(issuer)["jwks"] == 2
    # An issuer that cannot be reached is a 502 naming which document failed, not a refusal of the token.
    issuer2, _ = trust(main_branch("member"))
    fake_oidc.fail(issuer2, status=500, times=1, target="discovery")
    r = exchange(server, fake_oidc.mint(issuer2, github_claims(fake_oidc.issuer(issuer2), ORG)))
    refused(r, 502, "discovery document answered HTTP 500")


def test_refresh_and_team_grants_are_refused_in_the_oauth_shape(server, fake_oidc, trust, tmp_path, unique):
    r = server.request("POST", "/api/oauth/token", raw=b"grant_type=refresh_token&refresh_token=abc",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    body = refused(r, 400, "refresh_token grants are not supported")
    assert body["error"] == "unsupported_grant_type"
    issuer, _ = trust(main_branch("admin"))
    p = ci_cli(server, tmp_path, unique("oidct"))
    team = login(p, fake_oidc, issuer, ORG, "--oidc-team", "ops", check=False)
    assert team.returncode != 0 and "team tokens are not supported" in team.stdout + team.stderr, team.stderr


def test_a_personal_token_follows_the_same_policy_check(server, fake_oidc, trust, tmp_path, unique):
    issuer, _ = trust({"role": "member", "tokenType": "personal", "user": "ada", "claims": {"repository": "acme/app"}})
    p = ci_cli(server, tmp_path, unique("oidcp"))
    login(p, fake_oidc, issuer, ORG, "--oidc-user", "ada")
    who = p.run("whoami", "-v").stdout
    assert "User: ada" in who and f"Token name: oidc:{issuer}:repo:acme/app" in who, who
    assert "Token type: organization" not in who, who
    other = login(p, fake_oidc, issuer, ORG, "--oidc-user", "bob", check=False)
    assert other.returncode != 0 and "no policy granting personal tokens for user 'bob'" in other.stdout + other.stderr


def test_the_admin_api_is_for_org_admins_and_explains_bad_input(server, fake_oidc, trust, unique):
    good = {"name": unique("gh"), "url": "https://token.actions.githubusercontent.com", "policies": [main_branch()]}
    assert server.request("POST", issuers_path(), MEMBER_TOKEN, good).status == 403
    assert "admin role" in server.request("GET", issuers_path(), MEMBER_TOKEN).json()["message"]
    assert server.request("GET", issuers_path(), EVE_TOKEN).status == 404, "another org's settings do not exist"
    assert server.request("GET", issuers_path()).status == 401
    for change, needle in [
        ({"url": "http://issuer.example.com"}, "must use https"),
        ({"url": "https://token.actions.githubusercontent.com/"}, "must not end with '/'"),
        ({"url": "not a url"}, "invalid issuer URL"),
        ({"policies": [{"role": "member", "claims": {}}]}, "at least one claim condition"),
        ({"policies": [{"role": "owner", "claims": {"sub": "x"}}]}, "unknown variant `owner`"),
        ({"policies": [{"role": "member", "claims": {"aud": "x"}}]}, "invalid policy"),
        ({"teams": ["ops"]}, "unknown field `teams`"),
        # GitHub signs for every repository: a policy must name the owner, or anyone's workflow would match.
        ({"policies": [{"role": "member", "claims": {"ref": "refs/heads/main"}}]}, "names the owner in full"),
        ({"policies": [{"role": "member", "claims": {"sub": "repo:*"}}]}, "names the owner in full"),
    ]:
        r = server.request("POST", issuers_path(), ADMIN_TOKEN, {**good, **change})
        assert r.status == 400 and needle in r.json()["message"], (change, r.body)
    issuer, made = trust(main_branch())
    assert made["audiences"] == [f"urn:pulumi:org:{ORG}"], "the default audience is the org's"
    dup = server.request("POST", issuers_path(), ADMIN_TOKEN, {**good, "name": issuer})
    assert dup.status == 409 and "already registered" in dup.json()["message"]
    listed = server.request("GET", issuers_path(), ADMIN_TOKEN).json()["issuers"]
    assert any(i["name"] == issuer for i in listed)
    # Editing replaces the policies for the next exchange; deleting revokes what was exchanged through it.
    url = fake_oidc.issuer(issuer)
    token = exchange(server, fake_oidc.mint(issuer, github_claims(url, ORG))).json()["access_token"]
    assert server.request("GET", "/api/user", token).status == 200
    edited = server.request("PUT", f"{issuers_path()}/{made['id']}", ADMIN_TOKEN,
                            {"name": issuer, "url": url, "policies": [main_branch(ref_type="tag")]})
    assert edited.status == 400, "unknown policy fields are refused on edit too"
    edited = server.request("PUT", f"{issuers_path()}/{made['id']}", ADMIN_TOKEN,
                            {"name": issuer, "url": url, "policies": [{"role": "viewer", "claims": {"ref": "refs/tags/*"}}]})
    assert edited.status == 200, edited.body
    refused(exchange(server, fake_oidc.mint(issuer, github_claims(url, ORG))), 403, "`ref` is 'refs/heads/main'")
    # Not even an admin-role token from an exchange may change the trust that let it in.
    admin, admin_made = trust(main_branch("admin"))
    ci_admin = exchange(server, fake_oidc.mint(admin, github_claims(fake_oidc.issuer(admin), ORG))).json()["access_token"]
    assert server.request("GET", f"/api/orgs/{ORG}/auditlogs", ci_admin).status == 200, "it is an admin otherwise"
    for method, path in [("GET", issuers_path()), ("DELETE", f"{issuers_path()}/{admin_made['id']}"),
                         ("GET", f"/api/orgs/{ORG}/oidc/tokens")]:
        r = server.request(method, path, ci_admin)
        assert r.status == 403 and "cannot manage OIDC trust" in r.json()["message"], (method, path, r.body)
    gone = server.request("DELETE", f"{issuers_path()}/{made['id']}", ADMIN_TOKEN)
    assert gone.status == 200 and gone.json()["revokedTokens"] == 1, gone.body
    assert server.request("GET", "/api/user", token).status == 401
    assert server.request("DELETE", f"{issuers_path()}/{made['id']}", ADMIN_TOKEN).status == 404


def test_exchanged_tokens_are_listed_and_revoked_at_once(server, fake_oidc, trust):
    issuer, _ = trust(main_branch("member"))
    r = exchange(server, fake_oidc.mint(issuer, github_claims(fake_oidc.issuer(issuer), ORG)))
    token = r.json()["access_token"]
    assert token.startswith("pul-oidc-")
    listed = server.request("GET", f"/api/orgs/{ORG}/oidc/tokens", ADMIN_TOKEN).json()["tokens"]
    mine = [t for t in listed if t["name"].startswith(f"oidc:{issuer}:")]
    assert len(mine) == 1 and mine[0]["role"] == "member" and mine[0]["kind"] == "organization"
    assert token not in json.dumps(listed)
    assert server.request("GET", f"/api/orgs/{ORG}/oidc/tokens", MEMBER_TOKEN).status == 403
    assert server.request("GET", "/api/user", token).status == 200
    assert server.request("DELETE", f"/api/orgs/{ORG}/oidc/tokens/{mine[0]['id']}", ADMIN_TOKEN).status == 200
    revoked = server.request("GET", "/api/user", token)
    assert revoked.status == 401 and "revoked" in revoked.json()["message"]
    rows = server.sql(f"SELECT hash FROM oidc_tokens WHERE id = '{mine[0]['id']}'")
    assert rows == []
    stored = json.dumps(server.sql("SELECT * FROM oidc_tokens"))
    assert token not in stored and token[9:] not in stored, "only the hash is stored"


def test_exchanges_are_rate_limited_per_org_and_issuer_and_failures_count_as_logins(server_factory, fake_oidc, unique):
    srv = server_factory({**DEFAULT_VARS, "PROCELLA_OIDC_EXCHANGES_PER_MINUTE": "3",
                          "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE": "3"})
    names = []
    for _ in range(2):
        name = unique("gh")
        body = {"name": name, "url": fake_oidc.issuer(name), "policies": [main_branch()]}
        assert srv.request("POST", issuers_path(), ADMIN_TOKEN, body).status == 201
        names.append(name)
    mint = lambda n, **o: fake_oidc.mint(n, github_claims(fake_oidc.issuer(n), ORG), **o)  # noqa: E731
    # 3 exchanges of one issuer's tokens pass; the 4th waits for the next minute.
    for _ in range(3):
        assert exchange(srv, mint(names[0])).status == 200
    limited = exchange(srv, mint(names[0]))
    assert limited.status == 429 and "exchanging this issuer's tokens for organization 'dev-org'" in limited.json()["message"]
    assert limited.headers["Retry-After"]
    # The org's other issuer has its own count, and refused tokens sent in its name do not use it up.
    assert exchange(srv, mint(names[1])).status == 200
    # Refusals cost the address attempts like failed logins (the admin's first request was one): 3 a minute.
    assert exchange(srv, mint(names[1], alg="none")).status == 401
    assert exchange(srv, mint(names[1], kid="made-up")).status == 401
    flood = exchange(srv, mint(names[1], alg="HS256"))
    assert flood.status == 429 and "authenticating from this address" in flood.json()["message"], flood.body
    assert exchange(srv, mint(names[1])).status == 200, "a good token is not a guess: it still passes"


def test_in_descope_mode_an_exchanged_token_works_like_an_access_key(descope_server, fake_descope, fake_oidc, unique):
    from test_descope_auth import key_for
    org = unique("oidcorg")
    key, _ = key_for(fake_descope, unique, "admin", org=org, tenant=f"T-{org}")
    name = unique("gh")
    body = {"name": name, "url": fake_oidc.issuer(name), "policies": [main_branch("member")]}
    r = descope_server.request("POST", issuers_path(org), key, body)
    assert r.status == 201, r.body
    calls = lambda: {k: fake_descope.stats()[k] for k in ("exchangeTotal", "keys")}
    before = calls()
    r = exchange(descope_server, fake_oidc.mint(name, github_claims(fake_oidc.issuer(name), org)), org=org)
    assert r.status == 200, r.body
    token = r.json()["access_token"]
    user = descope_server.request("GET", "/api/user", token).json()
    assert user["githubLogin"] == org and user["tokenInfo"] == {"name": f"oidc:{name}:repo:acme/app:ref:refs/heads/main",
                                                                  "organization": org}
    project = unique("dp")
    assert descope_server.request("POST", f"/api/stacks/{org}/{project}", token, {"stackName": "ci"}).status == 200
    assert descope_server.request("DELETE", f"/api/stacks/{org}/{project}/ci", token).status == 403, "member, not admin"
    assert calls() == before, "an exchanged token never goes to Descope"
