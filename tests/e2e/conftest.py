"""End-to-end fixtures: the worker under `wrangler dev` (real local D1, R2 and Durable Objects, a fresh
state folder per server) and the real `pulumi` CLI pointed at it.

The test command (scripts/test.sh) puts wrangler and pulumi on PATH and builds the worker once first.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_BUILD_FLAGS = "--no-opt --features faults"

# The users every e2e server knows. dev-org has one user per role; eve administers another org.
ADMIN_TOKEN = "tok-admin"
MEMBER_TOKEN = "tok-member"
VIEWER_TOKEN = "tok-viewer"
EVE_TOKEN = "tok-eve"
ORG = "dev-org"
EVE_ORG = "eve-org"

DEV_USERS = [
    {"token": MEMBER_TOKEN, "login": "mia", "org": ORG, "role": "member"},
    {"token": VIEWER_TOKEN, "login": "vic", "org": ORG, "role": "viewer"},
    {"token": EVE_TOKEN, "login": "eve", "org": EVE_ORG, "role": "admin"},
]

DEFAULT_VARS = {
    "PROCELLA_AUTH_MODE": "dev",
    "PROCELLA_DEV_AUTH_TOKEN": ADMIN_TOKEN,
    "PROCELLA_DEV_USER_LOGIN": "ada",
    "PROCELLA_DEV_ORG_LOGIN": ORG,
    "PROCELLA_DEV_USERS": json.dumps(DEV_USERS),
    # The suite sends far more than a person would with one token from one address; the limits themselves are
    # tested on servers of their own (test_rate_limits.py).
    "PROCELLA_RATE_LIMIT_PER_MINUTE": "1000000",
    "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE": "1000000",
    "PROCELLA_OIDC_EXCHANGES_PER_MINUTE": "1000000",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Reply:
    status: int
    headers: object  # case-insensitive (http.client.HTTPMessage)
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log: Path
    workdir: Path
    _cli_homes: list = field(default_factory=list)

    def request(self, method, path, token=None, body=None, raw=None, scheme="token", headers=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", "application/vnd.pulumi+8")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", f"{scheme} {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return Reply(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, e.headers, e.read())

    def sql(self, statement):
        """Runs SQL on the server's local D1 (to set up rows the API no longer creates)."""
        p = subprocess.run(
            ["wrangler", "d1", "execute", "DB", "--local", "--persist-to", str(self.workdir / "state"),
             "--command", statement, "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        return json.loads(p.stdout)[0]["results"]

    def log_text(self):
        return self.log.read_text(errors="replace")

    def log_mark(self):
        """A position in the server's log: `log_since(mark)` is what it logged after."""
        return self.log.stat().st_size

    def log_since(self, mark):
        """What the server logged after `mark`, its request lines shown as `METHOD path -> status (...)`."""
        with self.log.open("rb") as f:
            f.seek(mark)
            return request_lines(f.read().decode(errors="replace"))


def request_lines(text):
    """`text` with the worker's JSON request log lines (one per request: requestId, method, path, route, status,
    ms, bytesIn, org, actor) written as `METHOD path -> status (N bytes in, M ms)`, for tests to search."""
    out = []
    for line in text.splitlines():
        if line.startswith('{"'):
            try:
                r = json.loads(line)
                line = f"{r['method']} {r['path']} -> {r['status']} ({r['bytesIn']} bytes in, {r['ms']} ms)"
            except (ValueError, KeyError):
                pass
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def env_file(path, values):
    # .env syntax: single-quote values so JSON survives intact.
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))


def start_server(vars_, tmp: Path) -> Server:
    tmp.mkdir(parents=True, exist_ok=True)
    state = tmp / "state"
    envf = tmp / "test.env"
    env_file(envf, vars_)
    env = dict(os.environ)
    # The test build: no wasm-opt, and the fault switch (src/engine/faults.rs) compiled in.
    env.setdefault("PROCELLA_BUILD_FLAGS", TEST_BUILD_FLAGS)
    subprocess.run(
        ["wrangler", "d1", "migrations", "apply", "DB", "--local", "--persist-to", str(state)],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )
    # A port found free can be taken by another process before wrangler binds it; a start that loses that race
    # is tried again on a new port rather than failing the test.
    for attempt in range(3):
        server = launch(state, envf, env, tmp)
        try:
            return wait_until_up(server)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(RuntimeError):
    pass


