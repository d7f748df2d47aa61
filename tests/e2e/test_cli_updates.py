"""Whole updates with the real pulumi CLI: up, preview, refresh, destroy, outputs, secrets, history,
export/import and cancel, with a YAML program of real resources from the procella-test provider."""

import json
import os
import signal
import subprocess
import time

import pytest

from conftest import ADMIN_TOKEN, CLI_VERSIONS, ORG


def write_program(p, items, extra_outputs=""):
    """`items`: name -> (value, replaceKey) of procella-test:index:Item resources."""
    res = "".join(
        f"  {name}:\n    type: procella-test:index:Item\n    properties:\n      value: {value}\n"
        f"      replaceKey: {rk}\n"
        for name, (value, rk) in items.items()
    )
    first = next(iter(items), None)
    outputs = f"  firstValue: ${{{first}.value}}\n" if first else ""
    (p.dir / "Pulumi.yaml").write_text(
        f"name: {p.project}\nruntime: yaml\nconfig:\n  greeting:\n    type: string\n"
        f"resources:\n{res or '  {}'}\n"
        f"outputs:\n  hello: ${{greeting}}\n  secretOut:\n    fn::secret: ${{password}}\n{outputs}{extra_outputs}"
        "variables:\n  password: ${pw}\n"
    )


@pytest.fixture(params=list(CLI_VERSIONS))
def cli(request, pulumi, unique, tmp_path):
    """A CLI of each supported version (the newest and the oldest) in a fresh project."""
    def make(project=None):
        project = project or unique("app")
        p = pulumi(project=project, binary=CLI_VERSIONS[request.param])
        p.project = project
        p.state = tmp_path / f"provider-state-{project}"
        p.state.mkdir()
        p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(p.state)
        p.env["PULUMI_CONFIG_PASSPHRASE"] = ""
        return p

    return make


def new_stack(cli, unique, greeting="x", password="pw"):
    """A CLI in a fresh project with a new stack selected and its config set."""
    p = cli()
    stack = f"{ORG}/{p.project}/{unique('dev')}"
    p.run("stack", "init", stack)
    p.run("config", "set", "greeting", greeting)
    p.run("config", "set", "--secret", "pw", password)
    return p, stack


def provider_values(p):
    out = {}
    for f in p.state.glob("*.json"):
        d = json.loads(f.read_text())
        out[d.get("value")] = f.name
    return out


def summary(result):
    return result.stdout + result.stderr


def test_up_update_replace_delete_refresh_destroy(cli, unique):
    p, _ = new_stack(cli, unique, greeting="hello", password="s3cr3t-value")
    write_program(p, {"a": ("one", "k1"), "b": ("two", "k1"), "c": ("three", "k1")})

    first = p.run("up", "--yes", "--skip-preview")
    assert "+ 4 created" in summary(first), summary(first)
    assert set(provider_values(p)) == {"one", "two", "three"}

    out = json.loads(p.run("stack", "output", "--json", "--show-secrets").stdout)
    assert out["hello"] == "hello" and out["secretOut"] == "s3cr3t-value" and out["firstValue"] == "one"
    masked = json.loads(p.run("stack", "output", "--json").stdout)
    assert masked["secretOut"] == "[secret]"
    exported = p.run("stack", "export").stdout
    assert "s3cr3t-value" not in exported, "secrets are stored encrypted"

    # a: update in place, b: replace, c: delete.
    write_program(p, {"a": ("uno", "k1"), "b": ("two", "k2")})
    preview = p.run("preview")
    assert "~ 1 to update" in summary(preview) and "+-1 to replace" in summary(preview) \
        and "- 1 to delete" in summary(preview), summary(preview)
    assert set(provider_values(p)) == {"one", "two", "three"}, "a preview changes nothing"
    second = p.run("up", "--yes", "--skip-preview")
    s = summary(second)
    assert "~ 1 updated" in s and "+-1 replaced" in s and "- 1 deleted" in s, s
    assert set(provider_values(p)) == {"uno", "two"}

    refreshed = p.run("refresh", "--yes", "--skip-preview")
    assert refreshed.returncode == 0

    hist = json.loads(p.run("stack", "history", "--json").stdout)
    kinds = [h["kind"] for h in hist]
    assert kinds[:3] == ["refresh", "update", "update"], kinds
    assert hist[1]["resourceChanges"].get("update") == 1 and hist[1]["resourceChanges"].get("delete") == 1

    v1 = json.loads(p.run("stack", "export", "--version", "1").stdout)
    assert len(v1["deployment"]["resources"]) == 5  # stack, provider, a, b, c

    rm = p.run("stack", "rm", "--yes", check=False)
    assert rm.returncode != 0 and "still has resources; removal rejected" in summary(rm), summary(rm)

    # The CLI journaled every update (the server offers it by default) and uploaded no checkpoint.
    log = p.server.log_since(0)
    assert "journalentries -> 200" in log and "/checkpoint" not in log

    destroyed = p.run("destroy", "--yes", "--skip-preview")
    assert "deleted" in summary(destroyed)
    assert provider_values(p) == {}
    p.run("stack", "rm", "--yes")


def test_export_import_round_trip(cli, unique):
    p, stack = new_stack(cli, unique)
    write_program(p, {"a": ("one", "k")})
    p.run("up", "--yes", "--skip-preview")
    exported = p.dir / "state.json"
    exported.write_text(p.run("stack", "export").stdout)
    before = json.loads(exported.read_text())
    p.run("stack", "import", "--file", str(exported))
    after = json.loads(p.run("stack", "export").stdout)
    assert [r["urn"] for r in after["deployment"]["resources"]] == [r["urn"] for r in before["deployment"]["resources"]]
    kinds = [h["kind"] for h in json.loads(p.run("stack", "history", "--json").stdout)]
    assert kinds[0] == "import"
    p.run("destroy", "--yes", "--skip-preview")


def test_concurrent_up_is_refused_and_cancel_frees_the_stack(cli, unique):
    p, stack = new_stack(cli, unique)
    (p.dir / "Pulumi.yaml").write_text(
        f"name: {p.project}\nruntime: yaml\nresources:\n  slow:\n    type: procella-test:index:Item\n"
        "    properties:\n      value: slow\n      sleepSeconds: 60\n")
    slow = p.start("up", "--yes", "--skip-preview")
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            s = p.server.request("GET", f"/api/stacks/{stack}", ADMIN_TOKEN).json()
            if s["activeUpdate"]:
                break
            time.sleep(0.5)
        assert s["activeUpdate"], "the slow update started"
        second = p.run("up", "--yes", "--skip-preview", check=False)
        assert second.returncode != 0
        assert "another update is currently in progress" in summary(second).lower(), summary(second)

        # Kill the CLI mid-update: the stack stays locked until cancelled.
        os.killpg(slow.pid, signal.SIGKILL)
        slow.wait(timeout=30)
        p.run("cancel", "--yes")
        s = p.server.request("GET", f"/api/stacks/{stack}", ADMIN_TOKEN).json()
        assert s["activeUpdate"] == ""
        p.run("stack", "export")  # the last checkpoint still exports
        (p.dir / "Pulumi.yaml").write_text(
            f"name: {p.project}\nruntime: yaml\nresources:\n  fast:\n    type: procella-test:index:Item\n"
            "    properties:\n      value: fast\n")
        again = p.run("up", "--yes", "--skip-preview")
        assert "created" in summary(again)
    finally:
        if slow.poll() is None:
            os.killpg(slow.pid, signal.SIGKILL)
