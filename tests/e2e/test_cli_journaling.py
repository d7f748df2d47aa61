"""Journaling with the real CLI (the newest and the oldest supported version): every kind of update sends journal
entries instead of checkpoints, and the state this server rebuilds from them is the state the same program leaves
on the CLI's file backend. The same lifecycle runs on a server with `PROCELLA_JOURNALING=false`, where the CLI
uploads checkpoints instead."""

import json
import os
import signal

import pytest

from conftest import ADMIN_TOKEN, CLI_VERSIONS, DEFAULT_VARS, ORG
from twins import CHECKPOINT_ROUTE, JOURNAL_OK, Twins, wait_until

ITEM = "procella-test:index:Item"


def program(items):
    """`items`: name -> properties of an Item, plus `dbr` (deleteBeforeReplace) and `after` (dependsOn)."""
    body = ["config:\n  greeting:\n    type: string\nresources:\n"]
    for name, props in items.items():
        body.append(f"  {name}:\n    type: {ITEM}\n    properties:\n")
        for k in ("value", "replaceKey", "failWith", "sleepSeconds"):
            if k in props:
                body.append(f"      {k}: {json.dumps(props[k])}\n")
        opts = []
        if props.get("dbr"):
            opts.append("      deleteBeforeReplace: true\n")
        if props.get("after"):
            opts.append("      dependsOn:\n" + "".join(f"        - ${{{d}}}\n" for d in props["after"]))
        if opts:
            body.append("    options:\n" + "".join(opts))
    body.append("outputs:\n  hello: ${greeting}\n  secretOut:\n    fn::secret: ${pw}\n")
    return "".join(body)


@pytest.fixture(scope="module")
def checkpoint_server(server_factory):
    return server_factory({**DEFAULT_VARS, "PROCELLA_JOURNALING": "false"})


@pytest.fixture(params=["journal", "checkpoints"])
def mode_server(request, server, checkpoint_server):
    return request.param, (server if request.param == "journal" else checkpoint_server)


def record(p, value):
    for f in p.state.glob("*.json"):
        if json.loads(f.read_text()).get("value") == value:
            return f
    raise AssertionError(f"no provider record with value {value!r}")


@pytest.mark.parametrize("version", list(CLI_VERSIONS))
def test_every_kind_of_update_leaves_the_file_backends_state(mode_server, version, unique, tmp_path):
    mode, server = mode_server
    t = Twins(server, tmp_path, unique("jr"), unique("dev"), CLI_VERSIONS[version])
    t.config("greeting", "hi")
    t.config("--secret", "pw", "s3cr3t-pw")

    def persisted(what):
        # Journaling sends entries and never a checkpoint; the checkpoint path the reverse.
        journaled, checkpointed = bool(JOURNAL_OK.search(t.last_log)), bool(CHECKPOINT_ROUTE.search(t.last_log))
        assert (journaled, checkpointed) == ((True, False) if mode == "journal" else (False, True)), what
        events = json.dumps(t.latest_update_events()).lower()
        assert "snapshot mismatch" not in events, what
        return t.assert_same_state()

    par = "--parallel=1"
    t.program(program({"a": {"value": "one"}, "b": {"value": "bee", "replaceKey": "k1"},
                       "c": {"value": "sea", "replaceKey": "k1", "dbr": True}, "d": {"value": "dee", "after": ["a"]}}))
    up = t.run("up", "--yes", "--skip-preview", par)
    assert "+ 5 created" in up.stdout, up.stdout
    state = persisted("up")
    assert len(state["resources"]) == 6
    assert "s3cr3t-pw" not in t.svc.run("stack", "export").stdout

    mark = server.log_mark()
    t.run("preview", par)
    assert not JOURNAL_OK.search(server.log_since(mark)), "previews never journal"
    t.assert_same_state()

    # Update in place, replace (create before delete), replace (delete before replace), delete.
    t.program(program({"a": {"value": "uno"}, "b": {"value": "bee", "replaceKey": "k2"},
                       "c": {"value": "sea", "replaceKey": "k2", "dbr": True}}))
    up = t.run("up", "--yes", "--skip-preview", par)
    assert "~ 1 updated" in up.stdout and "+-2 replaced" in up.stdout and "- 1 deleted" in up.stdout, up.stdout
    persisted("update, replace both ways, delete")

    # Drift: `b` disappears behind the CLI's back; refresh drops it, `up --refresh` brings it back.
    for p in t.both:
        record(p, "bee").unlink()
    t.run("refresh", "--yes", "--skip-preview", par)
    assert len(persisted("refresh that deletes")["resources"]) == 4
    t.run("up", "--refresh", "--yes", "--skip-preview", par)
    assert len(persisted("up --refresh")["resources"]) == 5

    # A resource that fails on demand: the update fails, and what it did before failing is kept.
    t.program(program({"a": {"value": "eins"}, "b": {"value": "bee", "replaceKey": "k2"},
                       "c": {"value": "sea", "replaceKey": "k2", "dbr": True},
                       "e": {"value": "e", "failWith": "e refuses", "after": ["a"]}}))
    failed = t.run("up", "--yes", "--skip-preview", par, ok=False)
    assert "e refuses" in failed.stdout + failed.stderr
    state = persisted("a failed create")
    assert any(r.get("outputs", {}).get("value") == "eins" for r in state["resources"]), "the update before it"
    t.program(program({"a": {"value": "eins"}, "b": {"value": "bee", "replaceKey": "k2"},
                       "c": {"value": "sea", "replaceKey": "k2", "dbr": True}}))
    t.run("up", "--yes", "--skip-preview", par)
    t.program(program({"a": {"value": "eins", "failWith": "a refuses"}, "b": {"value": "bee", "replaceKey": "k2"},
                       "c": {"value": "sea", "replaceKey": "k2", "dbr": True}}))
    t.run("up", "--yes", "--skip-preview", par, ok=False)
    persisted("a failed update")

    # `pulumi import` of an item that exists at the provider.
    for p in t.both:
        (p.state / "item-imported.json").write_text(json.dumps({"id": "item-imported", "name": "imp", "value": "found"}))
    t.run("import", ITEM, "imp", "item-imported", "--yes", "--skip-preview", "--generate-code=false", "--protect=false", par)
    state = persisted("import")
    assert any(r.get("id") == "<id of " + r["urn"] + ">" and r["urn"].endswith("::imp") for r in state["resources"])

    t.run("destroy", "--yes", "--skip-preview", par)
    assert persisted("destroy")["resources"] == []
    if mode == "checkpoints":
        # The CLI took the advertised delta capability, and every delta applied (none fell back with a 409).
        log = server.log_since(0)
        assert "checkpointdelta -> 200" in log and "checkpointdelta -> 409" not in log
    hist = json.loads(t.svc.run("stack", "history", "--json").stdout)
    assert [h["kind"] for h in hist][:3] == ["destroy", "update", "update"], [h["kind"] for h in hist]


