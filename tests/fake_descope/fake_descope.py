#!/usr/bin/env python3
"""A local fake of the Descope HTTP API for end-to-end tests.

It serves the calls the worker makes (see /work/shared/docs/descope-api.md) with Descope's own paths, headers,
bodies, status codes and error bodies, plus a `/_fake/...` control API (no auth) that tests use to register keys
and users, mint hostile tokens, rotate the signing key, inject failures and read counters.

    python3 fake_descope.py --port 0 --project-id P2abc [--port-file F] [--management-key K]

Standard library HTTP server; the only dependency is the PyPI package `cryptography` (RSA).
State lives in memory behind one lock. Secrets (access keys, refresh tokens, the management key) are never logged:
the request log keeps the method, the path without its query and the Authorization scheme only.
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import secrets
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEFAULT_JWT_TTL = 600  # seconds; a Descope project setting (3 minutes to 4 weeks)
DEFAULT_REFRESH_TTL = 4 * 7 * 24 * 3600
EXCHANGE_PATH = "/v1/auth/accesskey/exchange"
KEYS_PREFIX = "/v2/keys/"

# Error codes. Those marked "sdk" are named in Descope's SDKs (go-sdk descope/errors.go, descope-swift
# DescopeError); the others are this fake's choice, since Descope does not publish them. Callers should branch
# on the HTTP status, not on these codes.
E_BAD_REQUEST = "E011001"  # sdk: malformed request (bad JSON)
E_INVALID_ARGS = "E011002"  # sdk: invalid / missing arguments
E_VALIDATION = "E011003"  # sdk: validation failure (unknown id, project mismatch)
E_USER_NOT_FOUND = "E112102"  # sdk: management, user not found
E_MISSING_ACCESS_KEY = "E062802"  # sdk (swift)
E_INVALID_ACCESS_KEY = "E062803"  # sdk (swift); NB E061103 is "too many OTP attempts"
E_RATE_LIMIT = "E130429"  # sdk / descope-api.md
E_UNAUTHORIZED_MGMT = "E011005"  # fake's choice: bad management key
E_INVALID_REFRESH = "E061301"  # fake's choice: unknown or expired refresh token
E_NOT_FOUND = "E011404"  # fake's choice: no such route


class ApiError(Exception):
    """An answer in Descope's error shape: {"errorCode", "errorDescription", "errorMessage"}."""

    def __init__(self, status, code, description, message="", headers=None):
        super().__init__(description)
        self.status = status
        self.body = {"errorCode": code, "errorDescription": description, "errorMessage": message or description}
        self.headers = headers or {}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_uint(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def b64url_json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def random_id(prefix: str, length: int = 27) -> str:
    """Descope-looking IDs: project P2…, access key K2…, signing key SK2…, user U2…."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


class SigningKey:
    """An RSA 2048 key pair with its JWKS entry."""

    def __init__(self, kid=None):
        self.kid = kid or random_id("SK2")
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self):
        numbers = self.private.public_key().public_numbers()
        return {"alg": "RS256", "kty": "RSA", "kid": self.kid, "n": b64url_uint(numbers.n),
                "e": b64url_uint(numbers.e), "use": "sig"}

    def sign_rs256(self, data: bytes) -> bytes:
        return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())

    def public_bytes(self, encoding) -> bytes:
        return self.private.public_key().public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)


def encode_jwt(header: dict, claims: dict, sign) -> str:
    """`sign` maps the signing input to signature bytes (b"" for alg none)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(claims)}".encode()
    return f"{signing_input.decode()}.{b64url(sign(signing_input))}"


def decode_claims(jwt: str):
    """The payload of one of our own tokens, without verification (we look it up in our own store first)."""
    try:
        payload = jwt.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None


def tenant_claim(tenants):
    """[{tenantId, roleNames}] -> {tenantId: {"roles": [...], "permissions": []}}."""
    return {t["tenantId"]: {"roles": list(t.get("roleNames") or []), "permissions": []} for t in tenants}


