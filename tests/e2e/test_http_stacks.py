"""Stack semantics over HTTP: create, read, list with filters and pages, rename, tags, delete."""

from conftest import ADMIN_TOKEN, ORG, VIEWER_TOKEN


def create(server, project, name, tags=None):
    body = {"stackName": name}
    if tags is not None:
        body["tags"] = tags
    r = server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, body)
    assert r.status == 200, r.body
    return f"/api/stacks/{ORG}/{project}/{name}"


def test_create_then_read_a_stack(server, unique):
    project, name = unique("p"), unique("s")
    path = create(server, project, name, {"env": "dev"})
    s = server.request("GET", path, VIEWER_TOKEN).json()
    assert (s["orgName"], s["projectName"], s["stackName"]) == (ORG, project, name)
    assert s["tags"] == {"env": "dev"}
    assert s["activeUpdate"] == "" and s["version"] == 0
    dup = server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": name})
    assert dup.status == 409 and "already exists" in dup.json()["message"]


def test_project_exists_while_it_has_stacks(server, unique):
    project = unique("p")
    assert server.request("HEAD", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN).status == 404
    path = create(server, project, unique("s"))
    assert server.request("HEAD", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN).status == 200
    assert server.request("DELETE", path, ADMIN_TOKEN).status == 200
    assert server.request("HEAD", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN).status == 404


def list_all(server, query):
    names, token, pages = [], None, 0
    while True:
        q = query + (f"&continuationToken={token}" if token else "")
        body = server.request("GET", f"/api/user/stacks?{q}", ADMIN_TOKEN).json()
        names += [s["stackName"] for s in body["stacks"]]
        pages += 1
        token = body.get("continuationToken")
        if not token:
            return names, pages


def test_listing_pages_with_continuation_tokens(server, unique):
    project = unique("p")
    made = [unique("s") for _ in range(5)]
    for n in made:
        create(server, project, n)
    names, pages = list_all(server, f"project={project}&pageSize=2")
    assert sorted(names) == sorted(made)
    assert pages == 3


def test_listing_filters_by_tag_name_and_value(server, unique):
    project = unique("p")
    a, b, c = unique("a"), unique("b"), unique("c")
    create(server, project, a, {"env": "prod", "team": "x"})
    create(server, project, b, {"env": "dev"})
    create(server, project, c, {})
    names, _ = list_all(server, f"project={project}&tagName=env&tagValue=prod")
    assert names == [a]
    names, _ = list_all(server, f"project={project}&tagName=env")
    assert sorted(names) == sorted([a, b])
    names, _ = list_all(server, f"organization={ORG}&project={project}")
    assert sorted(names) == sorted([a, b, c])


def test_tags_are_replaced_not_merged(server, unique):
    path = create(server, unique("p"), unique("s"), {"keep": "no", "env": "dev"})
    assert server.request("PATCH", path + "/tags", ADMIN_TOKEN, {"env": "prod"}).status == 200
    assert server.request("GET", path, ADMIN_TOKEN).json()["tags"] == {"env": "prod"}
    assert server.request("PATCH", path + "/tags", ADMIN_TOKEN, {}).status == 200
    assert server.request("GET", path, ADMIN_TOKEN).json()["tags"] == {}


def test_rename_within_and_across_projects(server, unique):
    p1, p2, name = unique("p"), unique("q"), unique("s")
    path = create(server, p1, name, {"env": "dev"})
    new = unique("n")
    assert server.request("POST", path + "/rename", ADMIN_TOKEN, {"newName": new, "newProject": p2}).status == 200
    assert server.request("GET", path, ADMIN_TOKEN).status == 404
    moved = server.request("GET", f"/api/stacks/{ORG}/{p2}/{new}", ADMIN_TOKEN).json()
    assert (moved["projectName"], moved["stackName"], moved["tags"]) == (p2, new, {"env": "dev"})

    # Only the project changes when newName is empty.
    p3 = unique("r")
    r = server.request("POST", f"/api/stacks/{ORG}/{p2}/{new}/rename", ADMIN_TOKEN, {"newName": "", "newProject": p3})
    assert r.status == 200
    assert server.request("GET", f"/api/stacks/{ORG}/{p3}/{new}", ADMIN_TOKEN).status == 200

    # A taken name is a conflict, and nothing moves.
    other = create(server, p3, unique("o"))
    taken = other.rsplit("/", 1)[1]
    r = server.request("POST", f"/api/stacks/{ORG}/{p3}/{new}/rename", ADMIN_TOKEN, {"newName": taken})
    assert r.status == 409 and "already exists" in r.json()["message"]
    assert server.request("GET", f"/api/stacks/{ORG}/{p3}/{new}", ADMIN_TOKEN).status == 200

    r = server.request("POST", f"/api/stacks/{ORG}/{p3}/missing/rename", ADMIN_TOKEN, {"newName": "x"})
    assert r.status == 404


def test_delete_of_an_empty_stack_and_force(server, unique):
    path = create(server, unique("p"), unique("s"))
    assert server.request("DELETE", path + "?force=true", ADMIN_TOKEN).status == 200
    assert server.request("GET", path, ADMIN_TOKEN).status == 404
    assert server.request("DELETE", path, ADMIN_TOKEN).status == 404


def test_default_org_and_user(server):
    assert server.request("GET", "/api/user/organizations/default", ADMIN_TOKEN).json()["gitHubLogin"] == ORG
    user = server.request("GET", "/api/user", ADMIN_TOKEN).json()
    assert user["githubLogin"] == "ada"
    assert [o["githubLogin"] for o in user["organizations"]] == [ORG]
