"""A schema-aware fuzzer over every API route, for this project's server on loopback only.

Each request is drawn by Hypothesis from a fixed seed: a route of the API with path segments that are valid names,
names URLs normalise, unicode, over-long or percent-encoded ones; a body that is the route's own shape with wrong
types, random JSON, deep nesting, huge strings, bad gzip, invalid UTF-8 or nothing; and every kind of credential,
sometimes duplicated, malformed or missing. What must hold for every answer: no 5xx, no hang, every error in the
`{"code", "message"}` shape, and no stack of another organization in anything a caller outside it receives.
Used by tests/e2e/test_fuzz.py (about 2,000 requests) and `scripts/bench.sh fuzz` (20,000 or more).
"""

import gzip
import http.client
import json
import random
from collections import Counter
from urllib.parse import quote, urlparse

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from conftest import ADMIN_TOKEN, EVE_ORG, EVE_TOKEN, MEMBER_TOKEN, ORG, VIEWER_TOKEN

# The other organization's project. Callers outside that organization must never see it, nor the organization in
# a listing (dev-org may well get a project of the same name: the fuzzer creates what it can).
CANARY_PROJECT = "eveproj-9c1d"
CANARY = "canary-7f3a"

NAMES = st.one_of(
    st.sampled_from(["dev", "prod", "web", CANARY, ".", "..", "...", "a.b", "-x", "_", "x" * 100, "x" * 101,
                     "%2e%2e", "%2F", "a%00b", "é", "名前", "a b", "a/b", "", "null", "0", "🙂"]),
    st.text(min_size=0, max_size=40),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=120),
)
# Half the draws aim at the organization the main callers belong to, so requests get past authorization.
ORGS = st.one_of(st.just(ORG), st.just(ORG), st.sampled_from([EVE_ORG, "nobody-org"]), NAMES)

# (method, path template, the body shape the route expects or None)
ROUTES = [
    ("GET", "/healthz", None), ("GET", "/api/capabilities", None), ("GET", "/api/user", None),
    ("GET", "/api/user/organizations/default", None), ("GET", "/api/user/stacks?{query}", None),
    ("HEAD", "/api/stacks/{org}/{project}", None), ("POST", "/api/stacks/{org}/{project}", "create"),
    ("GET", "/api/stacks/{org}/{project}/{stack}", None), ("DELETE", "/api/stacks/{org}/{project}/{stack}?{query}", None),
    ("POST", "/api/stacks/{org}/{project}/{stack}/rename", "rename"),
    ("PATCH", "/api/stacks/{org}/{project}/{stack}/tags", "tags"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/{kind}", "program"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/update/{id}", "start"),
    ("GET", "/api/stacks/{org}/{project}/{stack}/update/{id}", None),
    ("POST", "/api/stacks/{org}/{project}/{stack}/update/{id}/cancel", None),
    ("POST", "/api/stacks/{org}/{project}/{stack}/update/{id}/complete", "complete"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/update/{id}/renew_lease", "renew"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/update/{id}/events/batch", "events"),
    ("GET", "/api/stacks/{org}/{project}/{stack}/update/{id}/events?{query}", None),
    ("PATCH", "/api/stacks/{org}/{project}/{stack}/update/{id}/checkpoint", "checkpoint"),
    ("PATCH", "/api/stacks/{org}/{project}/{stack}/update/{id}/checkpointverbatim", "verbatim"),
    ("PATCH", "/api/stacks/{org}/{project}/{stack}/update/{id}/checkpointdelta", "delta"),
    ("PATCH", "/api/stacks/{org}/{project}/{stack}/update/{id}/journalentries", "journal"),
    ("GET", "/api/stacks/{org}/{project}/{stack}/export", None),
    ("GET", "/api/stacks/{org}/{project}/{stack}/export/{version}", None),
    ("POST", "/api/stacks/{org}/{project}/{stack}/import", "import"),
    ("GET", "/api/stacks/{org}/{project}/{stack}/updates?{query}", None),
    ("GET", "/api/stacks/{org}/{project}/{stack}/updates/latest", None),
    ("GET", "/api/stacks/{org}/{project}/{stack}/updates/{version}", None),
    ("POST", "/api/stacks/{org}/{project}/{stack}/encrypt", "encrypt"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/decrypt", "decrypt"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/batch-encrypt", "batch-encrypt"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/batch-decrypt", "batch-decrypt"),
    ("POST", "/api/stacks/{org}/{project}/{stack}/decrypt/log-decryption", None),
    ("POST", "/api/auth/cli-token", "cli-token"), ("GET", "/api/console/settings?{query}", None),
    ("GET", "/api/console/tokens", None), ("DELETE", "/api/admin/{org}/misnamed-stacks?{query}", None),
    ("OPTIONS", "/api/user", None), ("PUT", "/api/stacks/{org}/{project}/{stack}", None),
    ("GET", "/api/orgs/{org}/auditlogs?{query}", None), ("GET", "/api/{junk}", None),
    ("POST", "/api/oauth/token", "oauth"), ("GET", "/api/orgs/{org}/oidc/issuers", None),
    ("POST", "/api/orgs/{org}/oidc/issuers", "issuer"), ("PUT", "/api/orgs/{org}/oidc/issuers/{id}", "issuer"),
    ("DELETE", "/api/orgs/{org}/oidc/issuers/{id}", None), ("GET", "/api/orgs/{org}/oidc/tokens", None),
    ("DELETE", "/api/orgs/{org}/oidc/tokens/{id}", None),
]

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=False), st.text(max_size=30))
JSON = st.recursive(SCALARS, lambda c: st.one_of(st.lists(c, max_size=5),
                                                  st.dictionaries(st.text(max_size=12), c, max_size=5)), max_leaves=20)


