"""The server killed mid-update (SIGKILL to `wrangler dev` and its `workerd`, as a crash or a redeploy) and started
again on the same local state folder: everything it acknowledged before the kill is still there, in journal mode
(entries in the lease object's SQLite storage) and in checkpoint mode (objects in R2), and the stack recovers."""

import json
import os
import signal
import urllib.error
import urllib.request

import pytest

import invariants
from conftest import ADMIN_TOKEN, DEFAULT_VARS, EVE_ORG, EVE_TOKEN, ORG, Pulumi, start_server, stop_server, NEWEST_CLI
from twins import normalize, wait_until

ITEM = "procella-test:index:Item"


def program(slow):
    body = "resources:\n" + "".join(
        f"  r{i}:\n    type: {ITEM}\n    properties:\n      value: v-{i}\n" for i in range(3))
    if slow:
        body += f"  slow:\n    type: {ITEM}\n    properties:\n      value: slow\n      sleepSeconds: 120\n" \
                "    options:\n      dependsOn:\n        - ${r0}\n        - ${r1}\n        - ${r2}\n"
    return body


def kill(server):
    """SIGKILL to the whole process group: wrangler and the workerd it runs get no chance to flush anything."""
    os.killpg(server.proc.pid, signal.SIGKILL)
    server.proc.wait(timeout=30)
    try:
        urllib.request.urlopen(server.url + "/api/capabilities", timeout=5)
    except (urllib.error.URLError, ConnectionError):
        return
    raise AssertionError("the killed server still answers")


@pytest.mark.parametrize("journaling", ["true", "false"], ids=["journal", "checkpoints"])
def test_what_was_acknowledged_before_a_kill_is_there_after_a_restart(journaling, unique, tmp_path):
    vars_ = {**DEFAULT_VARS, "PROCELLA_JOURNALING": journaling}
    server = start_server(vars_, tmp_path / "server")
    project = unique("rst")
    stack = f"{ORG}/{project}/dev"
    p = Pulumi(server, ADMIN_TOKEN, tmp_path / "cli", project, NEWEST_CLI)
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp_path / "provider")
    (tmp_path / "provider").mkdir()
    cli = None
    try:
        p.run("stack", "init", stack)
        (p.dir / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\n{program(slow=True)}")
        cli = p.start("up", "--yes", "--skip-preview", "-s", stack)

        def acknowledged():
            r = p.run("stack", "export", "-s", stack, check=False)
            if r.returncode != 0:
                return None
            export = json.loads(r.stdout)
            d = export["deployment"]
            done = {x["urn"].rsplit("::", 1)[1] for x in d.get("resources") or [] if x["type"] == ITEM}
            creating = [o["resource"]["urn"].rsplit("::", 1)[1] for o in d.get("pending_operations") or []]
            if done == {"r0", "r1", "r2"} and (creating == ["slow"] or journaling == "false"):
                return export
            return None

        before = []
        wait_until(lambda: before.append(acknowledged()) or before[-1], 120, "r0..r2 to be stored and slow begun")
        before = before[-1]
        kill(server)
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait(timeout=30)

        server = start_server(vars_, tmp_path / "server")
        p.server = server
        p.env["PULUMI_BACKEND_URL"] = server.url
        after = json.loads(p.run("stack", "export", "-s", stack).stdout)
        assert normalize(after) == normalize(before), "state the server acknowledged before the kill is gone"

        # The update that was running is still held by its lease: cancelled, it frees the stack, keeping the state.
        assert server.request("GET", f"/api/stacks/{stack}", ADMIN_TOKEN).json()["activeUpdate"] != ""
        p.run("cancel", "--yes", "-s", stack)
        assert normalize(json.loads(p.run("stack", "export", "-s", stack).stdout))["resources"] == \
            normalize(before)["resources"]
        (p.dir / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\n{program(slow=False)}")
        if journaling == "true":
            p.run("refresh", "--clear-pending-creates", "--yes", "--skip-preview", "-s", stack)
        p.run("up", "--yes", "--skip-preview", "-s", stack)
        assert invariants.check(server, {ORG: ADMIN_TOKEN, EVE_ORG: EVE_TOKEN}, {project}) == []
    finally:
        if cli is not None and cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
        if server.proc.poll() is None:
            stop_server(server)
