"""Benchmarks of Procella Edge as its users feel it. Each figure is a ratio against a reference measured in the
same run (this machine is noisy): the unauthenticated floor for request overhead, the file backend for `pulumi up`,
whole checkpoints for delta uploads. Prints one table; `--out FILE` also writes it as Markdown.

Run through `scripts/bench.sh` (which installs the tools and builds the optimized worker). Sections:
  overhead   request latency of authenticated reads vs GET /api/capabilities
  descope    descope mode against the fake Descope: a cached access key vs an uncached one
  oidc       OIDC token exchange against the fake issuer (cold and cached keys), and reads with the exchanged token
  up         `pulumi up` of N resources with checkpoints (journaling off): this backend vs `pulumi login file://`,
             and checkpoint bytes delta vs full
  journal    `pulumi up` and `pulumi destroy` of N resources, interleaved: journaling (the default), checkpoints
             (PROCELLA_JOURNALING=false) and the file backend; the worker's time per `journalentries` call
  large      import and export of a 20 MB state, with the worker process's peak memory
  size       the deployable wasm, raw and gzipped (`wrangler deploy --dry-run`)
  native     hot paths measured natively (`cargo bench --bench hot_paths`)
"""

import argparse
import gzip
import hashlib
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from conftest import ADMIN_TOKEN, DEFAULT_VARS, ORG, start_server, stop_server  # noqa: E402

rows = []  # (figure, measured, reference, ratio, target, verdict)


def row(figure, measured, reference="", ratio="", target="", met=None):
    verdict = "" if met is None else ("met" if met else "NOT met")
    rows.append((figure, measured, reference, ratio, target, verdict))
    print(f"  {figure}: {measured} | {reference} | {ratio} | {target} {verdict}", flush=True)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


# ---- 1. request overhead -------------------------------------------------------------------------------------

def overhead(server, n):
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    project, stack = "bench", "overhead"
    conn.request("POST", f"/api/stacks/{ORG}/{project}", json.dumps({"stackName": stack}),
                 {"Authorization": f"token {ADMIN_TOKEN}", "Content-Type": "application/json"})
    conn.getresponse().read()
    paths = {
        "capabilities": ("/api/capabilities", None),
        "user": ("/api/user", ADMIN_TOKEN),
        "stack": (f"/api/stacks/{ORG}/{project}/{stack}", ADMIN_TOKEN),
    }
    times = {k: [] for k in paths}
    for i in range(n + 20):  # interleaved, so drift affects all three alike; the first 20 warm up
        for k, (path, tok) in paths.items():
            h = {"Authorization": f"token {tok}"} if tok else {}
            t = time.perf_counter()
            conn.request("GET", path, headers=h)
            r = conn.getresponse()
            r.read()
            dt = (time.perf_counter() - t) * 1000
            assert r.status == 200, (path, r.status)
            if i >= 20:
                times[k].append(dt)
    base_med, base_p95 = statistics.median(times["capabilities"]), pct(times["capabilities"], 95)
    row("GET /api/capabilities (floor), ms p50/p95", f"{base_med:.2f} / {base_p95:.2f}")
    for k, label in (("stack", "GET /api/stacks/{org}/{project}/{stack}"), ("user", "GET /api/user")):
        med, p95 = statistics.median(times[k]), pct(times[k], 95)
        ratio = med / base_med
        row(f"{label}, ms p50/p95", f"{med:.2f} / {p95:.2f}", f"{base_med:.2f} / {base_p95:.2f}",
            f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5)


# ---- 1b. descope mode: a cached access key vs an uncached one ---------------------------------------------------

def descope(tmp, n):
    from conftest import descope_vars, start_fake_descope, stop_fake_descope

    (tmp / "fake-descope").mkdir()
    fake = start_fake_descope(tmp / "fake-descope")
    server = start_server(descope_vars(fake), tmp / "descope-server")
    try:
        host, port = server.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)

        def get(path, token=None):
            h = {"Authorization": f"token {token}"} if token else {}
            t = time.perf_counter()
            conn.request("GET", path, headers=h)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, (path, r.status)
            return (time.perf_counter() - t) * 1000

        def key():
            return fake.access_key(tenants=[{"tenantId": "T1", "roleNames": ["admin"]}],
                                   customClaims={"procellaOrgs": {"T1": "acme"}})[0]

        warm = key()
        for _ in range(20):
            get("/api/user", warm), get("/api/capabilities")
        cold_keys = [key() for _ in range(n)]
        floor, cached, uncached = [], [], []
        for k in cold_keys:
            floor.append(get("/api/capabilities"))
            cached.append(get("/api/user", warm))
            uncached.append(get("/api/user", k))
        f, c, u = (statistics.median(x) for x in (floor, cached, uncached))
        row("descope: GET /api/capabilities (floor), ms p50", f"{f:.2f}")
        row("descope: GET /api/user, cached access key, ms p50/p95", f"{c:.2f} / {pct(cached, 95):.2f}",
            f"{f:.2f} floor", f"{c / f:.2f}x")
        row("descope: GET /api/user, uncached key (exchange + JWKS-cached RS256 verify), ms p50/p95",
            f"{u:.2f} / {pct(uncached, 95):.2f}", f"{c:.2f} cached", f"+{u - c:.2f} ms")
        exchanges = fake.stats()["exchangeTotal"]
        row("descope: exchanges seen by the fake for the run", f"{exchanges}", f"{n + 1} keys used", "")
    finally:
        stop_server(server)
        stop_fake_descope(fake)


