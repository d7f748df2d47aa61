"""Self-test of the fake Descope server: starts it as a subprocess and checks the behaviour e2e tests rely on.

    python3 -m pytest tests/fake_descope -q
"""

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HERE = Path(__file__).resolve().parent
PID = "P2selftestproject0000000000"
MGMT_KEY = "selftest-management-key"


def b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_parts(jwt):
    header, payload, signature = jwt.split(".")
    return json.loads(b64decode(header)), json.loads(b64decode(payload)), b64decode(signature)


class Fake:
    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None, auth=None):
        """(status, headers, json body); non-2xx answers are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth is not None:
            req.add_header("Authorization", f"Bearer {PID}:{auth}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, err.headers, json.loads(err.read())

    def ok(self, method, path, body=None, auth=None):
        status, _, answer = self.call(method, path, body, auth)
        assert status == 200, answer
        return answer

    def exchange(self, cleartext, login_options=None):
        return self.call("POST", "/v1/auth/accesskey/exchange", {"loginOptions": login_options or {}}, cleartext)

    def verify(self, jwt):
        """Checks an RS256 signature against the served JWKS; returns (header, claims)."""
        header, claims, signature = jwt_parts(jwt)
        jwk = next(k for k in self.ok("GET", f"/v2/keys/{PID}")["keys"] if k["kid"] == header["kid"])
        public = rsa.RSAPublicNumbers(int.from_bytes(b64decode(jwk["e"]), "big"),
                                      int.from_bytes(b64decode(jwk["n"]), "big")).public_key()
        public.verify(signature, jwt.rsplit(".", 1)[0].encode(), padding.PKCS1v15(), hashes.SHA256())
        return header, claims


@pytest.fixture(scope="module")
def fake():
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        proc = subprocess.Popen([sys.executable, str(HERE / "fake_descope.py"), "--port", "0", "--project-id", PID,
                                 "--management-key", MGMT_KEY, "--port-file", str(port_file)],
                                stdout=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()  # printed after the port file is written
            assert line.startswith("listening on http://127.0.0.1:"), line
            port = int(port_file.read_text())
            assert line.strip().endswith(f":{port}")
            yield Fake(f"http://127.0.0.1:{port}")
        finally:
            proc.terminate()
            proc.wait(timeout=5)


@pytest.fixture(autouse=True)
def clean(fake):
    fake.ok("POST", "/_fake/clear-failures")
    fake.ok("POST", "/_fake/reset-stats")


def test_health_and_jwks_shape(fake):
    assert fake.ok("GET", "/_fake/health") == {"ok": True}
    keys = fake.ok("GET", f"/v2/keys/{PID}")["keys"]
    assert len(keys) == 1
    assert set(keys[0]) == {"alg", "kty", "kid", "n", "e", "use"}
    assert (keys[0]["alg"], keys[0]["kty"], keys[0]["use"], keys[0]["e"]) == ("RS256", "RSA", "sig", "AQAB")
    assert "=" not in keys[0]["n"] and len(b64decode(keys[0]["n"])) == 256  # 2048-bit modulus
    status, _, err = fake.call("GET", "/v2/keys/P2someotherproject")
    assert status == 400 and set(err) == {"errorCode", "errorDescription", "errorMessage"}


def test_exchange_gives_verifiable_jwt_with_claims(fake):
    key = fake.ok("POST", "/_fake/access-keys", {
        "tenants": [{"tenantId": "T1", "tenantName": "acme", "roleNames": ["admin"]}],
        "customClaims": {"procellaLogin": "ada", "procellaOrg": "acme", "sub": "forged"},
        "dct": "T1", "jwtTtl": 120})
    assert key["cleartext"].startswith("K2") and key["id"].startswith("K2")
    status, _, answer = fake.exchange(key["cleartext"])
    assert status == 200 and set(answer) == {"keyId", "sessionJwt", "expiration"}
    header, claims = fake.verify(answer["sessionJwt"])
    assert header["alg"] == "RS256" and header["typ"] == "JWT"
    assert claims["sub"] == key["id"] == answer["keyId"]  # custom claims cannot overwrite reserved ones
    assert claims["iss"] == f"https://api.descope.com/{PID}"
    assert claims["exp"] == answer["expiration"] == claims["iat"] + 120
    assert abs(claims["iat"] - time.time()) < 5
    assert claims["amr"] == ["accesskey"] and claims["drn"] == "DS" and claims["dct"] == "T1"
    assert claims["tenants"] == {"T1": {"roles": ["admin"], "permissions": []}}
    assert claims["roles"] == [] and claims["permissions"] == []
    assert (claims["procellaLogin"], claims["procellaOrg"]) == ("ada", "acme")
    assert fake.ok("GET", "/_fake/stats")["exchange"] == {key["id"]: 1}


def test_unknown_key_wrong_project_and_deactivated_key_are_401(fake):
    status, _, err = fake.exchange("K2doesnotexist")
    assert status == 401 and err["errorDescription"] == "Access key not valid"
    assert set(err) == {"errorCode", "errorDescription", "errorMessage"}

    key = fake.ok("POST", "/_fake/access-keys", {"roleNames": ["viewer"]})
    req = urllib.request.Request(fake.url + "/v1/auth/accesskey/exchange", data=b"{}", method="POST",
                                 headers={"Authorization": f"Bearer P2wrongproject:{key['cleartext']}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 401

    fake.ok("POST", "/v1/mgmt/accesskey/deactivate", {"id": key["id"]}, MGMT_KEY)
    assert fake.exchange(key["cleartext"])[0] == 401
    fake.ok("POST", "/v1/mgmt/accesskey/activate", {"id": key["id"]}, MGMT_KEY)
    assert fake.exchange(key["cleartext"])[0] == 200

    expired = fake.ok("POST", "/_fake/access-keys", {"roleNames": ["viewer"], "expireTime": int(time.time()) - 1})
    assert fake.exchange(expired["cleartext"])[0] == 401


def test_management_lifecycle(fake):
    assert fake.call("POST", "/v1/mgmt/accesskey/create", {"name": "x"}, "wrong-key")[0] == 401
    assert fake.call("POST", "/v1/mgmt/accesskey/create", {"name": ""}, MGMT_KEY)[0] == 400
    both = {"name": "x", "roleNames": ["admin"], "keyTenants": [{"tenantId": "T1", "roleNames": ["admin"]}]}
    assert fake.call("POST", "/v1/mgmt/accesskey/create", both, MGMT_KEY)[0] == 400
    assert fake.call("POST", "/v1/mgmt/accesskey/create", {"name": "x", "userId": "U2nobody"}, MGMT_KEY)[0] == 400

    fake.ok("POST", "/_fake/users", {"userId": "U2ada", "loginId": "ada@example.com", "email": "ada@example.com",
                                     "name": "Ada", "tenants": [{"tenantId": "T9", "tenantName": "acme",
                                                                 "roleNames": ["member"]}]})
    created = fake.ok("POST", "/v1/mgmt/accesskey/create", {
        "name": "pulumi cli", "expireTime": 0, "roleNames": [], "userId": "U2ada",
        "keyTenants": [{"tenantId": "T9", "roleNames": ["member"]}],
        "customClaims": {"procellaLogin": "ada"}, "description": "d", "permittedIps": []}, MGMT_KEY)
    key = created["key"]
    assert set(key) == {"id", "name", "roleNames", "keyTenants", "status", "createdTime", "expireTime",
                        "createdBy", "boundUserId", "customClaims", "description", "permittedIps"}
    assert key["status"] == "active" and key["boundUserId"] == "U2ada"
    assert key["keyTenants"] == [{"tenantId": "T9", "tenantName": "acme", "roleNames": ["member"]}]

    status, _, answer = fake.exchange(created["cleartext"])
    assert status == 200
    _, claims = fake.verify(answer["sessionJwt"])
    assert claims["tenants"]["T9"]["roles"] == ["member"] and claims["procellaLogin"] == "ada"

    assert fake.ok("GET", f"/v1/mgmt/accesskey?id={key['id']}", auth=MGMT_KEY)["key"] == key
    found = fake.ok("POST", "/v1/mgmt/accesskey/search", {"tenantIds": ["T9"], "boundUserId": "U2ada"}, MGMT_KEY)
    assert [k["id"] for k in found["keys"]] == [key["id"]]

    rotated = fake.ok("POST", "/v1/mgmt/accesskey/rotate", {"id": key["id"]}, MGMT_KEY)
    assert rotated["key"]["id"] == key["id"] and rotated["cleartext"] != created["cleartext"]
    assert fake.exchange(created["cleartext"])[0] == 401
    assert fake.exchange(rotated["cleartext"])[0] == 200

    assert fake.ok("POST", "/v1/mgmt/accesskey/delete", {"id": key["id"]}, MGMT_KEY) == {}
    assert fake.exchange(rotated["cleartext"])[0] == 401
    assert fake.call("GET", f"/v1/mgmt/accesskey?id={key['id']}", auth=MGMT_KEY)[0] == 400


def test_browser_session_refresh_and_me(fake):
    fake.ok("POST", "/_fake/users", {"userId": "U2bob", "loginId": "bob@example.com", "email": "bob@example.com",
                                     "name": "Bob", "tenants": [{"tenantId": "T2", "tenantName": "bobs",
                                                                 "roleNames": ["Tenant Admin", "admin"]}]})
    session = fake.ok("POST", "/_fake/sessions", {"userId": "U2bob", "dct": "T2"})
    _, claims = fake.verify(session["sessionJwt"])
    assert claims["sub"] == "U2bob" and claims["drn"] == "DS" and claims["dct"] == "T2"
    assert claims["tenants"] == {"T2": {"roles": ["Tenant Admin", "admin"], "permissions": []}}
    assert fake.verify(session["refreshJwt"])[1]["drn"] == "DSR"

    refreshed = fake.ok("POST", "/v1/auth/refresh", {}, session["refreshJwt"])
    assert fake.verify(refreshed["sessionJwt"])[1]["sub"] == "U2bob"
    assert refreshed["refreshJwt"] == session["refreshJwt"] and refreshed["user"]["userId"] == "U2bob"
    me = fake.ok("GET", "/v1/auth/me", auth=session["refreshJwt"])
    assert (me["userId"], me["loginIds"], me["email"], me["name"]) == ("U2bob", ["bob@example.com"],
                                                                       "bob@example.com", "Bob")
    assert me["userTenants"] == [{"tenantId": "T2", "tenantName": "bobs", "roleNames": ["Tenant Admin", "admin"]}]
    assert fake.call("GET", "/v1/auth/me", auth=session["sessionJwt"])[0] == 401  # a session JWT is no refresh JWT


def test_rotate_changes_kid(fake):
    old_kid = fake.ok("GET", f"/v2/keys/{PID}")["keys"][0]["kid"]
    key = fake.ok("POST", "/_fake/access-keys", {"roleNames": ["viewer"]})
    new_kid = fake.ok("POST", "/_fake/rotate")["kid"]
    assert new_kid != old_kid
    assert [k["kid"] for k in fake.ok("GET", f"/v2/keys/{PID}")["keys"]] == [new_kid, old_kid]
    header, _ = fake.verify(fake.exchange(key["cleartext"])[2]["sessionJwt"])
    assert header["kid"] == new_kid
    newest = fake.ok("POST", "/_fake/rotate", {"dropOld": True})["kid"]
    assert [k["kid"] for k in fake.ok("GET", f"/v2/keys/{PID}")["keys"]] == [newest]


def test_failure_injection(fake):
    key = fake.ok("POST", "/_fake/access-keys", {"roleNames": ["viewer"]})
    fake.ok("POST", "/_fake/fail", {"path": "/v1/auth/accesskey/exchange", "status": 429, "retryAfter": 7,
                                    "times": 1})
    status, headers, err = fake.exchange(key["cleartext"])
    assert status == 429 and headers["Retry-After"] == "7" and err["errorCode"] == "E130429"
    assert fake.exchange(key["cleartext"])[0] == 200  # times: 1 is used up

    fake.ok("POST", "/_fake/fail", {"path": "*", "status": 503})
    assert fake.exchange(key["cleartext"])[0] == 503
    assert fake.call("GET", f"/v2/keys/{PID}")[0] == 503
    fake.ok("POST", "/_fake/clear-failures")
    assert fake.exchange(key["cleartext"])[0] == 200

    fake.ok("POST", "/_fake/fail", {"path": "/v1/auth/accesskey/exchange", "delaySeconds": 0.3, "times": 1})
    started = time.monotonic()
    assert fake.exchange(key["cleartext"])[0] == 200
    assert time.monotonic() - started >= 0.3


def test_stats_count_and_never_log_secrets(fake):
    key = fake.ok("POST", "/_fake/access-keys", {"roleNames": ["viewer"]})
    fake.exchange(key["cleartext"])
    fake.exchange(key["cleartext"])
    fake.exchange("K2unknown")
    fake.call("GET", f"/v2/keys/{PID}")
    stats = fake.ok("GET", "/_fake/stats")
    assert stats["exchange"] == {key["id"]: 2} and stats["exchangeTotal"] == 3 and stats["keys"] == 1
    assert stats["requests"][0] == {"method": "POST", "path": "/v1/auth/accesskey/exchange",
                                    "authHeaderScheme": "Bearer", "status": 200}
    assert stats["requests"][-1]["authHeaderScheme"] is None
    assert key["cleartext"] not in json.dumps(stats)
    fake.ok("POST", "/_fake/reset-stats")
    assert fake.ok("GET", "/_fake/stats") == {"exchange": {}, "exchangeTotal": 0, "keys": 0, "requests": []}


def test_fake_jwt_variants(fake):
    claims = {"sub": "K2attacker", "iss": PID, "exp": int(time.time()) + 600}
    current_kid = fake.ok("GET", f"/v2/keys/{PID}")["keys"][0]["kid"]

    good = fake.ok("POST", "/_fake/jwt", {"claims": claims})["jwt"]
    assert fake.verify(good) == ({"alg": "RS256", "kid": current_kid, "typ": "JWT"}, claims)

    none = fake.ok("POST", "/_fake/jwt", {"claims": claims, "sign": "none"})["jwt"]
    assert jwt_parts(none)[0]["alg"] == "none" and none.endswith(".")

    hs = fake.ok("POST", "/_fake/jwt", {"claims": claims, "sign": "hs256-with-public-key"})["jwt"]
    assert jwt_parts(hs)[0]["alg"] == "HS256"
    jwk = fake.ok("GET", f"/v2/keys/{PID}")["keys"][0]
    pem = rsa.RSAPublicNumbers(int.from_bytes(b64decode(jwk["e"]), "big"),
                               int.from_bytes(b64decode(jwk["n"]), "big")).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    expected = hmac.new(pem, hs.rsplit(".", 1)[0].encode(), hashlib.sha256).digest()
    assert jwt_parts(hs)[2] == expected  # HMAC keyed with the public key's PEM, as a confused verifier would

    other = fake.ok("POST", "/_fake/jwt", {"claims": claims, "sign": "rs256-other-key"})["jwt"]
    assert jwt_parts(other)[0] == {"alg": "RS256", "kid": current_kid, "typ": "JWT"}
    with pytest.raises(InvalidSignature):
        fake.verify(other)

    renamed = fake.ok("POST", "/_fake/jwt", {"claims": claims, "sign": "rs256-other-key",
                                              "header": {"kid": "SK2unknown"}})["jwt"]
    assert jwt_parts(renamed)[0]["kid"] == "SK2unknown"