@pytest.mark.parametrize("version", list(CLI_VERSIONS))
def test_a_killed_cli_leaves_its_journaled_state_and_pending_create(server, version, unique, tmp_path):
    t = Twins(server, tmp_path, unique("kill"), unique("dev"), CLI_VERSIONS[version])
    p = t.svc
    mark = server.log_mark()
    cli = kill_while_creating_slow(t)
    try:
        assert server.request("GET", t.api(), ADMIN_TOKEN).json()["activeUpdate"] != "", "still locked"
        p.run("cancel", "--yes")
        assert server.request("GET", t.api(), ADMIN_TOKEN).json()["activeUpdate"] == ""
        t.assert_same_state()
        d = json.loads(p.run("stack", "export").stdout)["deployment"]
        assert any(r["urn"].endswith("::quick") for r in d["resources"])
        pending = d.get("pending_operations", [])
        assert [(o["type"], o["resource"]["urn"].rsplit("::", 1)[1]) for o in pending] == [("creating", "slow")], d
        assert not CHECKPOINT_ROUTE.search(server.log_since(mark))

        # The next update is warned about the interrupted create; refresh clears it, and then all is well.
        (p.dir / "Pulumi.yaml").write_text(f"name: {t.project}\nruntime: yaml\n" + program({"quick": {"value": "quick"}}))
        warned = p.run("up", "--yes", "--skip-preview")
        assert "pending operations from previous deployment" in warned.stdout + warned.stderr
        assert "interrupted while creating" in warned.stdout + warned.stderr
        p.run("refresh", "--clear-pending-creates", "--yes", "--skip-preview")
        assert not json.loads(p.run("stack", "export").stdout)["deployment"].get("pending_operations")
        p.run("up", "--yes", "--skip-preview")
        hist = json.loads(p.run("stack", "history", "--json").stdout)
        assert "cancelled" in [h["result"] for h in hist], hist
        assert "snapshot mismatch" not in json.dumps(t.latest_update_events()).lower()
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)