# ---- 1b'. OIDC token exchange ------------------------------------------------------------------------------------

def oidc(server, tmp, n):
    """The exchange with the issuer's keys fetched (discovery + JWKS) and cached, and what a read with the
    exchanged token costs (its first use reads D1; later ones come from the isolate) against a dev token."""
    import urllib.parse
    from conftest import github_claims, start_fake_oidc, stop_fake_oidc

    (tmp / "fake-oidc").mkdir()
    fake = start_fake_oidc(tmp / "fake-oidc")
    try:
        name = "bench-gh"
        body = {"name": name, "url": fake.issuer(name),
                "policies": [{"role": "member", "claims": {"repository": "acme/app"}}]}
        assert server.request("POST", f"/api/orgs/{ORG}/oidc/issuers", ADMIN_TOKEN, body).status == 201
        host, port = server.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=30)

        def call(method, path, token=None, form=None):
            h = {"Authorization": f"token {token}"} if token else {}
            data = None
            if form is not None:
                data = urllib.parse.urlencode(form).encode()
                h["Content-Type"] = "application/x-www-form-urlencoded"
            t = time.perf_counter()
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            out = r.read()
            assert r.status == 200, (path, r.status, out[:200])
            return (time.perf_counter() - t) * 1000, out

        def exchange():
            form = {"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "audience": f"urn:pulumi:org:{ORG}", "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
                    "subject_token": fake.mint(name, github_claims(fake.issuer(name), ORG)), "expiration": "3600"}
            ms, out = call("POST", "/api/oauth/token", form=form)
            return ms, json.loads(out)["access_token"]

        cold, _ = exchange()
        warm, tokens = [], []
        for _ in range(n):
            ms, token = exchange()
            warm.append(ms)
            tokens.append(token)
        floor, dev, first, cached = [], [], [], []
        for token in tokens:
            floor.append(call("GET", "/api/capabilities")[0])
            dev.append(call("GET", "/api/user", ADMIN_TOKEN)[0])
            first.append(call("GET", "/api/user", token)[0])
            cached.append(call("GET", "/api/user", token)[0])
        f, d, fi, c, w = (statistics.median(x) for x in (floor, dev, first, cached, warm))
        row("oidc: GET /api/capabilities (floor), ms p50", f"{f:.2f}")
        row("oidc: exchange, keys not yet fetched (discovery + JWKS + verify + D1 insert), ms", f"{cold:.2f}",
            f"{w:.2f} keys cached", f"+{cold - w:.2f} ms")
        row("oidc: exchange, keys cached (RS256 verify, policy, D1 insert), ms p50/p95", f"{w:.2f} / {pct(warm, 95):.2f}",
            f"{f:.2f} floor", f"{w / f:.2f}x")
        row("oidc: GET /api/user, exchanged token's first use (one D1 read), ms p50/p95",
            f"{fi:.2f} / {pct(first, 95):.2f}", f"{d:.2f} dev token", f"{fi / d:.2f}x")
        row("oidc: GET /api/user, exchanged token warm (from the isolate), ms p50/p95",
            f"{c:.2f} / {pct(cached, 95):.2f}", f"{d:.2f} dev token", f"{c / d:.2f}x")
        stats = fake.stats(name)
        row("oidc: issuer documents fetched for the run (discovery / JWKS)", f"{stats['discovery']} / {stats['jwks']}",
            f"{n + 1} exchanges", "")
    finally:
        stop_fake_oidc(fake)


# ---- 1c. rate limits at their defaults --------------------------------------------------------------------------