def launch(state: Path, envf: Path, env, tmp: Path) -> Server:
    port = free_port()
    log = tmp / "wrangler.log"
    proc = subprocess.Popen(
        ["wrangler", "dev", "--local", "--ip", "127.0.0.1", "--port", str(port), "--persist-to", str(state),
         "--env-file", str(envf), "--show-interactive-dev-session=false", "--log-level", "log",
         # GET /__scheduled runs the Cron Trigger's handler (the audit log purge).
         "--test-scheduled"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    return Server(f"http://127.0.0.1:{port}", proc, log, tmp)


def wait_until_up(server: Server) -> Server:
    proc = server.proc
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            text = server.log_text()
            if "Address already in use" in text:
                raise PortTaken(f"wrangler dev lost its port:\n{text[-1000:]}")
            raise RuntimeError(f"wrangler dev exited early:\n{text[-3000:]}")
        try:
            with urllib.request.urlopen(server.url + "/api/capabilities", timeout=2):
                return server
        except Exception:
            time.sleep(0.3)
    stop_server(server)
    raise RuntimeError(f"wrangler dev did not answer in time:\n{server.log_text()[-3000:]}")


def stop_server(server: Server):
    try:
        os.killpg(server.proc.pid, 15)
        server.proc.wait(timeout=20)
    except Exception:
        try:
            os.killpg(server.proc.pid, 9)
        except Exception:
            pass


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = start_server(DEFAULT_VARS, tmp_path_factory.mktemp("server"))
    yield s
    try:
        # After every test of the suite has had its way with it, the shared server's state still holds together.
        import invariants
        broken = invariants.check(s, {ORG: ADMIN_TOKEN, EVE_ORG: EVE_TOKEN})
        assert broken == [], "the suite's server breaks the state invariants:\n" + "\n".join(broken)
    finally:
        stop_server(s)


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory):
    started = []

    def make(vars_):
        s = start_server(vars_, tmp_path_factory.mktemp("server"))
        started.append(s)
        return s

    yield make
    for s in started:
        stop_server(s)


# The CLIs the suite drives (scripts/versions.sh): the newest release, on PATH as `pulumi`, and the oldest supported.
NEWEST_CLI = "pulumi"
OLDEST_CLI = os.environ.get("PULUMI_OLDEST_BIN", "pulumi")
CLI_VERSIONS = {
    os.environ.get("PULUMI_VERSION", "newest"): NEWEST_CLI,
    os.environ.get("PULUMI_OLDEST_VERSION", "oldest"): OLDEST_CLI,
}


class Pulumi:
    """The real pulumi CLI, logged in to a server with one token, working in its own project folder."""

    def __init__(self, server, token: str, workdir: Path, project="webapp", binary=NEWEST_CLI):
        self.binary = binary
        self.server = server
        self.dir = workdir / "project"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\n")
        self.env = {
            **os.environ,
            "PULUMI_HOME": str(workdir / "home"),
            "PULUMI_BACKEND_URL": server.url if server is not None else f"file://{workdir / 'file-backend'}",
            "PULUMI_ACCESS_TOKEN": token,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK": "true",
            "NO_COLOR": "1",
        }

    def run(self, *args, check=True, timeout=180):
        p = subprocess.run(
            [self.binary, *args, "--non-interactive"], cwd=self.dir, env=self.env,
            capture_output=True, text=True, timeout=timeout,
        )
        if check and p.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def start(self, *args):
        """Runs the CLI in the background (its own process group, so a test can kill it like a crash)."""
        return subprocess.Popen(
            [self.binary, *args, "--non-interactive"], cwd=self.dir, env=self.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )


@pytest.fixture
def pulumi(server, tmp_path):
    def make(token=ADMIN_TOKEN, project="webapp", binary=NEWEST_CLI):
        return Pulumi(server, token, tmp_path / f"cli-{token}-{project}", project, binary)

    return make


_counter = [0]


@pytest.fixture
def unique():
    """A name no other test uses, so tests can share one server."""

    def make(prefix="s"):
        _counter[0] += 1
        return f"{prefix}{_counter[0]}-{os.getpid()}"

    return make


# ---- descope mode: the fake Descope (tests/fake_descope) and a worker pointed at it ----

DESCOPE_PROJECT = "P2procellaEdgeTests000000000"
DESCOPE_MANAGEMENT_KEY = "fake-management-key"
ENCRYPTION_KEY = "5f" * 32


class FakeServer:
    """A fake of an outside service, run as a subprocess: its URL, its process, and JSON calls to it."""

    what = "fake"

    def __init__(self, url, proc):
        self.url, self.proc = url, proc

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{self.what} {method} {path}: {e.code} {e.read()!r}")


def start_fake(cls, script: Path, args, tmp: Path):
    """Starts `script` on a free port (it writes the port to --port-file) and waits up to 30 s for it."""
    tmp.mkdir(parents=True, exist_ok=True)
    port_file = tmp / "port"
    log = (tmp / "fake.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--port-file", str(port_file), *args],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError(f"the {cls.what} did not start")
        time.sleep(0.1)
    return cls(f"http://127.0.0.1:{port_file.read_text().strip()}", proc)


def stop_fake(fake: FakeServer):
    fake.proc.terminate()
    fake.proc.wait(timeout=10)


class FakeDescope(FakeServer):
    what = "fake Descope"

    def access_key(self, **spec):
        """Registers an access key (see tests/fake_descope/README.md); returns (cleartext, id)."""
        k = self.call("POST", "/_fake/access-keys", spec)
        return k["cleartext"], k["id"]

    def stats(self):
        return self.call("GET", "/_fake/stats")


def start_fake_descope(tmp: Path) -> FakeDescope:
    return start_fake(FakeDescope, ROOT / "tests" / "fake_descope" / "fake_descope.py",
                      ["--project-id", DESCOPE_PROJECT, "--management-key", DESCOPE_MANAGEMENT_KEY], tmp)


def stop_fake_descope(fake: FakeDescope):
    stop_fake(fake)


@pytest.fixture(scope="session")
def fake_descope(tmp_path_factory):
    fake = start_fake_descope(tmp_path_factory.mktemp("descope"))
    yield fake
    stop_fake_descope(fake)


def descope_vars(fake, **extra):
    return {
        "PROCELLA_AUTH_MODE": "descope",
        "PROCELLA_DESCOPE_PROJECT_ID": DESCOPE_PROJECT,
        "PROCELLA_DESCOPE_BASE_URL": fake.url,
        "PROCELLA_DESCOPE_MANAGEMENT_KEY": DESCOPE_MANAGEMENT_KEY,
        "PROCELLA_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "PROCELLA_RATE_LIMIT_PER_MINUTE": "1000000",
        "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE": "1000000",
        "PROCELLA_OIDC_EXCHANGES_PER_MINUTE": "1000000",
        **extra,
    }


@pytest.fixture(scope="session")
def descope_server(fake_descope, server_factory):
    return server_factory(descope_vars(fake_descope))


# ---- OIDC token exchange: the fake OIDC issuer (tests/fake_oidc) ----


class FakeOidc(FakeServer):
    """The fake issuers' server. Each issuer `name` lives at `<url>/<name>` (see tests/fake_oidc/README.md)."""

    what = "fake OIDC issuer"

    def issuer(self, name):
        """The issuer URL of `name` (the `iss` of its tokens, the base of its discovery document)."""
        return f"{self.url}/{name}"

    def mint(self, name, claims, **opts):
        """A token from issuer `name`. opts: alg ("RS256", "ES256", "HS256", "none"), kid (None: no kid),
        header (extra header fields). `iss` is the issuer URL unless `claims` has one."""
        return self.call("POST", "/_fake/mint", {"issuer": name, "claims": claims, **opts})["token"]

    def rotate(self, name, alg="RS256", keep_old=False):
        """A new signing key for `alg`; the old one leaves the JWKS unless keep_old. Returns the new kid."""
        return self.call("POST", "/_fake/rotate", {"issuer": name, "alg": alg, "keepOld": keep_old})["kid"]

    def fail(self, name, status=500, times=1, target="both"):
        """The next `times` GETs of the discovery document and/or JWKS ("discovery", "jwks", "both") fail."""
        self.call("POST", "/_fake/fail", {"issuer": name, "status": status, "times": times, "target": target})

    def stats(self, name):
        """{"discovery": n, "jwks": n}: GETs of each document of issuer `name` so far."""
        return self.call("GET", f"/_fake/stats?issuer={urllib.parse.quote(name, safe='/')}")


def start_fake_oidc(tmp: Path) -> FakeOidc:
    return start_fake(FakeOidc, ROOT / "tests" / "fake_oidc" / "fake_oidc.py", [], tmp)


def stop_fake_oidc(fake: FakeOidc):
    stop_fake(fake)


@pytest.fixture(scope="session")
def fake_oidc(tmp_path_factory):
    fake = start_fake_oidc(tmp_path_factory.mktemp("oidc"))
    yield fake
    stop_fake_oidc(fake)


def github_claims(issuer, org, **overrides):
    """GitHub Actions-like ID token claims from `issuer` for Pulumi org `org`, valid from now for 5 minutes.
    `overrides` replace or add claims; a value of None removes the claim."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": f"urn:pulumi:org:{org}",
        "sub": "repo:acme/app:ref:refs/heads/main",
        "repository": "acme/app",
        "repository_owner": "acme",
        "repository_id": "123456",
        "ref": "refs/heads/main",
        "ref_type": "branch",
        "sha": os.urandom(20).hex(),
        "workflow": "deploy",
        "event_name": "push",
        "environment": "production",
        "actor": "octocat",
        "run_id": "42",
        "jti": os.urandom(16).hex(),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}