def kill_while_creating_slow(t):
    """Runs `up` of `quick` then `slow` (which takes two minutes) on both backends, and kills each CLI (SIGKILL, as a
    crash) once its live state shows `quick` created and `slow` being created. Returns the server side's process."""
    t.config("greeting", "hi")
    t.config("--secret", "pw", "x")
    t.program(program({"quick": {"value": "quick"}, "slow": {"value": "slow", "sleepSeconds": 120, "after": ["quick"]}}))
    for p in (t.ref, t.svc):
        cli = p.start("up", "--yes", "--skip-preview")
        try:
            # On the server, export replays the running journal; the file backend has written a checkpoint.
            wait_until(lambda: creating_slow(p), 120, "the create of `slow` to be persisted")
        finally:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait(timeout=30)
    return cli


def creating_slow(p):
    """Whether the stack's live state (export, replayed from the running update's journal) has the `quick` item
    and a pending create of `slow`."""
    r = p.run("stack", "export", check=False)
    if r.returncode != 0:
        return False
    d = json.loads(r.stdout)["deployment"]
    quick = any(x["urn"].endswith("::quick") for x in d.get("resources", []))
    return quick and any(o["resource"]["urn"].endswith("::slow") for o in d.get("pending_operations", []))


LEASE_SECONDS = 8


@pytest.fixture(scope="module")
def short_lease(server_factory):
    return server_factory({**DEFAULT_VARS, "PROCELLA_LEASE_SECONDS": str(LEASE_SECONDS)})


@pytest.mark.parametrize("version", list(CLI_VERSIONS))
def test_an_expired_lease_keeps_the_journaled_state(short_lease, version, unique, tmp_path):
    t = Twins(short_lease, tmp_path, unique("exp"), unique("dev"), CLI_VERSIONS[version])
    p = t.svc
    cli = kill_while_creating_slow(t)
    try:
        # Nobody cancels: the lease object's alarm ends the update and stores what its journal holds.
        wait_until(lambda: short_lease.request("GET", t.api(), ADMIN_TOKEN).json()["activeUpdate"] == "",
                   LEASE_SECONDS + 20, "the lease to expire")
        t.assert_same_state()
        d = json.loads(p.run("stack", "export").stdout)["deployment"]
        assert any(r["urn"].endswith("::quick") for r in d["resources"])
        assert [o["type"] for o in d.get("pending_operations", [])] == ["creating"]
        hist = json.loads(p.run("stack", "history", "--json").stdout)
        assert hist[0]["result"] == "failed"
        (p.dir / "Pulumi.yaml").write_text(f"name: {t.project}\nruntime: yaml\n" + program({"quick": {"value": "quick"}}))
        p.run("refresh", "--clear-pending-creates", "--yes", "--skip-preview")
        assert p.run("up", "--yes", "--skip-preview").returncode == 0
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def small_batches(server_factory):
    return server_factory({**DEFAULT_VARS, "PROCELLA_JOURNAL_BATCH_MAX_BYTES": str(64 << 10)})


def test_a_batch_over_the_cap_is_split_by_the_cli(small_batches, unique, tmp_path):
    """One batch of 1000 entries is over the server's cap: it answers 413, and the CLI halves the batch until
    every half fits. The state is complete all the same."""
    t = Twins(small_batches, tmp_path, unique("split"), unique("dev"), CLI_VERSIONS[next(iter(CLI_VERSIONS))],
              env={"PULUMI_JOURNALING_BATCH_SIZE": "1000"})
    t.config("greeting", "hi")
    t.config("--secret", "pw", "x")
    t.program(program({f"r{i}": {"value": f"{i}-" + "v" * 4000} for i in range(60)}))
    t.run("up", "--yes", "--skip-preview", "--parallel=64")
    assert "journalentries -> 413" in t.last_log, "the cap was reached"
    assert len(t.assert_same_state()["resources"]) == 62


def test_a_five_megabyte_resource_is_journaled(server, unique, tmp_path):
    """A resource larger than a Durable Object row (2 MB) is stored in parts and rebuilt whole."""
    t = Twins(server, tmp_path, unique("big"), unique("dev"), CLI_VERSIONS[next(iter(CLI_VERSIONS))])
    t.config("greeting", "hi")
    t.config("--secret", "pw", "x")
    big = "0123456789abcdef" * (5 << 16)  # 5 MiB
    for p in t.both:
        (p.dir / "big.txt").write_text(big)
    t.program(program({"small": {"value": "s"}}).replace(
        "resources:\n", f"resources:\n  big:\n    type: {ITEM}\n    properties:\n      value:\n"
        "        fn::readFile: ./big.txt\n", 1))
    t.run("up", "--yes", "--skip-preview")
    assert JOURNAL_OK.search(t.last_log)
    state = t.assert_same_state()
    bigs = [r for r in state["resources"] if r["urn"].endswith("::big")]
    assert bigs and bigs[0]["outputs"]["value"] == big