def limits(tmp):
    """Requests until a 429 per token and per client IP, and Descope exchanges per junk access key."""
    from conftest import descope_vars, start_fake_descope, stop_fake_descope

    defaults = {k: v for k, v in DEFAULT_VARS.items() if "PER_MINUTE" not in k}
    server = start_server(defaults, tmp / "limits-server")
    (tmp / "limits-descope").mkdir()
    fake = start_fake_descope(tmp / "limits-descope")
    dserver = start_server({k: v for k, v in descope_vars(fake).items() if "PER_MINUTE" not in k}, tmp / "limits-d")
    try:
        # Both counts start in a fresh minute (the windows follow the clock).
        left = 60 - time.time() % 60
        if left < 30:
            time.sleep(left + 0.5)

        def until_429(srv, token, ip, most=500):
            for n in range(most):
                r = srv.request("GET", "/api/user", token, headers={"CF-Connecting-IP": ip})
                if r.status == 429:
                    return n, r.headers.get("Retry-After")
            return most, None

        n, retry = until_429(server, ADMIN_TOKEN, "192.0.2.1")
        row("rate limit: requests with one token answered before its first 429 (default 100/min)", f"{n}",
            f"Retry-After {retry} s", "", "100", n == 100)
        for i in range(500):
            r = server.request("GET", "/api/user", f"junk-{i}", headers={"CF-Connecting-IP": "192.0.2.2"})
            if r.status == 429:
                break
        row("rate limit: failed authentications from one IP before its first 429 (default 20/min)", f"{i}",
            f"Retry-After {r.headers.get('Retry-After')} s", "", "20", i == 20)
        before = fake.stats()["exchangeTotal"]
        junk = [f"K2junk{i:04d}" for i in range(50)]
        for _ in range(3):
            for j, key in enumerate(junk):
                dserver.request("GET", "/api/user", key, headers={"CF-Connecting-IP": f"198.18.{j // 250}.{j % 250}"})
        spent = fake.stats()["exchangeTotal"] - before
        row("descope: exchanges per junk access key, each sent 3 times within a minute (50 keys, own IPs)",
            f"{spent / len(junk):.2f}", f"{spent} exchanges for {3 * len(junk)} requests", "", "<= 1", spent <= len(junk))
        before = fake.stats()["exchangeTotal"]
        answered = [dserver.request("GET", "/api/user", f"K2flood{i:04d}", headers={"CF-Connecting-IP": "198.18.9.9"}).status
                    for i in range(100)]
        spent = fake.stats()["exchangeTotal"] - before
        row("descope: 100 junk access keys from one IP: exchanges reaching Descope", f"{spent}",
            f"{answered.count(429)} answered 429", "", "", None)
    finally:
        stop_server(server)
        stop_server(dserver)
        stop_fake_descope(fake)


# ---- 1e. load: many stacks, one stack, many reads ----------------------------------------------------------------

def load(main_server, tmp, resources=100, reads=10_000, concurrency=32):
    """8 concurrent ups of `resources` on 8 stacks in two orgs (each compared with the file backend), 8 concurrent
    ups on one stack, and `reads` authenticated reads at `concurrency`, dev and descope mode mixed."""
    from concurrent.futures import ThreadPoolExecutor

    import invariants
    from conftest import EVE_ORG, EVE_TOKEN, descope_vars, start_fake_descope, stop_fake_descope
    from test_load import clis_on_one_stack, items
    from twins import Twins

    cli = "pulumi"
    tokens = {ORG: ADMIN_TOKEN, EVE_ORG: EVE_TOKEN}
    twins = []
    for k in range(8):
        org, token = (ORG, ADMIN_TOKEN) if k % 2 == 0 else (EVE_ORG, EVE_TOKEN)
        t = Twins(main_server, tmp / f"load-t{k}", f"load{k}", "dev", cli, token=token, org=org)
        t.program(items(resources, f"s{k}"))
        twins.append(t)
    started = time.time()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: t.svc.run("up", "--yes", "--skip-preview", timeout=1800), twins))
    took = time.time() - started
    for t in twins:
        t.ref.run("up", "--yes", "--skip-preview", timeout=1800)
    same = 0
    for t in twins:
        try:
            t.assert_same_state()
            same += 1
        except AssertionError as e:
            print(str(e)[:500])
    row(f"load: 8 concurrent pulumi up of {resources} resources on 8 stacks in 2 orgs", f"{took:.1f} s",
        f"{same}/8 states equal the file backend's", "", "8/8", same == 8)

    (tmp / "load-one").mkdir()
    clis = clis_on_one_stack(main_server, tmp / "load-one", "loadone", resources, binary=cli)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda p: p.run("up", "--yes", "--skip-preview", check=False, timeout=1800), clis))
    ran = sum(r.returncode == 0 for r in results)
    refused = sum(r.returncode != 0 and "another update is currently in progress" in (r.stdout + r.stderr).lower()
                  for r in results)
    row("load: 8 concurrent pulumi up on one stack", f"{ran} ran, {refused} told another update is in progress",
        "", "", "every other one refused so", ran + refused == 8 and ran >= 1)
    broken = invariants.check(main_server, tokens)
    row("load: state invariants after both", "hold" if not broken else "; ".join(broken)[:300], "", "", "",
        not broken)

    (tmp / "load-descope").mkdir()
    fake = start_fake_descope(tmp / "load-descope")
    dserver = start_server(descope_vars(fake), tmp / "load-descope-server")
    try:
        key, _ = fake.access_key(tenants=[{"tenantId": "T-acme", "roleNames": ["admin"]}],
                                 customClaims={"procellaOrgs": {"T-acme": "acme"}})
        assert dserver.request("POST", "/api/stacks/acme/reads", key, {"stackName": "s"}).status == 200
        assert main_server.request("POST", f"/api/stacks/{ORG}/reads", ADMIN_TOKEN, {"stackName": "s"}).status == 200
        targets = [(main_server, ADMIN_TOKEN, f"/api/stacks/{ORG}/reads/s"), (main_server, ADMIN_TOKEN, "/api/user"),
                   (dserver, key, "/api/stacks/acme/reads/s"), (dserver, key, "/api/user")]

        def read(i):
            srv, token, path = targets[i % len(targets)]
            t = time.perf_counter()
            status = srv.request("GET", path, token).status
            return status, (time.perf_counter() - t) * 1000

        started = time.time()
        with ThreadPoolExecutor(concurrency) as pool:
            out = list(pool.map(read, range(reads)))
        took = time.time() - started
        errors = sum(s != 200 for s, _ in out)
        ms = [m for _, m in out]
        row(f"load: {reads} authenticated reads at concurrency {concurrency}, dev and descope mixed, ms p50/p99",
            f"{statistics.median(ms):.1f} / {pct(ms, 99):.1f}", f"{errors} errors, {reads / took:.0f} reads/s", "",
            "0 errors", errors == 0)
    finally:
        stop_server(dserver)
        stop_fake_descope(fake)


