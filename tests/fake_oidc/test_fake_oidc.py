"""Self-test of the fake OIDC issuer: starts it as a subprocess and checks the behaviour e2e tests rely on.

    python3 -m pytest tests/fake_oidc -q
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
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

HERE = Path(__file__).resolve().parent


def b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jwt_parts(token):
    header, payload, signature = token.split(".")
    return json.loads(b64decode(header)), json.loads(b64decode(payload)), b64decode(signature)


def verify(token, keys):
    """Checks an RS256 or ES256 token against JWKS keys the way a careful verifier would; returns (header, claims)."""
    header, claims, signature = jwt_parts(token)
    jwk = next(k for k in keys if k["kid"] == header["kid"])
    signing_input = token.rsplit(".", 1)[0].encode()
    assert jwk["alg"] == header["alg"]
    if jwk["kty"] == "RSA":
        public = rsa.RSAPublicNumbers(int.from_bytes(b64decode(jwk["e"]), "big"),
                                      int.from_bytes(b64decode(jwk["n"]), "big")).public_key()
        public.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        assert jwk["crv"] == "P-256" and len(signature) == 64  # r || s, not DER
        public = ec.EllipticCurvePublicNumbers(int.from_bytes(b64decode(jwk["x"]), "big"),
                                               int.from_bytes(b64decode(jwk["y"]), "big"),
                                               ec.SECP256R1()).public_key()
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        public.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    return header, claims


class Fake:
    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None):
        """(status, headers, json body); non-2xx answers are returned, not raised."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, err.headers, json.loads(err.read())

    def ok(self, method, path, body=None):
        status, _, answer = self.call(method, path, body)
        assert status == 200, answer
        return answer

    def mint(self, issuer, claims, **opts):
        return self.ok("POST", "/_fake/mint", {"issuer": issuer, "claims": claims, **opts})["token"]

    def keys(self, issuer):
        return self.ok("GET", f"/{issuer}/.well-known/jwks")["keys"]


@pytest.fixture(scope="module")
def fake():
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        log_path = Path(tmp) / "stderr.log"
        with log_path.open("w") as log:
            proc = subprocess.Popen([sys.executable, str(HERE / "fake_oidc.py"), "--port", "0",
                                     "--port-file", str(port_file)], stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            line = proc.stdout.readline()  # printed after the port file is written
            assert line.startswith("listening on http://127.0.0.1:"), line
            port = int(port_file.read_text())
            assert line.strip().endswith(f":{port}")
            f = Fake(f"http://127.0.0.1:{port}")
            f.log = log_path
            yield f
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def test_discovery_document(fake):
    status, headers, doc = fake.call("GET", "/gh/.well-known/openid-configuration")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert doc["issuer"] == f"{fake.url}/gh"
    assert doc["jwks_uri"] == f"{fake.url}/gh/.well-known/jwks"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert doc["response_types_supported"] == ["id_token"] and doc["subject_types_supported"] == ["public"]
    assert {"sub", "aud", "iss", "repository", "repository_owner", "environment"} <= set(doc["claims_supported"])
    # Issuers with nested paths work too, and each is its own issuer.
    nested = fake.ok("GET", "/org/ci/.well-known/openid-configuration")
    assert nested["issuer"] == f"{fake.url}/org/ci"


def test_jwks_shape(fake):
    keys = fake.keys("shape")
    assert [k["kty"] for k in keys] == ["RSA", "EC"]
    rsa_key, ec_key = keys
    assert set(rsa_key) == {"kty", "alg", "use", "kid", "n", "e"}
    assert (rsa_key["alg"], rsa_key["use"], rsa_key["e"]) == ("RS256", "sig", "AQAB")
    assert "=" not in rsa_key["n"] and len(b64decode(rsa_key["n"])) == 256
    assert set(ec_key) == {"kty", "crv", "alg", "use", "kid", "x", "y"}
    assert (ec_key["crv"], ec_key["alg"], ec_key["use"]) == ("P-256", "ES256", "sig")
    assert len(b64decode(ec_key["x"])) == 32 and len(b64decode(ec_key["y"])) == 32
    assert rsa_key["kid"] != ec_key["kid"]
    assert fake.keys("other")[0]["kid"] != rsa_key["kid"]  # issuers do not share keys
    assert fake.ok("GET", "/_fake/keys?issuer=shape") == {
        "issuer": f"{fake.url}/shape", "RS256": rsa_key["kid"], "ES256": ec_key["kid"]}


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_minted_tokens_verify_against_the_jwks(fake, alg):
    now = int(time.time())
    token = fake.mint("mint", {"sub": "repo:acme/app:ref:refs/heads/main", "aud": "urn:x", "exp": now + 60}, alg=alg)
    header, claims = verify(token, fake.keys("mint"))
    assert header["alg"] == alg and header["typ"] == "JWT"
    assert claims == {"sub": "repo:acme/app:ref:refs/heads/main", "aud": "urn:x", "exp": now + 60,
                      "iss": f"{fake.url}/mint"}
    # An explicit iss is kept as given.
    _, claims = verify(fake.mint("mint", {"iss": "https://elsewhere"}, alg=alg), fake.keys("mint"))
    assert claims["iss"] == "https://elsewhere"


def test_hostile_tokens(fake):
    keys = fake.keys("evil")
    rsa_key = keys[0]
    # Unknown kid, extra header fields, no kid at all.
    header, _, _ = jwt_parts(fake.mint("evil", {}, kid="nope", header={"jku": "https://attacker/jwks"}))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "nope", "jku": "https://attacker/jwks"}
    header, _, _ = jwt_parts(fake.mint("evil", {}, kid=None))
    assert "kid" not in header
    # alg none: empty signature.
    token = fake.mint("evil", {"sub": "x"}, alg="none")
    assert token.endswith(".")
    header, claims, signature = jwt_parts(token)
    assert header == {"alg": "none", "typ": "JWT", "kid": rsa_key["kid"]} and signature == b""
    # HS256 keyed with the RSA modulus bytes; it must not pass as RS256.
    token = fake.mint("evil", {"sub": "x"}, alg="HS256")
    header, _, signature = jwt_parts(token)
    assert header["alg"] == "HS256" and header["kid"] == rsa_key["kid"]
    expected = hmac.new(b64decode(rsa_key["n"]), token.rsplit(".", 1)[0].encode(), hashlib.sha256).digest()
    assert signature == expected
    public = rsa.RSAPublicNumbers(65537, int.from_bytes(b64decode(rsa_key["n"]), "big")).public_key()
    with pytest.raises(InvalidSignature):  # not an RS256 signature of the same input
        public.verify(signature, token.rsplit(".", 1)[0].encode(), padding.PKCS1v15(), hashes.SHA256())
    status, _, err = fake.call("POST", "/_fake/mint", {"issuer": "evil", "claims": {}, "alg": "PS256"})
    assert status == 400 and err["error"] == "bad_request"


