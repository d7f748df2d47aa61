"""Faults injected at every named point of the update path, with the real CLI (the test build's fault switch,
src/engine/faults.rs, armed per stack through `POST .../{stack}/_faults`).

Each case makes one write to D1, R2 or the lease object's own storage fail (or hang, then fail as a timed-out call
does) before or after it lands, while the CLI runs the step. The CLI's retries either carry the step to success or
it fails with a clear message; either way, afterwards:
  1. the last acknowledged state exports (nothing the server accepted is lost);
  2. `pulumi cancel`, or the lease running out, frees the stack;
  3. the next `up` succeeds;
  4. the state invariants hold (tests/e2e/invariants.py).
Set FAULT_REPORT to a file to have each case's outcome appended to it as a JSON line (the closing note's table).
"""

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

import invariants
from conftest import ADMIN_TOKEN, CLI_VERSIONS, DEFAULT_VARS, EVE_ORG, EVE_TOKEN, ORG, ROOT, Pulumi
from twins import assert_ordered, wait_until

ITEM = "procella-test:index:Item"
CLI = CLI_VERSIONS[next(iter(CLI_VERSIONS))]
TOKENS = {ORG: ADMIN_TOKEN, EVE_ORG: EVE_TOKEN}
LEASE_SECONDS = 8
# What the CLI prints for a step the server could not store: the server's own words, never a stack trace.
CLEAR = re.compile(r"storage is unavailable; try again")


def items(n, tag, slow=None):
    body = "resources:\n" + "".join(
        f"  r{i}:\n    type: {ITEM}\n    properties:\n      value: {tag}-{i}\n" for i in range(n))
    if slow:
        body += f"  slow:\n    type: {ITEM}\n    properties:\n      value: slow\n      sleepSeconds: {slow}\n" \
                f"    options:\n      dependsOn:\n        - ${{r0}}\n"
    return body


@pytest.fixture(scope="module")
def servers(server, server_factory):
    return {
        "journal": server,
        "checkpoints": server_factory({**DEFAULT_VARS, "PROCELLA_JOURNALING": "false"}),
        "short-lease": server_factory({**DEFAULT_VARS, "PROCELLA_LEASE_SECONDS": str(LEASE_SECONDS)}),
    }


class Stack:
    """A fresh stack on `server` driven by the real CLI, with the fault switch at hand."""

    def __init__(self, server, tmp: Path, project: str):
        self.server, self.project = server, project
        self.cli = Pulumi(server, ADMIN_TOKEN, tmp, project, CLI)
        self.cli.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp / "provider")
        (tmp / "provider").mkdir()
        self.api = f"/api/stacks/{ORG}/{project}/dev"
        self.cli.run("stack", "init", f"{ORG}/{project}/dev")

    def program(self, body):
        (self.cli.dir / "Pulumi.yaml").write_text(f"name: {self.project}\nruntime: yaml\n{body}")

    def arm(self, **plan):
        self.mark = self.server.log_mark()
        r = self.server.request("POST", self.api + "/_faults", ADMIN_TOKEN, {"plan": plan or None})
        assert r.status == 200, r.body

    def fired(self):
        """The faults injected since the plan was armed, from the server's log: the lease object that counted them
        may have been evicted since (the alarm's often is), or the stack deleted."""
        found = []
        wait_until(lambda: found.extend(re.findall(r"fault injected: ([\w/]+ [\w.]+)", self.server.log_since(self.mark)))
                   or found, 5, "the fault to be logged")
        return found

    def active_update(self):
        r = self.server.request("GET", self.api, ADMIN_TOKEN)
        return r.json()["activeUpdate"] if r.status == 200 else None

    def exported(self):
        r = self.cli.run("stack", "export", check=False)
        assert r.returncode == 0, f"the last acknowledged state does not export:\n{r.stdout}\n{r.stderr}"
        d = json.loads(r.stdout)["deployment"]
        assert_ordered(d.get("resources") or [])
        return {x["urn"].rsplit("::", 1)[1]: x.get("outputs", {}).get("value")
                for x in d.get("resources") or [] if x["type"] == ITEM}

    def free(self):
        """Frees the stack if an update still holds it (`pulumi cancel`), and checks it is free."""
        if self.active_update():
            self.cli.run("cancel", "--yes")
        assert self.active_update() == "", "the stack is still held"


def outcome(r):
    out = r.stdout + r.stderr
    assert "panic" not in out and "goroutine" not in out, out
    if r.returncode == 0:
        return "retried to success"
    assert CLEAR.search(out), f"the CLI failed without a clear message:\n{out}"
    return "failed cleanly"