# ---- 1d. generated hostile input ----------------------------------------------------------------------------

def fuzzing(tmp, n, seed_value):
    """tests/e2e/fuzz.py at length: counts by route and status, no 5xx, hang, malformed error or leak."""
    from collections import Counter

    import fuzz

    server = start_server(DEFAULT_VARS, tmp / "fuzz-server")
    try:
        fuzz.setup(server)
        stats = Counter()
        print(f"fuzz seed {seed_value} (replay: FUZZ_SEED={seed_value} FUZZ_REQUESTS={n} scripts/test.sh -k fuzz)",
              flush=True)
        started = time.time()
        failure = ""
        try:
            fuzz.run(server.url, n, seed_value, stats)
        except AssertionError as e:
            failure = str(e).splitlines()[0][:300]
        total = sum(stats.values())
        by_status = Counter()
        for (_, _, status), k in stats.items():
            by_status[status] += k
        row(f"fuzz: requests sent (seed {seed_value})", f"{total}", f"{time.time() - started:.0f} s", "",
            f">= {n}, no 5xx", total >= n and not failure and all(s < 500 for s in by_status))
        row("fuzz: answers by status", ", ".join(f"{s}: {k}" for s, k in sorted(by_status.items())))
        by_route = Counter()
        for (method, route, status), k in stats.items():
            by_route[(method, route)] += k
        for (method, route), k in sorted(by_route.items(), key=lambda x: -x[1]):
            statuses = ", ".join(f"{s}: {c}" for (m, r, s), c in sorted(stats.items()) if (m, r) == (method, route))
            row(f"fuzz: {method} {route}", f"{k}", statuses)
        if failure:
            row("fuzz: FAILED", failure)
    finally:
        stop_server(server)


# ---- 2 and 3. pulumi up ----------------------------------------------------------------------------------------