def test_rotation(fake):
    old_rsa, old_ec = (k["kid"] for k in fake.keys("rot"))
    old_token = fake.mint("rot", {"n": 1})
    new_kid = fake.ok("POST", "/_fake/rotate", {"issuer": "rot", "alg": "RS256"})["kid"]
    assert new_kid not in (old_rsa, old_ec)
    keys = fake.keys("rot")
    assert [k["kid"] for k in keys] == [new_kid, old_ec]  # the old RSA key is gone
    assert jwt_parts(fake.mint("rot", {}))[0]["kid"] == new_kid
    verify(fake.mint("rot", {}), keys)
    with pytest.raises(StopIteration):
        verify(old_token, keys)

    # keepOld: both served, the new one signs.
    ec_kid = fake.ok("POST", "/_fake/rotate", {"issuer": "rot", "alg": "ES256", "keepOld": True})["kid"]
    keys = fake.keys("rot")
    assert [k["kid"] for k in keys] == [new_kid, ec_kid, old_ec]
    header, _ = verify(fake.mint("rot", {}, alg="ES256"), keys)
    assert header["kid"] == ec_kid


def test_stats_and_failures(fake):
    assert fake.ok("GET", "/_fake/stats?issuer=st") == {"discovery": 0, "jwks": 0}
    fake.ok("GET", "/st/.well-known/openid-configuration")
    fake.keys("st")
    fake.keys("st")
    fake.mint("st", {})  # minting fetches nothing
    assert fake.ok("GET", "/_fake/stats?issuer=st") == {"discovery": 1, "jwks": 2}

    fake.ok("POST", "/_fake/fail", {"issuer": "st", "status": 503, "times": 2})
    status, _, err = fake.call("GET", "/st/.well-known/jwks")
    assert status == 503 and err["error"] == "injected_failure"
    assert fake.call("GET", "/st/.well-known/openid-configuration")[0] == 503
    assert fake.call("GET", "/st/.well-known/jwks")[0] == 200
    fake.ok("POST", "/_fake/fail", {"issuer": "st", "target": "jwks"})  # default: 500, once
    assert fake.call("GET", "/st/.well-known/openid-configuration")[0] == 200
    assert fake.call("GET", "/st/.well-known/jwks")[0] == 500
    assert fake.call("GET", "/st/.well-known/jwks")[0] == 200
    assert fake.call("GET", "/other-issuer/.well-known/jwks")[0] == 200
    assert fake.ok("GET", "/_fake/stats?issuer=st") == {"discovery": 3, "jwks": 6}  # failed GETs count too


def test_unknown_paths_and_bad_bodies(fake):
    for method, path in [("GET", "/"), ("GET", "/gh"), ("GET", "/gh/.well-known/other"),
                         ("POST", "/gh/.well-known/jwks"), ("GET", "/_fake/nope"), ("GET", "/../.well-known/jwks"),
                         ("GET", "/_fake/.well-known/jwks"), ("DELETE", "/_fake/mint")]:
        status, headers, body = fake.call(method, path)
        assert (status, body) == (404, {"error": "not_found"}), (method, path)
        assert headers["Content-Type"] == "application/json"
    req = urllib.request.Request(fake.url + "/_fake/mint", data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400
    assert fake.call("POST", "/_fake/mint", {"issuer": "_fake", "claims": {}})[0] == 400
    assert fake.call("POST", "/_fake/rotate", {"issuer": "x", "alg": "HS256"})[0] == 400


def test_log_has_paths_but_never_tokens(fake):
    token = fake.mint("logs", {"sub": "secret-subject"})
    fake.call("GET", "/_fake/stats?issuer=logs")
    time.sleep(0.1)
    text = fake.log.read_text()
    assert "fake-oidc: POST /_fake/mint 200" in text
    assert "fake-oidc: GET /_fake/stats 200" in text and "issuer=logs" not in text
    assert token not in text and token.split(".")[2] not in text and "secret-subject" not in text
