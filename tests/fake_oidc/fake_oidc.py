#!/usr/bin/env python3
"""A local fake OpenID Connect issuer (or many) for end-to-end tests.

Every issuer lives under a path prefix: issuer `name` is `http://127.0.0.1:<port>/<name>` and serves its discovery
document and JWKS below that, like GitHub Actions' https://token.actions.githubusercontent.com. Issuers are created
on first use, each with one RSA 2048 key (RS256) and one P-256 key (ES256). A `/_fake/...` control API (no auth)
mints tokens (also hostile ones: unknown kid, alg none, HS256 keyed with the public modulus), rotates keys,
injects outages and counts fetches.

    python3 fake_oidc.py --port 0 [--port-file F]

Standard library HTTP server; the only dependency is the PyPI package `cryptography`. State lives in memory behind
one lock. One line per request goes to stderr (method, path without query, status); tokens are never logged.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

DISCOVERY_SUFFIX = "/.well-known/openid-configuration"
JWKS_SUFFIX = "/.well-known/jwks"
ALGS = ("RS256", "ES256")
# Path segments of an issuer name: no leading dot (so no "..", no ".well-known"), nothing that needs escaping.
NAME_RE = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9._~-]*(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*$")
# What GitHub Actions' issuer lists, plus the standard ones.
CLAIMS_SUPPORTED = [
    "sub", "aud", "exp", "iat", "iss", "nbf", "jti", "actor", "actor_id", "base_ref", "environment", "event_name",
    "head_ref", "job_workflow_ref", "job_workflow_sha", "ref", "ref_protected", "ref_type", "repository",
    "repository_id", "repository_owner", "repository_owner_id", "repository_visibility", "run_attempt", "run_id",
    "run_number", "runner_environment", "sha", "workflow", "workflow_ref", "workflow_sha",
]


class ApiError(Exception):
    """An answer {"error": code, "message": ...} with that status."""

    def __init__(self, status, code, message=""):
        super().__init__(message or code)
        self.status = status
        self.body = {"error": code, **({"message": message} if message else {})}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint_bytes(value: int, length: int = 0) -> bytes:
    """Big-endian unsigned bytes, minimal length unless `length` (left-padded with zeros) is given."""
    return value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big")


def b64url_json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def random_kid() -> str:
    return secrets.token_hex(8)


class RsaKey:
    alg = "RS256"

    def __init__(self):
        self.kid = random_kid()
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.numbers = self.private.public_key().public_numbers()

    def jwk(self):
        return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
                "n": b64url(uint_bytes(self.numbers.n)), "e": b64url(uint_bytes(self.numbers.e))}

    def sign(self, data: bytes) -> bytes:
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def modulus_bytes(self) -> bytes:
        """The bytes of `n` (big-endian, 256 for RSA 2048): the "key" of the HS256 confusion forgery."""
        return uint_bytes(self.numbers.n)


class EcKey:
    alg = "ES256"

    def __init__(self):
        self.kid = random_kid()
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.numbers = self.private.public_key().public_numbers()

    def jwk(self):
        return {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
                "x": b64url(uint_bytes(self.numbers.x, 32)), "y": b64url(uint_bytes(self.numbers.y, 32))}

    def sign(self, data: bytes) -> bytes:
        """A JWS ES256 signature: r || s, 32 bytes each (cryptography gives DER)."""
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return uint_bytes(r, 32) + uint_bytes(s, 32)


def new_key(alg):
    return RsaKey() if alg == "RS256" else EcKey()


class Issuer:
    """Keys per alg, the current one first; counters and pending injected failures."""

    def __init__(self):
        self.keys = {"RS256": [RsaKey()], "ES256": [EcKey()]}
        self.stats = {"discovery": 0, "jwks": 0}
        self.failures = []  # [{"status", "times", "target"}], first match wins

    def jwks(self):
        return {"keys": [k.jwk() for alg in ALGS for k in self.keys[alg]]}


def encode_jwt(header: dict, claims: dict, sign) -> str:
    """`sign` maps the signing input to signature bytes (b"" for alg none)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