def shape(kind, draw):
    """The route's own body, each field drawn from a right or wrong value."""
    v = lambda good: draw(st.one_of(st.just(good), JSON))  # noqa: E731
    b64 = lambda: draw(st.one_of(st.just("aGVsbG8="), st.text(max_size=20), JSON))  # noqa: E731
    resources = lambda: draw(st.one_of(st.just([{"urn": "urn:pulumi:s::p::t::r", "type": "t", "custom": True}]), JSON))  # noqa: E731
    deployment = lambda: {"manifest": v({"time": "2026-01-01T00:00:00Z", "magic": "m", "version": "v"}),  # noqa: E731
                          "resources": resources()}
    bodies = {
        "create": lambda: {"stackName": draw(NAMES), "tags": v({"k": "v"})},
        "rename": lambda: {"newName": draw(NAMES), "newProject": draw(st.one_of(st.just(""), NAMES))},
        "tags": lambda: draw(st.one_of(st.dictionaries(st.text(max_size=50), st.text(max_size=300), max_size=5), JSON)),
        "program": lambda: {"name": v("p"), "runtime": v("yaml"), "main": v(""), "description": v(""),
                            "options": v({"dryRun": draw(st.booleans())}), "config": v({}), "metadata": v({})},
        "start": lambda: {"tags": v({"pulumi:project": "p"}), "journalVersion": v(1)},
        "complete": lambda: {"status": draw(st.one_of(st.sampled_from(["succeeded", "failed", "cancelled"]), JSON))},
        "renew": lambda: {"duration": v(60)},
        "events": lambda: {"events": v([{"sequence": v(1), "timestamp": v(1), "stdoutEvent": {"message": "x"}}])},
        "checkpoint": lambda: {"version": v(3), "deployment": v(deployment())},
        "verbatim": lambda: {"version": v(3), "sequenceNumber": v(1), "untypedDeployment": v(deployment())},
        "delta": lambda: {"version": v(3), "sequenceNumber": v(2), "checkpointHash": v("00"),
                          "deploymentDelta": v([{"span": {"start": {"offset": 0}, "end": {"offset": 1}}, "newText": "x"}])},
        "journal": lambda: {"entries": v([{"version": v(1), "kind": v(0), "sequenceID": v(1), "operationID": v(1)}])},
        "import": lambda: {"version": v(3), "deployment": v(deployment())},
        "encrypt": lambda: {"plaintext": b64()},
        "decrypt": lambda: {"ciphertext": b64()},
        "batch-encrypt": lambda: {"plaintexts": v([b64()])},
        "batch-decrypt": lambda: {"ciphertexts": v([b64()])},
        "cli-token": lambda: {"description": v("x")},
        "issuer": lambda: {"name": v("fuzz"), "url": v("https://fuzz.example"), "audiences": v(["urn:pulumi:org:dev-org"]),
                           "maxExpirationSeconds": v(600),
                           "policies": v([{"name": v("p"), "role": v("member"), "tokenType": v("organization"),
                                           "claims": v({"sub": v("repo:*")})}])},
        # The token endpoint's form, as the fields the CLI sends with right or wrong values.
        "oauth": lambda: {"grant_type": draw(st.sampled_from(["urn:ietf:params:oauth:grant-type:token-exchange",
                                                              "refresh_token", "password", ""])),
                          "audience": draw(st.one_of(st.just("urn:pulumi:org:dev-org"), st.text(max_size=40))),
                          "subject_token": draw(st.sampled_from(["eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL3gifQ.",
                                                                 "a.b.c", "", "x" * 20000])),
                          "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                          "requested_token_type": draw(st.sampled_from([
                              "urn:pulumi:token-type:access_token:organization", "urn:pulumi:token-type:access_token:team",
                              "urn:pulumi:token-type:access_token:personal", "x"])),
                          "scope": draw(st.sampled_from(["", "user:ada", "team:ops", "user:"])),
                          "expiration": draw(st.sampled_from(["7200", "0", "-1", "1h", "99999999999999999999"]))},
    }
    return bodies[kind]()