def live(server, tmp, steps=20):
    """The live view's delay: a `pulumi up` of `steps` one-second resources in a row, watched in headless Chromium;
    for each event that reached the page through the stream, its arrival less the CLI's timestamp for it."""
    from playwright.sync_api import sync_playwright

    from browser import launch
    from twins import wait_until
    item = "procella-test:index:Item"
    p = new_stack_dir(tmp / "live", server, "live")
    body = "".join(f"  r{i}:\n    type: {item}\n    properties:\n      value: v{i}\n      sleepSeconds: 1\n"
                   + (f"    options:\n      dependsOn:\n        - ${{r{i - 1}}}\n" if i else "") for i in range(steps))
    (p.dir / "Pulumi.yaml").write_text(f"name: live\nruntime: yaml\nresources:\n{body}")
    stack = f"{ORG}/live/dev"
    p.run("stack", "init", stack)
    cli = p.start("up", "--yes", "--skip-preview")
    active = []
    wait_until(lambda: active.append(server.request("GET", f"/api/stacks/{stack}", ADMIN_TOKEN).json()["activeUpdate"])
               or active[-1], 60, "the update to start")
    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        page.goto(server.url + "/")
        page.fill("#dev-token", ADMIN_TOKEN)
        page.click("#sign-in")
        page.goto(f"{server.url}/stacks/{stack}/updates/{active[-1]}")
        page.wait_for_selector("#live-status[data-state=live]")
        cli.wait(timeout=300)
        page.wait_for_selector("#live-status[data-state=ended]", timeout=60000)
        delays = page.evaluate("""() => [...document.querySelectorAll('[data-testid=event-row][data-via=live]')]
            .filter(r => r.dataset.timestamp).map(r => Number(r.dataset.arrived) - 1000 * Number(r.dataset.timestamp))""")
        shown = page.locator("[data-testid=event-row]").count()
        browser.close()
    row(f"live view: CLI event to the page, ms p50/p90 ({len(delays)} of {shown} events arrived live; "
        "event timestamps are whole seconds)", f"{pct(delays, 50):.0f} / {pct(delays, 90):.0f}",
        f"{steps} one-second steps", "", "within a second", pct(delays, 50) < 1000)


def new_stack_dir(tmp, server, project):
    from conftest import Pulumi
    p = Pulumi(server, ADMIN_TOKEN, tmp, project=project)
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp / "provider")
    (tmp / "provider").mkdir(parents=True, exist_ok=True)
    return p