class FakeOidc:
    """All state and every route. Handlers take (request) and return (status, JSON-able body) or raise ApiError."""

    def __init__(self):
        self.lock = threading.Lock()
        self.base_url = ""  # set once the server has its port
        self.issuers = {}  # name -> Issuer

    def issuer_url(self, name):
        return f"{self.base_url}/{name}"

    @staticmethod
    def check_name(name):
        if not isinstance(name, str) or not NAME_RE.match(name) or name.split("/")[0] == "_fake":
            raise ApiError(400, "bad_request", "issuer must be a path like 'github' or 'org/ci'")
        return name

    def get_issuer(self, name) -> Issuer:
        """The issuer called `name`, created on first use. Key generation (~0.1 s) happens outside the lock."""
        with self.lock:
            issuer = self.issuers.get(name)
        if issuer is None:
            fresh = Issuer()
            with self.lock:
                issuer = self.issuers.setdefault(name, fresh)
        return issuer

    # ---- the issuer documents --------------------------------------------------------------------------

    def count_and_fail(self, issuer: Issuer, target):
        """Counts the GET and answers an injected failure if one is pending for `target`."""
        with self.lock:
            issuer.stats[target] += 1
            for rule in issuer.failures:
                if rule["target"] in (target, "both"):
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        issuer.failures.remove(rule)
                    raise ApiError(rule["status"], "injected_failure", f"fake {target} failure")

    def discovery(self, name):
        issuer = self.get_issuer(name)
        self.count_and_fail(issuer, "discovery")
        url = self.issuer_url(name)
        return {
            "issuer": url,
            "jwks_uri": url + JWKS_SUFFIX,
            "id_token_signing_alg_values_supported": list(ALGS),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "claims_supported": list(CLAIMS_SUPPORTED),
        }

    def jwks(self, name):
        issuer = self.get_issuer(name)
        self.count_and_fail(issuer, "jwks")
        with self.lock:
            return issuer.jwks()

    # ---- control API -----------------------------------------------------------------------------------

    def ctl_mint(self, req):
        body = req["json"]
        name = self.check_name(body.get("issuer"))
        claims = body.get("claims") or {}
        extra = body.get("header") or {}
        alg = body.get("alg") or "RS256"
        if not isinstance(claims, dict) or not isinstance(extra, dict):
            raise ApiError(400, "bad_request", "claims and header must be objects")
        if alg not in ("RS256", "ES256", "HS256", "none"):
            raise ApiError(400, "bad_request", f"unknown alg {alg!r}")
        issuer = self.get_issuer(name)
        claims = dict(claims)
        claims.setdefault("iss", self.issuer_url(name))
        with self.lock:
            key = issuer.keys["ES256" if alg == "ES256" else "RS256"][0]
        if alg in ("RS256", "ES256"):
            sign = key.sign
        elif alg == "HS256":
            # Algorithm confusion: HMAC keyed with public material a naive verifier might take as "the key".
            secret = key.modulus_bytes()
            sign = lambda data: hmac.new(secret, data, hashlib.sha256).digest()  # noqa: E731
        else:
            sign = lambda data: b""  # noqa: E731
        header = {"alg": alg, "typ": "JWT", "kid": body["kid"] if "kid" in body else key.kid, **extra}
        header = {k: v for k, v in header.items() if v is not None}  # null removes a field ("kid": null: no kid)
        return {"token": encode_jwt(header, claims, sign)}

    def ctl_rotate(self, req):
        body = req["json"]
        name = self.check_name(body.get("issuer"))
        alg = body.get("alg") or "RS256"
        if alg not in ALGS:
            raise ApiError(400, "bad_request", f"alg must be RS256 or ES256, not {alg!r}")
        issuer = self.get_issuer(name)
        key = new_key(alg)  # outside the lock
        with self.lock:
            old = issuer.keys[alg] if body.get("keepOld") else []
            issuer.keys[alg] = [key, *old]
        return {"kid": key.kid}

    def ctl_fail(self, req):
        body = req["json"]
        name = self.check_name(body.get("issuer"))
        status, times = body.get("status", 500), body.get("times", 1)
        target = body.get("target") or "both"
        if not isinstance(status, int) or not 100 <= status <= 599 or not isinstance(times, int) or times < 1:
            raise ApiError(400, "bad_request", "status must be an HTTP status and times a positive integer")
        if target not in ("discovery", "jwks", "both"):
            raise ApiError(400, "bad_request", "target must be discovery, jwks or both")
        issuer = self.get_issuer(name)
        with self.lock:
            issuer.failures.append({"status": status, "times": times, "target": target})
        return {}

    def ctl_stats(self, req):
        name = (req["query"].get("issuer") or [""])[0]
        self.check_name(name)
        with self.lock:
            issuer = self.issuers.get(name)  # an issuer never used has no counts, and is not created here
            return dict(issuer.stats) if issuer else {"discovery": 0, "jwks": 0}

    def ctl_keys(self, req):
        """Which kids are current: {"RS256": kid, "ES256": kid} (creates the issuer)."""
        name = self.check_name((req["query"].get("issuer") or [""])[0])
        issuer = self.get_issuer(name)
        with self.lock:
            return {"issuer": self.issuer_url(name), **{alg: issuer.keys[alg][0].kid for alg in ALGS}}

    def routes(self):
        return {
            ("POST", "/_fake/mint"): self.ctl_mint,
            ("POST", "/_fake/rotate"): self.ctl_rotate,
            ("POST", "/_fake/fail"): self.ctl_fail,
            ("GET", "/_fake/stats"): self.ctl_stats,
            ("GET", "/_fake/keys"): self.ctl_keys,
            ("GET", "/_fake/health"): lambda req: {"ok": True},
        }

    def handle(self, method, path, query, raw):
        """(status, body) for one request."""
        handler = self.routes().get((method, path))
        if handler is not None:
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise ApiError(400, "bad_request", "body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ApiError(400, "bad_request", "body must be a JSON object")
            return handler({"json": body, "query": parse_qs(query)})
        if method == "GET" and not path.startswith("/_fake/"):
            for suffix, document in ((DISCOVERY_SUFFIX, self.discovery), (JWKS_SUFFIX, self.jwks)):
                if path.endswith(suffix):
                    name = path[1:-len(suffix)]
                    if NAME_RE.match(name):
                        return document(name)
        raise ApiError(404, "not_found")


def make_handler(fake: FakeOidc):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
        server_version = "FakeOidc/1"

        def log_message(self, fmt, *args):  # our own line per request instead (see dispatch)
            pass

        def do_GET(self):
            self.dispatch("GET")

        def do_POST(self):
            self.dispatch("POST")

        def do_PUT(self):
            self.dispatch("PUT")

        def do_DELETE(self):
            self.dispatch("DELETE")

        def dispatch(self, method):
            url = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                status, answer = 200, fake.handle(method, url.path, url.query, raw)
            except ApiError as err:
                status, answer = err.status, err.body
            except Exception as err:  # a bug in the fake or a body of the wrong types: still answer in shape
                status, answer = 500, {"error": "internal", "message": f"{type(err).__name__}: {err}"}
            # Method and path only: tokens travel in bodies and answers, never in this line.
            sys.stderr.write(f"fake-oidc: {method} {url.path} {status}\n")
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the chosen port here")
    args = parser.parse_args(argv)

    fake = FakeOidc()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(fake))
    server.daemon_threads = True
    port = server.server_address[1]
    fake.base_url = f"http://127.0.0.1:{port}"
    if args.port_file:  # write then rename, so a reader never sees a half-written file
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"listening on {fake.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