@st.composite
def requests(draw):
    method, template, kind = draw(st.sampled_from(ROUTES))
    fields = {
        "org": draw(ORGS), "project": draw(st.one_of(st.just("fuzz"), st.just(CANARY_PROJECT), NAMES)),
        "stack": draw(st.one_of(st.just(CANARY), st.just("s"), NAMES)),
        "kind": draw(st.sampled_from(["update", "preview", "refresh", "destroy", "import", "nope"])),
        "id": draw(st.one_of(st.uuids().map(str), NAMES)), "version": draw(st.one_of(
            st.integers(min_value=-5, max_value=2**63).map(str), NAMES)),
        "query": draw(st.sampled_from(["", "force=true", "pageSize=0", "pageSize=-1", "pageSize=100000",
                                       "continuationToken=%FF%FE", "organization=" + EVE_ORG, "project=" + CANARY_PROJECT,
                                       "tagName=a&tagValue=b", "org=" + EVE_ORG, "project=..&stack=..",
                                       "continuationToken=" + "A" * 3000, "pageSize=abc"])),
        "junk": draw(NAMES),
    }
    path = template.format(**{k: (quote(v, safe="%=&") if k not in ("query",) else v) for k, v in fields.items()})
    body_kind = draw(st.sampled_from(["shape", "shape", "random", "none", "array", "deep", "huge", "badgzip",
                                      "gzip", "utf8", "empty"]))
    body, gz = None, False
    if body_kind == "shape" and kind == "oauth":
        from urllib.parse import urlencode
        body = urlencode(shape(kind, draw)).encode()
    elif body_kind == "shape" and kind:
        body = json.dumps(shape(kind, draw), default=str).encode()
    elif body_kind == "random":
        body = json.dumps(draw(JSON)).encode()
    elif body_kind == "array":
        body = b'["stackName", 1, {}]'
    elif body_kind == "deep":
        n = draw(st.sampled_from([64, 200, 5000]))
        body = b"[" * n + b"]" * n if draw(st.booleans()) else b'{"a":' * n + b"1" + b"}" * n
    elif body_kind == "huge":
        body = json.dumps({"stackName": "x" * draw(st.sampled_from([10_000, 1_100_000])),
                           "plaintext": "A" * 2000}).encode()
    elif body_kind == "badgzip":
        body, gz = b"\x1f\x8b\x08\x00garbage", True
    elif body_kind == "gzip":
        body, gz = gzip.compress(json.dumps(shape(kind, draw) if kind else {}, default=str).encode()), True
    elif body_kind == "utf8":
        body = b'{"stackName": "\xff\xfe\xc3"}'
    elif body_kind == "empty":
        body = b""
    # Valid credentials (the admin most) half the time, so handlers are reached as often as refusals.
    cred = draw(st.sampled_from(["admin"] * 6 + ["member", "viewer", "eve", "eve", "none", "junk", "update-junk",
                                                  "bearer-junk", "malformed", "twice", "basic", "oidc-junk"]))
    return {"method": method, "route": template.split("?")[0], "path": path, "body": body, "gzip": gz, "cred": cred,
            "content_type": draw(st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"]))}


AUTH = {"admin": f"token {ADMIN_TOKEN}", "member": f"token {MEMBER_TOKEN}", "viewer": f"token {VIEWER_TOKEN}",
        "eve": f"token {EVE_TOKEN}", "junk": "token not-a-real-token", "update-junk": "update-token 123e4567",
        "bearer-junk": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig", "malformed": "token", "basic": "Basic dXNlcjpwYXNz",
        # The shape of an exchanged OIDC token, never issued: looked up by hash and refused.
        "oidc-junk": "token pul-oidc-" + "ab" * 32}


def send(url, r, timeout=30):
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        conn.putrequest(r["method"], r["path"], skip_accept_encoding=True)
        conn.putheader("Accept", "application/vnd.pulumi+8")
        if r["cred"] == "twice":
            conn.putheader("Authorization", f"token {ADMIN_TOKEN}")
            conn.putheader("Authorization", f"token {EVE_TOKEN}")
        elif r["cred"] in AUTH:
            conn.putheader("Authorization", AUTH[r["cred"]])
        if r["content_type"]:
            conn.putheader("Content-Type", r["content_type"])
        if r["gzip"]:
            conn.putheader("Content-Encoding", "gzip")
        body = r["body"]
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def problems(r, status, body):
    """What is wrong with one answer (empty when it is fine)."""
    out = []
    if status >= 500:
        out.append(f"{status}")
    if status >= 400 and r["method"] != "HEAD":
        try:
            err = json.loads(body)
            # The token endpoint's errors also carry RFC 6749's `error`/`error_description` (for OAuth clients).
            oauth = {"error", "error_description"} if r["route"] == "/api/oauth/token" else set()
            if not (isinstance(err, dict) and set(err) - oauth == {"code", "message"} and err["code"] == status
                    and isinstance(err["message"], str)):
                out.append(f"error not in the Pulumi shape: {body[:200]!r}")
        except ValueError:
            out.append(f"error not JSON: {body[:200]!r}")
    # Anything naming the other organization's stack, or the organization in a listing, is a leak unless the caller
    # sent its token (alone or among others) or the request itself named it (a 404 echoes the path it was given).
    if r["cred"] not in ("eve", "twice"):
        named = EVE_ORG in r["path"] and CANARY_PROJECT in r["path"]
        markers = [f'"orgName":"{EVE_ORG}"', f'"githubLogin":"{EVE_ORG}"'] + ([] if named else [f"{EVE_ORG}/{CANARY_PROJECT}"])
        if any(m.encode() in body for m in markers):
            out.append(f"the other organization's stack leaked: {body[:300]!r}")
    return out


def run(url, n, seed_value, stats: Counter):
    """Sends `n` drawn requests; raises AssertionError (Hypothesis shrinks it) on the first problem."""

    @seed(seed_value)
    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=[p for p in __import__("hypothesis").Phase
                                                              if p.name != "explain"])
    @given(requests())
    def one(r):
        try:
            status, body = send(url, r)
        except (TimeoutError, OSError) as e:
            raise AssertionError(f"no answer ({e}) to {r['method']} {r['path'][:120]}") from e
        stats[(r["method"], r["route"], status)] += 1
        found = problems(r, status, body)
        assert not found, f"{r['method']} {r['path'][:160]} cred={r['cred']}: {found}"

    one()


def setup(server):
    """The other organization's canary stack, and a dev-org stack to aim at."""
    assert server.request("POST", f"/api/stacks/{EVE_ORG}/{CANARY_PROJECT}", EVE_TOKEN, {"stackName": CANARY,
                          "tags": {"secret-tag": CANARY_PROJECT}}).status == 200
    assert server.request("POST", f"/api/stacks/{ORG}/fuzz", ADMIN_TOKEN, {"stackName": "s"}).status == 200


def random_seed():
    return random.SystemRandom().randrange(2**32)