def program(dirpath, project, n):
    res = "".join(
        f"  item{i}:\n    type: procella-test:index:Item\n    properties:\n      value: v{i}\n" for i in range(n))
    (dirpath / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\nresources:\n{res}")


def cli_env(home, backend, token=None):
    env = {**os.environ, "PULUMI_HOME": str(home), "PULUMI_BACKEND_URL": backend, "PULUMI_SKIP_UPDATE_CHECK": "true",
           "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true", "PULUMI_CONFIG_PASSPHRASE": "bench",
           "PROCELLA_TEST_PROVIDER_STATE": str(home / "provider"), "NO_COLOR": "1"}
    if token:
        env["PULUMI_ACCESS_TOKEN"] = token
    (home / "provider").mkdir(parents=True, exist_ok=True)
    return env


def new_stack(tmp, backend, n, stack, token=None):
    """A fresh project of `n` Items and CLI home, with `stack` initialized: returns a function running the CLI."""
    work = Path(tempfile.mkdtemp(dir=tmp))
    project = stack.split("/")[-2] if "/" in stack else "bench"
    program(work, project, n)
    env = cli_env(work / "home", backend, token)

    def run(*a):
        p = subprocess.run(["pulumi", *a, "--non-interactive"], cwd=work, env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(a)} on {backend} failed ({p.returncode}):\n"
                               f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        return p

    run("stack", "init", stack)
    return run


def timed(run, *args):
    t = time.perf_counter()
    run(*args)
    return time.perf_counter() - t


def timed_up(tmp, backend, n, stack, token=None):
    return timed(new_stack(tmp, backend, n, stack, token), "up", "--yes", "--skip-preview")


BYTES = re.compile(r"PATCH \S+/update/\S+/(checkpoint\w*) -> (\d+) \((\d+) bytes in")


def checkpoint_bytes(server, since):
    text = server.log_since(since)
    total, calls = 0, {}
    for route, status, n in BYTES.findall(text):
        total += int(n)
        calls[f"{route} {status}"] = calls.get(f"{route} {status}", 0) + 1
    return total, calls


def ups(delta_server, full_server, sizes, tmp):
    ratios = {}
    for n in sizes:
        file_dir = Path(tempfile.mkdtemp(dir=tmp))
        t_file = timed_up(tmp, f"file://{file_dir}", n, f"bench{n}")
        mark = len(delta_server.log.read_bytes())
        t_edge = timed_up(tmp, delta_server.url, n, f"{ORG}/bench{n}/up", ADMIN_TOKEN)
        sent, calls = checkpoint_bytes(delta_server, mark)
        ratio = t_edge / t_file
        ratios[n] = ratio
        target = "<= 1.2x" if n == 100 else ""
        row(f"pulumi up, {n} resources, checkpoints (delta), s", f"{t_edge:.2f}", f"{t_file:.2f} (file backend)", f"{ratio:.2f}x",
            target, ratio <= 1.2 if n == 100 else None)
        if n == max(sizes):
            mark = len(full_server.log.read_bytes())
            t_full = timed_up(tmp, full_server.url, n, f"{ORG}/bench{n}/full", ADMIN_TOKEN)
            full, full_calls = checkpoint_bytes(full_server, mark)
            share = sent / full if full else float("nan")
            row(f"checkpoint bytes uploaded, {n}-resource up (gzip on the wire)",
                f"{sent:,} delta", f"{full:,} full", f"{share:.1%}", "< 10%", share < 0.10)
            row(f"  requests: delta server {calls}; full server {full_calls}; full up took {t_full:.2f} s", "")
    if len(sizes) > 1:
        growth = ", ".join(f"{n}: {r:.2f}x" for n, r in ratios.items())
        row("ratio to file backend as programs grow", growth)


# ---- 3b. journaling: up and destroy, three ways ------------------------------------------------------------------

JOURNAL_CALL = re.compile(r"PATCH \S+/update/\S+/journalentries -> (\d+) \((\d+) bytes in, (\d+) ms\)")
WORKER_CALL = re.compile(r"(\w+) (/api/\S+) -> (\d+) \(\d+ bytes in, (\d+) ms\)")
MODES = ("journaling", "checkpoints", "file")


def route_of(path):
    """The route of a logged path, IDs dropped: `PATCH .../update/{id}/journalentries` → `update/journalentries`."""
    parts = path.split("?")[0].split("/")[2:]
    if "update" in parts or "destroy" in parts:
        i = max(parts.index(k) for k in ("update", "destroy") if k in parts)
        return "/".join([parts[i]] + parts[i + 2:])
    if parts[:1] == ["stacks"] and len(parts) >= 4:
        return "/".join(["stacks/{stack}"] + parts[4:])
    return "/".join(parts)


def worker_profile(text):
    """Calls and summed worker ms per route in a slice of the server log."""
    prof = {}
    for method, path, status, ms in WORKER_CALL.findall(text):
        k = f"{method} {route_of(path)} {status}"
        calls, total = prof.get(k, (0, 0))
        prof[k] = (calls + 1, total + int(ms))
    return prof


def journal(journal_server, checkpoint_server, sizes, repeats, tmp):
    """`pulumi up` then `pulumi destroy` of the same stack, each size run `repeats` times per mode, the modes
    interleaved (and rotated per repeat) so drift on this noisy machine hits all three alike."""
    times = {}  # (n, mode, op) -> [s]
    calls = {}  # n -> [(status, bytes in, ms)] of the journaling server's journalentries during the ups
    profiles = {}  # n -> worker profile of the last journaling up
    for n in sizes:
        reps = repeats or (1 if n >= 1000 else 3)
        for r in range(reps):
            for mode in MODES[r % 3:] + MODES[:r % 3]:
                if mode == "file":
                    file_dir = Path(tempfile.mkdtemp(dir=tmp))
                    run = new_stack(tmp, f"file://{file_dir}", n, f"jbench{n}")
                else:
                    server = journal_server if mode == "journaling" else checkpoint_server
                    run = new_stack(tmp, server.url, n, f"{ORG}/jbench{n}/{mode}{r}", ADMIN_TOKEN)
                    mark = server.log_mark()
                t_up = timed(run, "up", "--yes", "--skip-preview")
                if mode == "journaling":
                    time.sleep(0.2)  # the log line of the last call is flushed after its response
                    text = journal_server.log_since(mark)
                    calls.setdefault(n, []).extend((int(a), int(b), int(c)) for a, b, c in JOURNAL_CALL.findall(text))
                    profiles[n] = (t_up, worker_profile(text))
                t_down = timed(run, "destroy", "--yes", "--skip-preview")
                times.setdefault((n, mode, "up"), []).append(t_up)
                times.setdefault((n, mode, "destroy"), []).append(t_down)
                print(f"    {n} resources, {mode}: up {t_up:.2f} s, destroy {t_down:.2f} s", flush=True)

    targets = {1000: 0.3, 100: 1.6}
    for n in sizes:
        reps = len(times[(n, "file", "up")])
        for op in ("up", "destroy"):
            file_t = statistics.median(times[(n, "file", op)])
            j = statistics.median(times[(n, "journaling", op)])
            c = statistics.median(times[(n, "checkpoints", op)])
            limit = targets.get(n) if op == "up" else None
            row(f"pulumi {op}, {n} resources, journaling, s (median of {reps})", f"{j:.2f}",
                f"{file_t:.2f} (file backend)", f"{j / file_t:.2f}x", f"<= {limit}x" if limit else "",
                j / file_t <= limit if limit else None)
            row(f"pulumi {op}, {n} resources, checkpoints (PROCELLA_JOURNALING=false), s (median of {reps})",
                f"{c:.2f}", f"{file_t:.2f} (file backend)", f"{c / file_t:.2f}x")

    for n in sizes:
        t_up, prof = profiles[n]
        j = prof.get("PATCH update/journalentries 200", (0, 0))
        busy = sum(ms for _, ms in prof.values())
        top = sorted(((ms, c, k) for k, (c, ms) in prof.items() if "journalentries 200" not in k), reverse=True)[:3]
        others = "; ".join(f"{k.removesuffix(' 200')} {c} x, {ms} ms" for ms, c, k in top)
        row(f"  worker time during a {n}-resource journaling up ({t_up:.2f} s): journalentries calls, summed ms",
            f"{j[0]} calls, {j[1]} ms", f"all routes {busy} ms ({others})", f"{busy / 1000 / t_up:.0%} of the up")

    n = max(sizes)
    ok = [c for c in calls.get(n, []) if c[0] == 200]
    if ok:
        ms = [c[2] for c in ok]
        size = statistics.median(c[1] for c in ok)
        ups = len(times[(n, "journaling", "up")])
        # The CLI does not log its batches: an up of n Items journals a begin and a success for each of them, the
        # stack and the default provider, plus the secrets manager and the stack's outputs (2n + 6 entries).
        per_call = (2 * n + 6) * ups / len(ok)
        p50, p99 = pct(ms, 50), pct(ms, 99)
        row(f"journalentries inside the worker during the {n}-resource ups, ms p50/p99",
            f"{p50} / {p99} (max {max(ms)})",
            f"{len(ok) // ups} calls per up, ~{per_call:.0f} entries and {size / 1000:.1f} KB gzip per call (median)",
            "", "p50 <= 5 ms", p50 <= 5)
        failed = [c for c in calls[n] if c[0] != 200]
        if failed:
            row(f"  journalentries not answered 200 during the {n}-resource ups", f"{len(failed)}")


# ---- 4. large state ---------------------------------------------------------------------------------------------

def workerd_pids(server):
    out = subprocess.run(["ps", "-o", "pid=,comm=", "--ppid", str(server.proc.pid), "-g", str(server.proc.pid)],
                         capture_output=True, text=True).stdout
    pids = [int(l.split()[0]) for l in out.splitlines() if "workerd" in l]
    return pids


def rss_kb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    def __init__(self, pids):
        self.pids, self.peak, self._stop = pids, 0, threading.Event()

    def __enter__(self):
        self.base = sum(rss_kb(p) for p in self.pids)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(rss_kb(p) for p in self.pids))
            time.sleep(0.01)

    def __exit__(self, *a):
        self._stop.set()
        self.t.join()


