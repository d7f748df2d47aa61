"""The audit log: what the real CLI does to a stack is recorded with its actor and outcome, so are failed
authentications and denials; only org admins read it; the daily purge removes only what is past retention."""

import json
import time

from conftest import ADMIN_TOKEN, DEFAULT_VARS, EVE_TOKEN, MEMBER_TOKEN, ORG, VIEWER_TOKEN
from twins import wait_until

ITEM = "procella-test:index:Item"
LOG = f"/api/orgs/{ORG}/auditlogs"


def entries(server, query="", token=ADMIN_TOKEN):
    r = server.request("GET", f"{LOG}?{query}", token)
    assert r.status == 200, r.body
    return r.json()


def about(server, project, since, want):
    """The org's entries about `project` since `since`, oldest first, once at least `want` have been written
    (they are written just after each answer)."""
    found = []

    def enough():
        found[:] = [e for e in entries(server, f"startTime={since}&pageSize=500")["auditLogEvents"]
                    if (e["target"] or "").startswith(f"{ORG}/{project}")][::-1]
        return len(found) >= want

    wait_until(enough, 20, f"{want} audit entries about {project}")
    return found


def test_what_the_cli_does_to_a_stack_is_recorded_with_its_actor_and_outcome(server, pulumi, unique):
    since = int(time.time()) - 1
    project = unique("aud")
    p = pulumi(project=project)
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(p.dir.parent / "provider")
    (p.dir.parent / "provider").mkdir()
    (p.dir / "Pulumi.yaml").write_text(
        f"name: {project}\nruntime: yaml\nresources:\n  a:\n    type: {ITEM}\n    properties:\n      value: x\n")
    p.run("stack", "init", f"{ORG}/{project}/dev")
    p.run("up", "--yes", "--skip-preview")
    p.run("stack", "tag", "set", "env", "staging")
    assert server.request("DELETE", f"/api/stacks/{ORG}/{project}/dev", VIEWER_TOKEN).status == 403
    p.run("stack", "rename", f"{ORG}/{project}/prod")
    p.run("stack", "rm", "--yes", "--force")

    log = about(server, project, since, 8)
    got = [(e["event"], e["user"]["githubLogin"], "ok" if 200 <= e["status"] < 300 else e["status"]) for e in log]
    # The admin's dev token is the user `ada` (conftest); the viewer is `vic`. An update ends on its lease token.
    for want in [
        ("stack.create", "ada", "ok"),
        ("update.create", "ada", "ok"),
        ("update.start", "ada", "ok"),
        ("update.end", "", "ok"),
        ("stack.tags", "ada", "ok"),
        ("access.denied", "vic", 403),
        ("stack.rename", "ada", "ok"),
        ("stack.delete", "ada", "ok"),
    ]:
        assert want in got, f"{want} not in {got}"
    assert [g[0] for g in got].index("update.start") < [g[0] for g in got].index("update.end")
    start = next(e for e in log if e["event"] == "update.start")
    assert "/update/" in start["target"] and start["timestamp"] >= since
    # The update's own traffic (checkpoints or journal batches, events, lease renewals) is not recorded.
    assert not any(e["event"] in ("update.checkpoint", "update.journal") for e in log)


def test_failed_authentications_are_recorded_without_the_token(server):
    since = int(time.time()) - 1
    junk = "tok-not-a-real-token-7f3a9c"
    assert server.request("GET", f"/api/stacks/{ORG}/nope/dev", junk).status == 401
    found = []
    wait_until(lambda: found.extend(e for e in entries(server, f"startTime={since}&action=auth.failed")["auditLogEvents"]
                                    if e["target"] == f"{ORG}/nope/dev") or found, 20, "the failure to be recorded")
    assert found[0]["status"] == 401 and found[0]["authFailure"] is True and found[0]["user"]["githubLogin"] == ""
    assert junk not in json.dumps(entries(server, f"startTime={since}&pageSize=500"))


def test_only_org_admins_read_it_and_only_their_own_org(server):
    r = server.request("GET", LOG, MEMBER_TOKEN)
    assert r.status == 403 and r.json()["code"] == 403 and "admin" in r.json()["message"]
    assert server.request("GET", LOG, EVE_TOKEN).status == 404
    assert server.request("GET", LOG, VIEWER_TOKEN).status == 403
    bad = server.request("GET", f"{LOG}?pageSize=0", ADMIN_TOKEN)
    assert bad.status == 400 and "pageSize" in bad.json()["message"]


def test_pages_follow_the_continuation_token_without_overlap(server):
    for _ in range(3):
        server.request("GET", f"/api/stacks/{ORG}/paging/dev", "tok-junk")
    since = 0
    first = entries(server, f"startTime={since}&pageSize=2")
    assert len(first["auditLogEvents"]) == 2 and first["continuationToken"]
    second = entries(server, f"startTime={since}&pageSize=2&continuationToken={first['continuationToken']}")
    ids = [e["id"] for e in first["auditLogEvents"] + second["auditLogEvents"]]
    assert len(set(ids)) == len(ids) and ids == sorted(ids, reverse=True)


def test_the_daily_purge_removes_only_entries_past_retention(server_factory):
    s = server_factory({**DEFAULT_VARS, "PROCELLA_AUDIT_RETENTION_DAYS": "30"})
    now = int(time.time() * 1000)
    day = 86_400_000
    s.sql("INSERT INTO audit_log (time, org, actor, action, target, status) VALUES "
          f"({now - 31 * day}, '{ORG}', 'old', 'stack.delete', '{ORG}/p/old', 204), "
          f"({now - 29 * day}, '{ORG}', 'recent', 'stack.delete', '{ORG}/p/recent', 204)")
    r = s.request("GET", "/__scheduled?cron=30+3+*+*+*")
    assert r.status == 200, r.body
    wait_until(lambda: "entries older than 30 days removed" in s.log_text(), 20, "the purge to run")
    actors = {row["actor"] for row in s.sql("SELECT actor FROM audit_log")}
    assert "recent" in actors and "old" not in actors


def test_an_update_ended_by_its_lease_running_out_is_recorded(server_factory, tmp_path, unique):
    import os
    import signal

    from conftest import Pulumi
    s = server_factory({**DEFAULT_VARS, "PROCELLA_LEASE_SECONDS": "5"})
    since = int(time.time()) - 1
    project = unique("exp")
    p = Pulumi(s, ADMIN_TOKEN, tmp_path, project=project)
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp_path / "provider")
    (tmp_path / "provider").mkdir()
    (p.dir / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\nresources:\n  slow:\n    type: {ITEM}\n"
                                       "    properties:\n      value: s\n      sleepSeconds: 120\n")
    p.run("stack", "init", f"{ORG}/{project}/dev")
    cli = p.start("up", "--yes", "--skip-preview")
    try:
        api = f"/api/stacks/{ORG}/{project}/dev"
        wait_until(lambda: s.request("GET", api, ADMIN_TOKEN).json()["activeUpdate"], 60, "the update to start")
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait(timeout=30)
        log = about(s, project, since, 4)  # stack.create, update.create, update.start, update.expired
        assert ("update.expired", "") in [(e["event"], e["user"]["githubLogin"]) for e in log]
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
