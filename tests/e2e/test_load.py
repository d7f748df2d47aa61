"""Load, the short version (`scripts/bench.sh load` has the figures): concurrent updates on many stacks in two
organizations, concurrent updates on one stack, and a burst of concurrent reads. Correctness only, never timing;
the state invariants (tests/e2e/invariants.py) are checked after each."""

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import invariants
from conftest import ADMIN_TOKEN, CLI_VERSIONS, EVE_ORG, EVE_TOKEN, ORG, Pulumi
from twins import Twins

ITEM = "procella-test:index:Item"
TOKENS = {ORG: ADMIN_TOKEN, EVE_ORG: EVE_TOKEN}
CLI = CLI_VERSIONS[next(iter(CLI_VERSIONS))]


def items(n, tag):
    return "resources:\n" + "".join(
        f"  r{i}:\n    type: {ITEM}\n    properties:\n      value: {tag}-{i}\n" for i in range(n))


def test_eight_concurrent_ups_on_eight_stacks_in_two_orgs_match_the_file_backend(server, unique, tmp_path):
    twins = []
    for k in range(8):
        org, token = (ORG, ADMIN_TOKEN) if k % 2 == 0 else (EVE_ORG, EVE_TOKEN)
        t = Twins(server, tmp_path / f"t{k}", unique("load"), "dev", CLI, token=token, org=org)
        t.program(items(10, f"s{k}"))
        twins.append(t)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: t.run("up", "--yes", "--skip-preview"), twins))
    for t in twins:
        assert len(t.assert_same_state()["resources"]) == 12  # the stack, the provider, 10 items
    assert invariants.check(server, TOKENS, {t.project for t in twins}) == []


def clis_on_one_stack(server, tmp, project, resources, binary=CLI, n=8):
    """`n` CLIs in folders of their own, all on the stack `{ORG}/{project}/dev` with the same program."""
    clis = []
    for k in range(n):
        p = Pulumi(server, ADMIN_TOKEN, tmp / f"c{k}", project, binary)
        p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp / "provider")
        (p.dir / "Pulumi.yaml").write_text(f"name: {project}\nruntime: yaml\n{items(resources, 'one')}")
        clis.append(p)
    clis[0].run("stack", "init", f"{ORG}/{project}/dev")
    for p in clis[1:]:
        p.run("stack", "select", f"{ORG}/{project}/dev")
    return clis


def test_eight_concurrent_ups_on_one_stack_run_one_at_a_time(server, unique, tmp_path):
    project = unique("race")
    clis = clis_on_one_stack(server, tmp_path, project, 10)
    go = threading.Barrier(8)

    def up(p):
        go.wait()
        return p.run("up", "--yes", "--skip-preview", check=False, timeout=300)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(up, clis))
    ok = [r for r in results if r.returncode == 0]
    refused = [r for r in results if r.returncode != 0]
    assert ok, "one update ran"
    for r in refused:
        assert "another update is currently in progress" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
    # However many ran one after another, the stack holds the program's state, whole.
    exported = json.loads(clis[0].run("stack", "export").stdout)
    assert len(exported["deployment"]["resources"]) == 12
    history = server.request("GET", f"/api/stacks/{ORG}/{project}/dev/updates", ADMIN_TOKEN).json()["updates"]
    assert len([u for u in history if u["result"] == "succeeded"]) == len(ok)
    assert invariants.check(server, TOKENS, {project}) == []


def test_a_burst_of_concurrent_reads_all_succeed(server, descope_server, fake_descope, unique):
    key, _ = fake_descope.access_key(tenants=[{"tenantId": "T-acme", "roleNames": ["admin"]}],
                                     customClaims={"procellaOrgs": {"T-acme": "acme"}})
    project = unique("reads")
    assert server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": "s"}).status == 200
    assert descope_server.request("POST", f"/api/stacks/acme/{project}", key, {"stackName": "s"}).status == 200
    targets = [(server, ADMIN_TOKEN, f"/api/stacks/{ORG}/{project}/s"), (server, ADMIN_TOKEN, "/api/user"),
               (descope_server, key, f"/api/stacks/acme/{project}/s"), (descope_server, key, "/api/user")]

    def read(i):
        srv, token, path = targets[i % len(targets)]
        return srv.request("GET", path, token).status

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(read, range(1000)))
    assert statuses == [200] * 1000