def report(case, result, broken):
    path = os.environ.get("FAULT_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"case": case, "outcome": result, "invariants": "pass" if not broken else broken}) + "\n")


def finish(s: Stack, case, result, want_after):
    """The four rules after a fault; `want_after` is the state the next `up` must leave."""
    s.arm()
    s.free()
    s.program(items(6, "c"))
    r = s.cli.run("up", "--yes", "--skip-preview", check=False)
    if r.returncode != 0 and "pending" in (r.stdout + r.stderr).lower():
        s.cli.run("refresh", "--clear-pending-creates", "--yes", "--skip-preview")
        r = s.cli.run("up", "--yes", "--skip-preview", check=False)
    assert r.returncode == 0, f"the next up failed:\n{r.stdout}\n{r.stderr}"
    assert s.exported() == want_after
    broken = invariants.check(s.server, TOKENS, {s.project})
    report(case, result, broken)
    assert broken == []


AFTER = {f"r{i}": f"c-{i}" for i in range(6)}
BASE = {f"r{i}": f"a-{i}" for i in range(4)}
GOAL = {f"r{i}": f"b-{i}" for i in range(6)}

# (server, step, store, phase, kind, skip, times): the faults of an `up`.
UP_CASES = [
    ("journal", "start", "d1", "before", "fail", 0, 1),
    ("journal", "start", "d1", "after", "fail", 0, 1),
    ("journal", "start", "do", "before", "fail", 0, 1),
    ("journal", "start", "do", "after", "hang", 0, 1),
    ("journal", "journal", "do", "before", "fail", 0, 1),
    ("journal", "journal", "do", "after", "hang", 1, 1),
    ("journal", "journal", "do", "before", "fail", 0, 99),
    ("journal", "complete", "r2", "before", "fail", 0, 1),
    ("journal", "complete", "r2", "after", "hang", 0, 1),
    ("journal", "complete", "d1", "before", "fail", 0, 1),
    ("journal", "complete", "d1", "after", "fail", 0, 1),
    ("journal", "complete", "do", "before", "fail", 0, 1),
    ("journal", "complete", "do", "after", "fail", 1, 1),
    ("journal", "complete", "d1", "before", "fail", 0, 99),
    ("checkpoints", "start", "d1", "after", "hang", 0, 1),
    ("checkpoints", "checkpoint", "r2", "before", "fail", 2, 1),
    ("checkpoints", "checkpoint", "r2", "after", "hang", 2, 1),
    # D1 learns of an update's checkpoint once, at its first; the lease record marks every one.
    ("checkpoints", "checkpoint", "d1", "before", "fail", 0, 1),
    ("checkpoints", "checkpoint", "d1", "after", "fail", 0, 1),
    ("checkpoints", "checkpoint", "do", "after", "fail", 2, 1),
    ("checkpoints", "checkpoint", "r2", "before", "fail", 2, 99),
    ("checkpoints", "complete", "d1", "after", "fail", 0, 1),
]


def case_id(c):
    return "-".join(str(x) for x in c[:5]) + (f"-skip{c[5]}" if c[5] else "") + ("-persistent" if c[6] > 1 else "")


@pytest.mark.parametrize("case", UP_CASES, ids=case_id)
def test_an_up_with_a_fault(servers, case, unique, tmp_path):
    mode, step, store, phase, kind, skip, times = case
    s = Stack(servers[mode], tmp_path, unique("flt"))
    s.program(items(4, "a"))
    s.cli.run("up", "--yes", "--skip-preview")
    s.program(items(6, "b"))
    s.arm(step=step, store=store, phase=phase, kind=kind, skip=skip, times=times, hangMs=2000)
    r = s.cli.run("up", "--yes", "--skip-preview", check=False, timeout=300)
    assert s.fired(), f"the fault point {case_id(case)} was never reached"
    result = outcome(r)
    state = s.exported()
    if result == "retried to success":
        assert state == GOAL
    else:
        # A failed update keeps everything acknowledged before it: the base, and whatever of the new state the
        # server accepted; never a resource that is neither.
        assert set(BASE) <= set(state) <= set(GOAL), state
        assert all(v in (BASE.get(k), GOAL[k]) for k, v in state.items()), state
    finish(s, case_id(case), result, AFTER)


def running_slowly(s: Stack):
    """Starts an `up` whose `slow` item takes two minutes, and waits until the server has its `r0`."""
    s.program(items(2, "a", slow=120))
    cli = s.cli.start("up", "--yes", "--skip-preview")
    wait_until(lambda: "r0" in s.exported() if s.active_update() else False, 120, "r0 to be stored")
    return cli


CANCEL_CASES = [("cancel", "d1", "before"), ("cancel", "d1", "after"), ("cancel", "r2", "after"),
                ("cancel", "do", "after")]


@pytest.mark.parametrize("case", CANCEL_CASES, ids=lambda c: "-".join(c))
def test_a_cancel_with_a_fault(servers, case, unique, tmp_path):
    step, store, phase = case
    s = Stack(servers["journal"], tmp_path, unique("fcn"))
    cli = running_slowly(s)
    try:
        s.arm(step=step, store=store, phase=phase, kind="fail")
        r = s.cli.run("cancel", "--yes", check=False)
        assert s.fired(), "the fault point was never reached"
        result = outcome(r)
        assert "r0" in s.exported(), "the cancelled update's acknowledged state is kept"
        finish(s, "-".join(case), result, AFTER)
    finally:
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait(timeout=30)


ALARM_CASES = [("alarm", "d1", "before"), ("alarm", "d1", "after"), ("alarm", "r2", "before")]


@pytest.mark.parametrize("case", ALARM_CASES, ids=lambda c: "-".join(c))
def test_a_lease_running_out_with_a_fault(servers, case, unique, tmp_path):
    """The CLI dies; the alarm that ends its update fails once and tries again (30 s later) until it ends it."""
    step, store, phase = case
    s = Stack(servers["short-lease"], tmp_path, unique("fal"))
    cli = running_slowly(s)
    s.arm(step=step, store=store, phase=phase, kind="fail")
    os.killpg(cli.pid, signal.SIGKILL)
    cli.wait(timeout=30)
    wait_until(lambda: s.active_update() == "", LEASE_SECONDS + 60, "the lease to run out and the alarm to end it")
    assert s.fired(), "the fault point was never reached"
    assert "r0" in s.exported()
    history = json.loads(s.cli.run("stack", "history", "--json").stdout)
    assert history[0]["result"] == "failed"
    finish(s, "-".join(case), "retried to success (by the alarm)", AFTER)


IMPORT_CASES = [("import", "r2", "before"), ("import", "r2", "after"), ("import", "d1", "before"),
                ("import", "d1", "after")]


@pytest.mark.parametrize("case", IMPORT_CASES, ids=lambda c: "-".join(c))
def test_an_import_with_a_fault(servers, case, unique, tmp_path):
    step, store, phase = case
    s = Stack(servers["journal"], tmp_path, unique("fim"))
    s.program(items(4, "a"))
    s.cli.run("up", "--yes", "--skip-preview")
    exported = json.loads(s.cli.run("stack", "export").stdout)
    for r in exported["deployment"]["resources"]:
        if r["type"] == ITEM:
            r["outputs"]["value"] = "imported-" + r["outputs"]["value"]
    f = tmp_path / "import.json"
    f.write_text(json.dumps(exported))
    s.arm(step=step, store=store, phase=phase, kind="fail")
    r = s.cli.run("stack", "import", "--file", str(f), check=False)
    assert s.fired(), "the fault point was never reached"
    result = outcome(r)
    state = s.exported()
    assert state in (BASE, {k: "imported-" + v for k, v in BASE.items()}), state
    finish(s, "-".join(case), result, AFTER)


DELETE_CASES = [("delete", "d1", "before"), ("delete", "d1", "after"), ("delete", "r2", "before"),
                ("delete", "do", "before")]


@pytest.mark.parametrize("case", DELETE_CASES, ids=lambda c: "-".join(c))
def test_a_stack_delete_with_a_fault(servers, case, unique, tmp_path):
    step, store, phase = case
    s = Stack(servers["journal"], tmp_path, unique("fdl"))
    s.program(items(4, "a"))
    s.cli.run("up", "--yes", "--skip-preview")
    s.arm(step=step, store=store, phase=phase, kind="fail")
    r = s.cli.run("stack", "rm", "--yes", "--force", check=False)
    assert s.fired(), "the fault point was never reached"
    result = outcome(r)
    if s.active_update() is None:
        # It went: a name that is free again, whose objects go too (now, or by the alarm).
        s.cli.run("stack", "init", f"{ORG}/{s.project}/dev")
    else:
        assert s.exported() == BASE, "a stack that was not deleted keeps its state"
    finish(s, "-".join(case), result, AFTER)


def test_the_release_build_has_no_fault_switch():
    """`wrangler deploy` builds without the `faults` feature; the wasm it would ship has neither the switch's route
    nor its messages, while the test build (this suite's server) has both."""
    build = (ROOT / "wrangler.toml").read_text()
    assert "--features" not in build, "the deployed build command must not enable the fault switch"
    env = {**os.environ}
    release = ROOT / "target" / "wasm32-unknown-unknown" / "release" / "procella_edge.wasm"
    for features, present in (([], False), (["--features", "faults"], True)):
        subprocess.run(["cargo", "build", "--release", "--target", "wasm32-unknown-unknown", "--lib", *features],
                       cwd=ROOT, env=env, check=True, capture_output=True)
        wasm = release.read_bytes()
        for marker in (b"injected failure", b"fault injected", b"bad fault plan"):
            assert (marker in wasm) == present, f"{marker!r} in the {'test' if present else 'release'} build"