def large(server, tmp):
    per = 2000
    resources = [{"urn": f"urn:pulumi:s::p::t::r{i}", "type": "t", "custom": True,
                  "outputs": {"blob": hashlib.sha256(str(i).encode()).hexdigest() * 28}} for i in range((20 << 20) // per)]
    state = json.dumps({"version": 3, "deployment": {"manifest": {"time": "2026-01-01T00:00:00Z", "magic": "",
                                                                  "version": ""}, "resources": resources}},
                       separators=(",", ":")).encode()
    body = gzip.compress(state, 6)
    host, port = server.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    auth = {"Authorization": f"token {ADMIN_TOKEN}", "Content-Type": "application/json"}
    conn.request("POST", f"/api/stacks/{ORG}/large", json.dumps({"stackName": "big"}), auth)
    conn.getresponse().read()
    pids = workerd_pids(server)
    with PeakRss(pids) as mem:
        imports, exports = [], []
        for _ in range(3):
            t = time.perf_counter()
            conn.request("POST", f"/api/stacks/{ORG}/large/big/import", body, {**auth, "Content-Encoding": "gzip"})
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
            imports.append(time.perf_counter() - t)
            t = time.perf_counter()
            conn.request("GET", f"/api/stacks/{ORG}/large/big/export", headers={**auth, "Accept-Encoding": "gzip"})
            r = conn.getresponse()
            data = r.read()
            exports.append(time.perf_counter() - t)
            assert r.status == 200
    mb = len(state) / 1e6
    row(f"import of a {mb:.1f} MB state ({len(body)/1e6:.1f} MB gzip), s (median of 3)", f"{statistics.median(imports):.2f}")
    row(f"export of the same state, s (median of 3)", f"{statistics.median(exports):.2f}")
    row("workerd resident memory before / peak during, MB",
        f"{mem.base/1024:.0f} / {mem.peak/1024:.0f}", "", "", "isolate limit 128 MB")


# ---- 5. size ---------------------------------------------------------------------------------------------------

def size(tmp):
    out = Path(tempfile.mkdtemp(dir=tmp))
    env = {**os.environ, "PROCELLA_BUILD_FLAGS": ""}
    p = subprocess.run(["wrangler", "deploy", "--dry-run", "--outdir", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    wasm = max(out.rglob("*.wasm"), key=lambda f: f.stat().st_size)
    raw = wasm.read_bytes()
    gz = len(gzip.compress(raw, 9))
    row("deployable wasm, raw / gzipped, KB", f"{len(raw)/1000:.0f} / {gz/1000:.0f}", "", "", "< 1000 KB gzipped",
        gz < 1_000_000)
    m = re.search(r"Total Upload: ([\d.]+ KiB) / gzip: ([\d.]+ KiB)", p.stdout + p.stderr)
    if m:
        row("whole upload (wrangler), raw / gzip", f"{m.group(1)} / {m.group(2)}")


# ---- 6. native hot paths ---------------------------------------------------------------------------------------

def native():
    p = subprocess.run(["cargo", "bench", "--quiet", "--bench", "hot_paths"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    for line in p.stdout.splitlines():
        if "|" in line:  # name | value [| target | met or NOT met]
            name, value, *rest = (s.strip() for s in line.split("|"))
            target, verdict = (rest + ["", ""])[:2]
            row(f"native: {name}", value, target=target, met=None if not verdict else verdict == "met")


def table():
    head = ("figure", "measured", "reference (same run)", "ratio", "target", "")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sections", nargs="*",
                    default=["overhead", "descope", "oidc", "limits", "load", "fuzz", "live", "up", "journal", "large", "size",
                             "native"])
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--repeats", type=int, help="runs per size and mode in `journal` (default 3, and 1 from 1000)")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--fuzz-requests", type=int, default=20_000)
    ap.add_argument("--load-resources", type=int, default=100)
    ap.add_argument("--fuzz-seed", type=int, help="replay a fuzz run (default: a random seed, printed)")
    ap.add_argument("--out")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    os.environ["PROCELLA_BUILD_FLAGS"] = ""  # the optimized build users deploy, not the tests' --no-opt one
    tmp = Path(tempfile.mkdtemp(prefix="procella-bench-"))
    servers = []
    try:
        need_server = any(s in args.sections for s in ("overhead", "oidc", "up", "journal", "large", "load", "live"))
        if need_server:
            print("starting wrangler dev (optimized build) ...", flush=True)
            main_server = start_server(DEFAULT_VARS, tmp / "main")
            servers.append(main_server)
        if any(s in args.sections for s in ("up", "journal")):
            # Checkpoints as before journaling: the CLI told journalVersion 0 uploads a (delta) checkpoint per step.
            delta_server = start_server({**DEFAULT_VARS, "PROCELLA_JOURNALING": "false"}, tmp / "delta")
            servers.append(delta_server)
        if "overhead" in args.sections:
            print("== request overhead", flush=True)
            overhead(main_server, args.requests)
        if "descope" in args.sections:
            print("== descope mode", flush=True)
            descope(tmp, min(args.requests, 100))
        if "oidc" in args.sections:
            print("== oidc token exchange", flush=True)
            oidc(main_server, tmp, min(args.requests, 100))
        if "load" in args.sections:
            print("== load", flush=True)
            load(main_server, tmp, resources=args.load_resources)
        if "fuzz" in args.sections:
            print("== fuzz", flush=True)
            fuzzing(tmp, args.fuzz_requests, args.fuzz_seed if args.fuzz_seed is not None
                    else __import__("fuzz").random_seed())
        if "live" in args.sections:
            print("== live view", flush=True)
            live(main_server, tmp)
        if "limits" in args.sections:
            print("== rate limits", flush=True)
            limits(tmp)
        if "up" in args.sections:
            print("== pulumi up", flush=True)
            full = start_server({**DEFAULT_VARS, "PROCELLA_JOURNALING": "false", "PROCELLA_DELTA_CHECKPOINTS": "false"},
                                tmp / "full")
            servers.append(full)
            ups(delta_server, full, sizes, tmp)
        if "journal" in args.sections:
            print("== journaling", flush=True)
            journal(main_server, delta_server, sizes, args.repeats, tmp)
        if "large" in args.sections:
            print("== large state", flush=True)
            large(main_server, tmp)
        for s in servers:
            # wrangler dev rebuilds and reloads the worker when src/ changes: leases and isolate caches are lost.
            if "Reloading local server" in s.log_text():
                row(f"WARNING: the server in {s.workdir.name}/ was rebuilt during the run (src/ changed); "
                    "its figures are not reliable", "")
    finally:
        for s in servers:
            stop_server(s)
    # Without the servers, which keep a core busy now and then.
    if "size" in args.sections:
        print("== size", flush=True)
        size(tmp)
    if "native" in args.sections:
        print("== native hot paths", flush=True)
        native()
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    header = (f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores ({cpu}), "
              f"pulumi {os.environ.get('PULUMI_VERSION', '?')}, wrangler dev --local with an optimized build.")
    print("\n" + header + "\n\n" + table())
    if args.out:
        Path(args.out).write_text(f"{header}\n\n{table()}\n")


if __name__ == "__main__":
    main()