class GarbageAnswer(Exception):
    """An injected answer that is not JSON at all, with the given status (a proxy's error page, a truncated body)."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


class FakeDescope:
    """All state and every route. Handlers take (request) and return a JSON-able body or raise ApiError."""

    def __init__(self, project_id, management_key, auto_tenant_claim=False):
        self.lock = threading.Lock()
        self.project_id = project_id
        self.management_key = management_key
        self.auto_tenant_claim = auto_tenant_claim
        self.issuer = f"https://api.descope.com/{project_id}"
        self.jwks = [SigningKey()]  # jwks[0] signs; the rest are still served after a rotation
        self.foreign_key = SigningKey()  # never served: for "rs256-other-key" tokens
        self.access_keys = {}  # id -> record (public fields + private ones prefixed with "_")
        self.by_cleartext = {}  # cleartext -> id
        self.users = {}  # userId -> {userId, loginIds, email, name, userTenants, roleNames, dct}
        self.tenant_names = {}  # tenantId -> tenantName, learned from keys and users
        self.refresh_tokens = {}  # refreshJwt -> {"userId", "exp", "ttl", "dct", "iss", "aud"}
        self.failures = []  # injected failure rules, first match wins
        self.reset_stats()

    # ---- stats and failure injection -------------------------------------------------------------------

    def reset_stats(self):
        self.exchange_ok = {}  # keyId -> successful exchanges
        self.exchange_total = 0  # every exchange request, including rejected and injected failures
        self.keys_fetches = 0
        self.requests = []

    def record(self, method, path, auth_header):
        scheme = auth_header.split(" ", 1)[0] if auth_header else None
        entry = {"method": method, "path": path, "authHeaderScheme": scheme}
        with self.lock:
            self.requests.append(entry)
            if path == EXCHANGE_PATH:
                self.exchange_total += 1
            elif path.startswith(KEYS_PREFIX):
                self.keys_fetches += 1
        return entry

    def take_failure(self, path):
        """The first rule matching `path` (exact, "*", or a "prefix*"), its `times` counted down."""
        with self.lock:
            for rule in self.failures:
                p = rule["path"]
                if p == path or p == "*" or (p.endswith("*") and path.startswith(p[:-1])):
                    if rule["times"] is not None:
                        rule["times"] -= 1
                        if rule["times"] <= 0:
                            self.failures.remove(rule)
                    return dict(rule)
        return None

    # ---- token minting ---------------------------------------------------------------------------------

    def sign_with(self, key: SigningKey, claims, header_overrides=None):
        header = {"alg": "RS256", "kid": key.kid, "typ": "JWT", **(header_overrides or {})}
        return encode_jwt(header, claims, key.sign_rs256)

    def mint(self, claims):
        return self.sign_with(self.jwks[0], claims)

    def pick_dct(self, explicit, tenants):
        if explicit:
            return explicit
        if self.auto_tenant_claim and len(tenants) == 1:
            return tenants[0]["tenantId"]
        return None

    def access_key_claims(self, key, login_options):
        now = int(time.time())
        # Custom claims go first so they can never overwrite the reserved ones (sub, tenants, ...).
        claims = {**key["customClaims"], **(login_options.get("customClaims") or {})}
        claims.update({"sub": key["id"], "iss": key["_iss"] or self.issuer, "iat": now,
                       "exp": now + key["_jwtTtl"], "drn": "DS",
                       "roles": list(key["roleNames"]), "permissions": []})
        if key["_amr"] is not None:
            claims["amr"] = key["_amr"]
        if key["keyTenants"]:
            claims["tenants"] = tenant_claim(key["keyTenants"])
        selected = login_options.get("selectedTenant")
        if selected and selected not in {t["tenantId"] for t in key["keyTenants"]}:
            raise ApiError(400, E_VALIDATION, "Selected tenant is not associated with the access key")
        dct = self.pick_dct(selected or key["_dct"], key["keyTenants"])
        if dct:
            claims["dct"] = dct
        if key["_aud"] is not None:
            claims["aud"] = key["_aud"]
        if key["_nsec"] is not None:
            claims["nsec"] = key["_nsec"]
        return claims

    def user_session_claims(self, user, session):
        now = int(time.time())
        claims = {**session["customClaims"]}
        claims.update({"sub": user["userId"], "iss": session["iss"] or self.issuer, "iat": now,
                       "exp": now + session["ttl"], "amr": ["email"], "drn": "DS",
                       "roles": list(user["roleNames"]), "permissions": []})
        if user["userTenants"]:
            claims["tenants"] = tenant_claim(user["userTenants"])
        dct = self.pick_dct(session["dct"] or user["dct"], user["userTenants"])
        if dct:
            claims["dct"] = dct
        if session["aud"] is not None:
            claims["aud"] = session["aud"]
        return claims

    # ---- records ---------------------------------------------------------------------------------------

    def normalize_tenants(self, tenants):
        out = []
        for t in tenants or []:
            if not isinstance(t, dict) or not t.get("tenantId"):
                raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "keyTenants: tenantId is required")
            # Real Descope requires the tenant to exist; the fake learns tenants on first sight instead.
            name = t.get("tenantName") or self.tenant_names.get(t["tenantId"]) or t["tenantId"]
            self.tenant_names[t["tenantId"]] = name
            out.append({"tenantId": t["tenantId"], "tenantName": name, "roleNames": list(t.get("roleNames") or [])})
        return out

    def new_access_key(self, body, created_by):
        """Builds and stores a key record from a create body (management or control). Caller holds the lock."""
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "name is required")
        role_names = list(body.get("roleNames") or [])
        tenants = self.normalize_tenants(body.get("keyTenants") or body.get("tenants"))
        if role_names and tenants:
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument",
                           "an access key has project roles or tenants, not both")
        expire_time = body.get("expireTime") or 0
        if not isinstance(expire_time, int) or expire_time < 0:
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "expireTime must be epoch seconds or 0")
        custom_claims = body.get("customClaims") or {}
        if not isinstance(custom_claims, dict):
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "customClaims must be an object")
        key_id = body.get("id") or random_id("K2")
        cleartext = body.get("cleartext") or random_id("K2", 40)
        if key_id in self.access_keys or cleartext in self.by_cleartext:
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "access key id or cleartext already exists")
        key = {
            "id": key_id, "name": name, "roleNames": role_names, "keyTenants": tenants, "status": "active",
            "createdTime": int(time.time()), "expireTime": expire_time, "createdBy": created_by,
            "boundUserId": body.get("userId") or "", "customClaims": custom_claims,
            "description": body.get("description") or "", "permittedIps": list(body.get("permittedIps") or []),
            # Not part of Descope's key object: per-key JWT settings only the control API sets.
            "_cleartext": cleartext, "_jwtTtl": int(body.get("jwtTtl", DEFAULT_JWT_TTL)),
            "_iss": body.get("iss"), "_aud": body.get("aud"), "_dct": body.get("dct"), "_nsec": body.get("nsec"),
            # A JWT template may leave `amr` out; `"amr": null` makes this key's sessions carry none.
            "_amr": body.get("amr", ["accesskey"]),
        }
        self.access_keys[key_id] = key
        self.by_cleartext[cleartext] = key_id
        return key

    @staticmethod
    def key_view(key):
        return {k: v for k, v in key.items() if not k.startswith("_")}

    def user_view(self, user):
        return {"userId": user["userId"], "loginIds": list(user["loginIds"]), "email": user["email"],
                "name": user["name"], "phone": "", "verifiedEmail": bool(user["email"]), "verifiedPhone": False,
                "roleNames": list(user["roleNames"]), "userTenants": [dict(t) for t in user["userTenants"]],
                "status": "enabled", "createdTime": user["createdTime"], "customAttributes": {}, "test": False}

    # ---- auth headers ----------------------------------------------------------------------------------

    def bearer_secret(self, req, missing_code, missing_desc):
        """`Authorization: Bearer <projectId>:<secret>` -> secret; 401 when absent or for another project."""
        auth = req["headers"].get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, missing_code, missing_desc)
        pid, sep, secret = value.strip().partition(":")
        if not sep or pid != self.project_id or not secret:
            raise ApiError(401, missing_code, missing_desc, "project ID or secret does not match")
        return secret

    def require_management(self, req):
        secret = self.bearer_secret(req, E_UNAUTHORIZED_MGMT, "Unauthorized")
        if not hmac.compare_digest(secret.encode(), self.management_key.encode()):
            raise ApiError(401, E_UNAUTHORIZED_MGMT, "Unauthorized", "management key is not valid")

    # ---- Descope API -----------------------------------------------------------------------------------

    def get_keys(self, req):
        pid = req["path"][len(KEYS_PREFIX):]
        if pid != self.project_id:
            raise ApiError(400, E_VALIDATION, "Project not found", f"no project {pid!r}")
        with self.lock:
            return {"keys": [k.jwk() for k in self.jwks]}

    def exchange(self, req):
        secret = self.bearer_secret(req, E_INVALID_ACCESS_KEY, "Access key not valid")
        login_options = req["json"].get("loginOptions") or {}
        if not isinstance(login_options, dict):
            raise ApiError(400, E_BAD_REQUEST, "Bad request", "loginOptions must be an object")
        with self.lock:
            key = self.access_keys.get(self.by_cleartext.get(secret, ""))
            now = int(time.time())
            if key is None or key["status"] != "active" or (key["expireTime"] and key["expireTime"] <= now):
                raise ApiError(401, E_INVALID_ACCESS_KEY, "Access key not valid")
            if key["permittedIps"] and req["client_ip"] not in key["permittedIps"]:
                raise ApiError(401, E_INVALID_ACCESS_KEY, "Access key not valid", "IP address not permitted")
            claims = self.access_key_claims(key, login_options)
            jwt = self.mint(claims)
            self.exchange_ok[key["id"]] = self.exchange_ok.get(key["id"], 0) + 1
        return {"keyId": key["id"], "sessionJwt": jwt, "expiration": claims["exp"]}

    def refresh_session(self, req):
        """The user behind a refresh JWT; 401 unless we issued it, it is unexpired and its user still exists."""
        secret = self.bearer_secret(req, E_INVALID_REFRESH, "Invalid refresh token")
        record = self.refresh_tokens.get(secret)
        if record is None or record["exp"] <= time.time() or record["userId"] not in self.users:
            raise ApiError(401, E_INVALID_REFRESH, "Invalid refresh token")
        return secret, record, self.users[record["userId"]]

    def refresh(self, req):
        with self.lock:
            refresh_jwt, record, user = self.refresh_session(req)
            session_jwt = self.mint(self.user_session_claims(user, record))
            return {"sessionJwt": session_jwt, "refreshJwt": refresh_jwt, "cookieDomain": "", "cookiePath": "/",
                    "cookieMaxAge": int(record["exp"] - time.time()), "cookieExpiration": record["exp"],
                    "user": self.user_view(user), "firstSeen": False}

    def me(self, req):
        with self.lock:
            _, _, user = self.refresh_session(req)
            return self.user_view(user)

    def mgmt_create(self, req):
        self.require_management(req)
        body = req["json"]
        with self.lock:
            if body.get("userId") and body["userId"] not in self.users:
                raise ApiError(400, E_USER_NOT_FOUND, "User not found", f"no user {body['userId']!r}")
            # Only Descope's own create fields; per-key JWT settings are a control-API feature.
            fields = ("name", "expireTime", "roleNames", "keyTenants", "userId", "customClaims", "description",
                      "permittedIps")
            key = self.new_access_key({f: body[f] for f in fields if f in body}, "management-key")
            return {"cleartext": key["_cleartext"], "key": self.key_view(key)}

    def find_key(self, key_id):
        """Caller holds the lock."""
        if not key_id:
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "id is required")
        key = self.access_keys.get(key_id)
        if key is None:
            raise ApiError(400, E_VALIDATION, "Access key not found", f"no access key {key_id!r}")
        return key

    def mgmt_load(self, req):
        self.require_management(req)
        with self.lock:
            return {"key": self.key_view(self.find_key((req["query"].get("id") or [""])[0]))}

    def mgmt_search(self, req):
        self.require_management(req)
        tenant_ids = set(req["json"].get("tenantIds") or [])
        bound_user = req["json"].get("boundUserId") or ""
        with self.lock:
            keys = [self.key_view(k) for k in self.access_keys.values()
                    if (not tenant_ids or tenant_ids & {t["tenantId"] for t in k["keyTenants"]})
                    and (not bound_user or k["boundUserId"] == bound_user)]
        return {"keys": keys}

    def mgmt_update(self, req):
        self.require_management(req)
        with self.lock:
            key = self.find_key(req["json"].get("id"))
            if not req["json"].get("name"):
                raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "name is required")
            key["name"] = req["json"]["name"]
            return {"key": self.key_view(key)}

    def mgmt_set_status(self, status):
        def handler(req):
            self.require_management(req)
            with self.lock:
                self.find_key(req["json"].get("id"))["status"] = status
            return {}
        return handler

    def mgmt_delete(self, req):
        self.require_management(req)
        with self.lock:
            key = self.find_key(req["json"].get("id"))
            del self.access_keys[key["id"]]
            del self.by_cleartext[key["_cleartext"]]
        return {}

    def mgmt_rotate(self, req):
        """A new cleartext for the same key id; the old cleartext stops working at once."""
        self.require_management(req)
        with self.lock:
            key = self.find_key(req["json"].get("id"))
            del self.by_cleartext[key["_cleartext"]]
            key["_cleartext"] = random_id("K2", 40)
            self.by_cleartext[key["_cleartext"]] = key["id"]
            return {"cleartext": key["_cleartext"], "key": self.key_view(key)}

    # ---- control API (/_fake/...) ----------------------------------------------------------------------

    def ctl_access_keys(self, req):
        body = dict(req["json"])
        body.setdefault("name", "fake access key")
        with self.lock:
            key = self.new_access_key(body, "fake-control")
        return {"cleartext": key["_cleartext"], "id": key["id"]}

    def ctl_users(self, req):
        body = req["json"]
        if not body.get("userId"):
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument", "userId is required")
        login_ids = body.get("loginIds") or ([body["loginId"]] if body.get("loginId") else [body["userId"]])
        with self.lock:
            self.users[body["userId"]] = {
                "userId": body["userId"], "loginIds": login_ids, "email": body.get("email") or "",
                "name": body.get("name") or "", "roleNames": list(body.get("roleNames") or []),
                "userTenants": self.normalize_tenants(body.get("tenants")), "dct": body.get("dct"),
                "createdTime": int(time.time()),
            }
            return {"userId": body["userId"]}

    def ctl_sessions(self, req):
        body = req["json"]
        with self.lock:
            user = self.users.get(body.get("userId"))
            if user is None:
                raise ApiError(400, E_USER_NOT_FOUND, "User not found")
            now = int(time.time())
            session = {"userId": user["userId"], "ttl": int(body.get("ttl", DEFAULT_JWT_TTL)),
                       "dct": body.get("dct"), "iss": body.get("iss"), "aud": body.get("aud"),
                       "customClaims": body.get("customClaims") or {},
                       "exp": now + int(body.get("refreshTtl", DEFAULT_REFRESH_TTL))}
            refresh_jwt = self.mint({"sub": user["userId"], "iss": session["iss"] or self.issuer, "iat": now,
                                     "exp": session["exp"], "drn": "DSR", "amr": ["email"],
                                     "jti": secrets.token_hex(8)})
            self.refresh_tokens[refresh_jwt] = session
            return {"sessionJwt": self.mint(self.user_session_claims(user, session)), "refreshJwt": refresh_jwt}

    def ctl_jwt(self, req):
        """Arbitrary tokens for attack tests; claims are used exactly as given."""
        body = req["json"]
        claims = body.get("claims") or {}
        overrides = body.get("header") or {}
        sign = body.get("sign") or "rs256"
        with self.lock:
            current = self.jwks[0]
            if sign == "rs256":
                jwt = self.sign_with(current, claims, overrides)
            elif sign == "rs256-other-key":
                # Right kid (unless overridden), wrong key: a forgery the JWKS cannot verify.
                jwt = self.sign_with(self.foreign_key, claims, {"kid": current.kid, **overrides})
            elif sign == "none":
                header = {"alg": "none", "kid": current.kid, "typ": "JWT", **overrides}
                jwt = encode_jwt(header, claims, lambda _: b"")
            elif sign == "hs256-with-public-key":
                # Algorithm confusion: HMAC keyed with the public key a naive verifier would use as "the key".
                encoding = serialization.Encoding.DER if body.get("hmacKey") == "der" else serialization.Encoding.PEM
                secret = current.public_bytes(encoding)
                header = {"alg": "HS256", "kid": current.kid, "typ": "JWT", **overrides}
                jwt = encode_jwt(header, claims, lambda data: hmac.new(secret, data, hashlib.sha256).digest())
            else:
                raise ApiError(400, E_INVALID_ARGS, "Invalid argument", f"unknown sign mode {sign!r}")
        return {"jwt": jwt}

    def ctl_rotate(self, req):
        new_key = SigningKey()  # ~0.1 s: generated outside the lock
        with self.lock:
            self.jwks = [new_key] if req["json"].get("dropOld") else [new_key, *self.jwks]
        return {"kid": new_key.kid}

    def ctl_fail(self, req):
        body = req["json"]
        if not body.get("path") or (body.get("status") is None and not body.get("delaySeconds")
                                    and not body.get("garbage")):
            raise ApiError(400, E_INVALID_ARGS, "Invalid argument",
                           "path and status, delaySeconds or garbage are required")
        rule = {"path": body["path"], "status": body.get("status"), "retryAfter": body.get("retryAfter"),
                "delaySeconds": float(body.get("delaySeconds") or 0), "times": body.get("times"),
                "garbage": bool(body.get("garbage"))}
        with self.lock:
            self.failures.append(rule)
        return {}

    def ctl_clear_failures(self, req):
        with self.lock:
            self.failures.clear()
        return {}

    def ctl_stats(self, req):
        with self.lock:
            return {"exchange": dict(self.exchange_ok), "exchangeTotal": self.exchange_total,
                    "keys": self.keys_fetches, "requests": [dict(r) for r in self.requests]}

    def ctl_reset_stats(self, req):
        with self.lock:
            self.reset_stats()
        return {}

    def routes(self):
        return {
            ("POST", EXCHANGE_PATH): self.exchange,
            ("POST", "/v1/auth/refresh"): self.refresh,
            ("GET", "/v1/auth/me"): self.me,
            ("POST", "/v1/mgmt/accesskey/create"): self.mgmt_create,
            ("GET", "/v1/mgmt/accesskey"): self.mgmt_load,
            ("POST", "/v1/mgmt/accesskey/search"): self.mgmt_search,
            ("POST", "/v1/mgmt/accesskey/update"): self.mgmt_update,
            ("POST", "/v1/mgmt/accesskey/delete"): self.mgmt_delete,
            ("POST", "/v1/mgmt/accesskey/activate"): self.mgmt_set_status("active"),
            ("POST", "/v1/mgmt/accesskey/deactivate"): self.mgmt_set_status("inactive"),
            ("POST", "/v1/mgmt/accesskey/rotate"): self.mgmt_rotate,
            ("POST", "/_fake/access-keys"): self.ctl_access_keys,
            ("POST", "/_fake/users"): self.ctl_users,
            ("POST", "/_fake/sessions"): self.ctl_sessions,
            ("POST", "/_fake/jwt"): self.ctl_jwt,
            ("POST", "/_fake/rotate"): self.ctl_rotate,
            ("POST", "/_fake/fail"): self.ctl_fail,
            ("POST", "/_fake/clear-failures"): self.ctl_clear_failures,
            ("GET", "/_fake/stats"): self.ctl_stats,
            ("POST", "/_fake/reset-stats"): self.ctl_reset_stats,
            ("GET", "/_fake/health"): lambda req: {"ok": True},
        }


def make_handler(fake: FakeDescope, verbose: bool):
    routes = fake.routes()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
        server_version = "FakeDescope/1"

        def log_message(self, fmt, *args):  # the request line only: never headers, so never secrets
            if verbose:
                sys.stderr.write("fake-descope: " + (fmt % args) + "\n")

        def do_GET(self):
            self.dispatch("GET")

        def do_POST(self):
            self.dispatch("POST")

        def send_json(self, status, body, headers=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def dispatch(self, method):
            url = urlsplit(self.path)
            path = url.path
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            entry = None
            try:
                if not path.startswith("/_fake/"):
                    entry = fake.record(method, path, self.headers.get("Authorization"))
                    self.inject_failure(path)
                handler = routes.get((method, path))
                if handler is None and method == "GET" and path.startswith(KEYS_PREFIX):
                    handler = fake.get_keys
                if handler is None:
                    raise ApiError(404, E_NOT_FOUND, "Not found", f"no route {method} {path}")
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise ApiError(400, E_BAD_REQUEST, "Bad request", "body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise ApiError(400, E_BAD_REQUEST, "Bad request", "body must be a JSON object")
                req = {"path": path, "query": parse_qs(url.query), "headers": self.headers, "json": body,
                       "client_ip": self.client_address[0]}
                status, answer, headers = 200, handler(req), {}
            except GarbageAnswer as g:
                if entry is not None:
                    entry["status"] = g.status
                data = b"<html>upstream hiccup: this is not JSON</html>"
                self.send_response(g.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            except ApiError as err:
                status, answer, headers = err.status, err.body, err.headers
            except Exception as err:  # a bug in the fake or a body of the wrong types: still answer in shape
                status, headers = 500, {}
                answer = ApiError(500, "E010500", "Internal error", f"{type(err).__name__}: {err}").body
            if entry is not None:
                entry["status"] = status
            self.send_json(status, answer, headers)

        @staticmethod
        def inject_failure(path):
            rule = fake.take_failure(path)
            if rule is None:
                return
            if rule["delaySeconds"]:
                time.sleep(rule["delaySeconds"])
            if rule["garbage"]:
                raise GarbageAnswer(rule["status"] or 200)
            status = rule["status"]
            if status is None:  # delay only: then answer normally
                return
            headers = {}
            if status == 429 or rule["retryAfter"] is not None:
                headers["Retry-After"] = str(rule["retryAfter"] if rule["retryAfter"] is not None else 1)
            if status == 429:
                raise ApiError(429, E_RATE_LIMIT, "Rate limit exceeded", "too many requests", headers)
            raise ApiError(status, f"E{status:06d}", "Injected failure", f"fake failure {status}", headers)

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--project-id", default="P2fakeprojectidforlocaltests")
    parser.add_argument("--management-key", default="fake-management-key")
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument("--auto-tenant-claim", action="store_true",
                        help="like Descope's autoTenantClaim: set dct when a key or user has exactly one tenant")
    parser.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    args = parser.parse_args(argv)

    fake = FakeDescope(args.project_id, args.management_key, args.auto_tenant_claim)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(fake, args.verbose))
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:  # write then rename, so a reader never sees a half-written file
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
