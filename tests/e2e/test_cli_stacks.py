"""The real pulumi CLI manages stacks against the worker: login, whoami, init, ls, select, tags, rename, rm."""

import json

from conftest import ADMIN_TOKEN, EVE_TOKEN, MEMBER_TOKEN, ORG, VIEWER_TOKEN


def stack_names(p, *flags):
    """Stack names as `stack ls` lists them, unqualified (it qualifies stacks of other projects)."""
    out = p.run("stack", "ls", "--json", *flags).stdout
    return {s["name"].split("/")[-1] for s in json.loads(out)}


def test_login_and_whoami_show_the_user_and_orgs(server, pulumi):
    p = pulumi()
    login = p.run("login", server.url)
    assert f"Logged in to {server.url} as ada" in login.stdout + login.stderr
    who = p.run("whoami", "-v").stdout
    assert "User: ada" in who
    assert f"Organizations: {ORG}" in who
    assert "Token type: personal" in who
    assert p.run("whoami").stdout.strip() == "ada"


def test_a_bad_token_cannot_log_in(server, pulumi):
    p = pulumi(token="not-a-token")
    r = p.run("login", server.url, check=False)
    assert r.returncode != 0
    assert "Unauthorized" in r.stderr, r.stderr


def test_stack_lifecycle(server, pulumi, unique):
    p = pulumi(project="lifecycle")
    dev, prod = unique("dev"), unique("prod")

    p.run("stack", "init", f"{ORG}/lifecycle/{dev}")
    p.run("stack", "init", prod)  # the default organization is used
    assert {dev, prod} <= stack_names(p)

    again = p.run("stack", "init", f"{ORG}/lifecycle/{dev}", check=False)
    assert again.returncode != 0
    assert "already exists" in again.stderr

    p.run("stack", "select", f"{ORG}/lifecycle/{dev}")
    p.run("stack", "tag", "set", "env", "staging")
    p.run("stack", "tag", "set", "owner", "team-a")
    tags = json.loads(p.run("stack", "tag", "ls", "--json").stdout)
    assert tags["env"] == "staging" and tags["owner"] == "team-a"
    assert tags["pulumi:project"] == "lifecycle"

    p.run("stack", "tag", "rm", "owner")
    tags = json.loads(p.run("stack", "tag", "ls", "--json").stdout)
    assert "owner" not in tags and tags["env"] == "staging"

    assert dev in stack_names(p, "--tag", "env=staging")
    assert prod not in stack_names(p, "--tag", "env=staging")
    assert dev in stack_names(p, "--tag", "env")

    renamed = unique("renamed")
    p.run("stack", "rename", renamed)
    names = stack_names(p)
    assert renamed in names and dev not in names
    tags = json.loads(p.run("stack", "tag", "ls", "--json").stdout)
    assert tags["env"] == "staging", "tags move with the renamed stack"

    p.run("stack", "rm", "--yes")
    names = stack_names(p)
    assert renamed not in names and prod in names

    gone = p.run("stack", "select", f"{ORG}/lifecycle/{renamed}", check=False)
    assert gone.returncode != 0


def test_stack_ls_filters_by_organization_and_project(server, pulumi, unique):
    a = pulumi(project="alpha")
    b = pulumi(project="beta")
    sa, sb = unique("a"), unique("b")
    a.run("stack", "init", f"{ORG}/alpha/{sa}")
    b.run("stack", "init", f"{ORG}/beta/{sb}")

    alpha = stack_names(a, "--all", "--project", "alpha")
    assert sa in alpha and sb not in alpha
    in_org = stack_names(a, "--all", "--organization", ORG)
    assert {sa, sb} <= in_org
    assert stack_names(a, "--all", "--organization", "eve-org") == set()


def test_roles_gate_the_cli(server, pulumi, unique):
    name = unique("roles")
    admin = pulumi(project="roles")
    admin.run("stack", "init", f"{ORG}/roles/{name}")

    viewer = pulumi(token=VIEWER_TOKEN, project="roles")
    assert name in stack_names(viewer, "--all")
    denied = viewer.run("stack", "init", f"{ORG}/roles/{unique('v')}", check=False)
    assert denied.returncode != 0 and "403" in denied.stderr + denied.stdout

    member = pulumi(token=MEMBER_TOKEN, project="roles")
    member.run("stack", "select", f"{ORG}/roles/{name}")
    member.run("stack", "tag", "set", "by", "member")
    refused = member.run("stack", "rm", "--yes", check=False)
    assert refused.returncode != 0 and "admin" in refused.stderr
    assert name in stack_names(admin, "--all")


def test_other_orgs_stacks_are_invisible(server, pulumi, unique):
    name = unique("private")
    pulumi(project="secret").run("stack", "init", f"{ORG}/secret/{name}")
    eve = pulumi(token=EVE_TOKEN, project="secret")
    assert name not in stack_names(eve, "--all")
    r = eve.run("stack", "select", f"{ORG}/secret/{name}", check=False)
    assert r.returncode != 0
    r = eve.run("stack", "init", f"{ORG}/secret/{unique('x')}", check=False)
    assert r.returncode != 0
