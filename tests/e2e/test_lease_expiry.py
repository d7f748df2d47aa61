"""Abandoned updates free their stack on their own: a server with a short lease (PROCELLA_LEASE_SECONDS), where
the stack's Durable Object alarm drops an expired lease and marks its update failed."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import ADMIN_TOKEN, DEFAULT_VARS, ORG, Pulumi
from test_http_updates import deployment, program, up
from twins import wait_until

LEASE_SECONDS = 8


@pytest.fixture(scope="module")
def short_lease(server_factory):
    return server_factory({**DEFAULT_VARS, "PROCELLA_LEASE_SECONDS": str(LEASE_SECONDS)})


def test_an_expired_lease_is_over_for_good(short_lease, unique):
    s = short_lease
    project, name = unique("lease"), unique("st")
    assert s.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": name}).status == 200
    stack = f"/api/stacks/{ORG}/{project}/{name}"
    uid = s.request("POST", f"{stack}/update", ADMIN_TOKEN, program()).json()["updateID"]
    started = s.request("POST", f"{stack}/update/{uid}", ADMIN_TOKEN, {}).json()
    token = started["token"]
    assert started["tokenExpiration"] <= time.time() + LEASE_SECONDS + 1, "the server's lease length is used"
    assert up(s, stack, uid, token, "checkpoint", {"version": 3, "deployment": deployment(1)}).status == 200
    # A renewal asks for 5 minutes, as the CLI does, and gets at most the server's lease.
    renewed = up(s, stack, uid, token, "renew_lease", {"token": token, "duration": 300}).json()
    assert renewed["tokenExpiration"] <= time.time() + LEASE_SECONDS + 1

    # Nobody renews: the alarm frees the stack and fails the update, without anyone calling cancel.
    wait_until(lambda: s.request("GET", stack, ADMIN_TOKEN).json()["activeUpdate"] == "", LEASE_SECONDS + 15,
               "the lease to expire")
    assert s.request("GET", f"{stack}/update/{uid}", ADMIN_TOKEN).json()["status"] == "failed"
    r = up(s, stack, uid, token, "renew_lease", {"token": token, "duration": 300})
    assert r.status == 403, "403 on renew is terminal for the CLI"
    assert up(s, stack, uid, token, "checkpoint", {"version": 3, "deployment": deployment(2)}).status == 403
    hist = s.request("GET", f"{stack}/updates", ADMIN_TOKEN).json()["updates"]
    assert (hist[0]["version"], hist[0]["result"]) == (1, "failed")
    assert len(s.request("GET", f"{stack}/export", ADMIN_TOKEN).json()["deployment"]["resources"]) == 1
    assert s.request("POST", f"{stack}/update", ADMIN_TOKEN, program()).status == 200, "the stack is free"


def test_a_killed_cli_frees_the_stack_when_its_lease_expires(short_lease, unique, tmp_path):
    p = Pulumi(short_lease, ADMIN_TOKEN, tmp_path, project=unique("app"))
    p.env.update({"PROCELLA_TEST_PROVIDER_STATE": str(tmp_path / "provider"), "PULUMI_CONFIG_PASSPHRASE": ""})
    (tmp_path / "provider").mkdir()
    stack = f"{ORG}/{unique('app')}/{unique('dev')}"
    (p.dir / "Pulumi.yaml").write_text(
        f"name: {stack.split('/')[1]}\nruntime: yaml\nresources:\n"
        "  quick:\n    type: procella-test:index:Item\n    properties:\n      value: quick\n"
        "  slow:\n    type: procella-test:index:Item\n    properties:\n      value: slow\n      sleepSeconds: 120\n"
        "    options:\n      dependsOn:\n        - ${quick}\n")
    p.run("stack", "init", stack)
    api = f"/api/stacks/{stack}"
    cli = subprocess.Popen(["pulumi", "up", "--yes", "--skip-preview", "--non-interactive"], cwd=p.dir, env=p.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        # Kill it once the first resource is checkpointed and the second is being created.
        wait_until(lambda: any(f.name.endswith(".json") for f in (tmp_path / "provider").iterdir()), 90,
                   "the quick resource")
        wait_until(lambda: short_lease.request("GET", api, ADMIN_TOKEN).json()["version"] >= 1
                   and len(json.loads(p.run("stack", "export").stdout)["deployment"].get("resources", [])) >= 2,
                   30, "a checkpoint with the quick resource")
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait(timeout=30)
        assert short_lease.request("GET", api, ADMIN_TOKEN).json()["activeUpdate"] != "", "still locked"

        wait_until(lambda: short_lease.request("GET", api, ADMIN_TOKEN).json()["activeUpdate"] == "",
                   LEASE_SECONDS + 15, "the lease to expire")
        exported = json.loads(p.run("stack", "export").stdout)
        assert any(r["urn"].endswith("::quick") for r in exported["deployment"]["resources"])

        (p.dir / "Pulumi.yaml").write_text(
            f"name: {stack.split('/')[1]}\nruntime: yaml\nresources:\n"
            "  quick:\n    type: procella-test:index:Item\n    properties:\n      value: quick\n")
        again = p.run("up", "--yes", "--skip-preview")
        assert again.returncode == 0
        hist = json.loads(p.run("stack", "history", "--json").stdout)
        assert [h["result"] for h in hist[:2]] == ["succeeded", "failed"], hist
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
