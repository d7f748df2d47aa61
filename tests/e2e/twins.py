"""One program, two backends: the real CLI runs the same commands against this server and against the CLI's own
file backend, and the states must agree. The file backend is the reference: whatever the CLI leaves there is what
this server must leave, whether it got the state as checkpoints or rebuilt it from a journal.

Exports are compared after normalizing what legitimately differs between the two: the manifest, the secrets
provider (the service's versus a passphrase) and so every secret's ciphertext, resource IDs the test provider makes
up (and the provider references that carry them), timestamps, and the project folder in source positions.
"""

import json
import re
import time
from pathlib import Path

from conftest import ADMIN_TOKEN, ORG, Pulumi

SECRET_SIG = "4dabf18193072939515e22adb298388d"
CHECKPOINT_ROUTE = re.compile(r"/update/[0-9a-f]+/checkpoint(verbatim|delta)? -> ")
JOURNAL_OK = re.compile(r"/update/[0-9a-f]+/journalentries -> 200")


def normalize(export, folders=()):
    d = export.get("deployment", {})
    resources = d.get("resources", [])
    ids = {r["id"]: f"<id of {r['urn']}>" for r in resources if r.get("id")}

    def walk(v):
        if isinstance(v, dict) and "propertyDependencies" in v:
            # After a refresh the CLI's own journal replay drops empty dependency lists its snapshot keeps
            # (`rebuildDependencies`); both mean "no dependency".
            deps = {k: d for k, d in (v["propertyDependencies"] or {}).items() if d}
            v = {k: x for k, x in v.items() if k != "propertyDependencies"} | ({"propertyDependencies": deps} if deps else {})
        if isinstance(v, dict):
            if v.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
                return {"<secret>": True}
            return {k: walk(x) for k, x in v.items() if k not in ("created", "modified")}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str):
            if v in ids:
                return ids[v]
            for f in folders:
                v = v.replace(str(f), "<project>")
            head, sep, tail = v.rpartition("::")
            if sep and tail in ids and head.startswith("urn:pulumi:"):
                return f"{head}::<id>"
        return v

    assert_ordered(resources)
    return {
        "version": export.get("version"),
        "features": sorted(export.get("features") or []),
        # Independent resources may register in either order (the YAML host registers them concurrently), so
        # the order is checked for validity above and not compared.
        "resources": sorted(walk(resources), key=lambda r: (r["urn"], json.dumps(r, sort_keys=True))),
        "pending_operations": sorted((walk(o) for o in d.get("pending_operations") or []), key=json.dumps),
    }


def assert_ordered(resources):
    """A state is a topological sort: every parent, dependency and provider is a resource before it."""
    seen = set()
    for r in resources:
        refs = [r.get("parent")] + r.get("dependencies", []) + [d for ds in r.get("propertyDependencies", {}).values()
                                                                 for d in ds]
        if r.get("provider"):
            refs.append(r["provider"].rpartition("::")[0])
        for ref in filter(None, refs):
            assert ref in seen, f"{r['urn']} refers to {ref}, which is not before it"
        seen.add(r["urn"])


class Twins:
    """The same project, stack and program on the server (`svc`) and on a file backend (`ref`)."""

    def __init__(self, server, tmp: Path, project: str, stack: str, binary, env=None, token=ADMIN_TOKEN, org=ORG):
        self.project, self.stack, self.token, self.org = project, stack, token, org
        self.svc = Pulumi(server, token, tmp / "svc", project, binary)
        self.ref = Pulumi(None, token, tmp / "ref", project, binary)
        (tmp / "ref" / "file-backend").mkdir(parents=True, exist_ok=True)
        for p, side in ((self.svc, "svc"), (self.ref, "ref")):
            p.state = tmp / f"provider-{side}"
            p.state.mkdir()
            p.env.update({"PROCELLA_TEST_PROVIDER_STATE": str(p.state), "PULUMI_CONFIG_PASSPHRASE": "", **(env or {})})
        self.svc.run("stack", "init", f"{org}/{project}/{stack}")
        self.ref.run("stack", "init", stack)

    @property
    def both(self):
        return (self.svc, self.ref)

    def program(self, yaml_body):
        for p in self.both:
            (p.dir / "Pulumi.yaml").write_text(f"name: {self.project}\nruntime: yaml\n{yaml_body}")

    def config(self, *args):
        for p in self.both:
            p.run("config", "set", *args)

    def run(self, *args, ok=True):
        """Runs a command on both backends (one step at a time, so both record the same order); returns the
        server side's result. `ok=False` expects both to fail."""
        mark = self.svc.server.log_mark()
        results = [p.run(*args, check=False, timeout=300) for p in self.both]
        for r in results:
            out = r.stdout + r.stderr
            assert (r.returncode == 0) == ok, f"pulumi {' '.join(args)} -> {r.returncode}:\n{out}"
            assert "snapshot mismatch" not in out.lower(), out
        self.last_log = self.svc.server.log_since(mark)
        return results[0]

    def export(self, p):
        return json.loads(p.run("stack", "export").stdout)

    def assert_same_state(self):
        got = normalize(self.export(self.svc), [self.svc.dir])
        want = normalize(self.export(self.ref), [self.ref.dir])
        assert got == want, f"server state differs from the file backend's:\n{json.dumps(got)}\n{json.dumps(want)}"
        return got

    def api(self, path=""):
        return f"/api/stacks/{self.org}/{self.project}/{self.stack}{path}"

    def latest_update_events(self):
        s = self.svc.server
        u = s.request("GET", self.api("/updates?pageSize=1&page=1"), self.token).json()["updates"][0]
        return s.request("GET", self.api(f"/update/{u['updateID']}/events"), self.token).json()["events"]


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
