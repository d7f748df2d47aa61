"""The sign-up-or-in flow: a first-time user gets a tenant of their own as its Tenant Admin; a returning user just
signs in. The flow files are checked before Descope would reject them."""

import json

import pytest

from conftest import INFRA_DIR
from procella_infra.access_model import ROLES
from procella_infra.errors import InvalidSetup
from procella_infra.flows import load_flows

FLOW = json.loads((INFRA_DIR / "flows" / "sign-up-or-in.json").read_text())
TASKS = FLOW["contents"]["tasks"]


def successors(task_id: str) -> list[str]:
    return [rule["taskId"] for rule in (TASKS[task_id].get("next") or {}).get("rules", [])]


def paths_to_sign_in(task_id: str = "start", seen: tuple = ()) -> list[list[dict]]:
    """Every loop-free path of tasks from `task_id` to the end of the flow (the `logged-in` action)."""
    path = [*seen, task_id]
    if TASKS[task_id].get("action") == "logged-in":
        return [[TASKS[t] for t in path]]
    return [p for nxt in successors(task_id) if nxt not in path for p in paths_to_sign_in(nxt, tuple(path))]


def creates_tenant(path) -> bool:
    return any(t.get("action") == "tenant-create" for t in path)


def makes_tenant_admin_after_creating(path) -> bool:
    actions = [t.get("action") for t in path]
    if "tenant-create" not in actions:
        return False
    after = path[actions.index("tenant-create") + 1:]
    return any(
        t.get("action") == "user-add-tenant"
        and t["arguments"]["tenantId"] == {"type": "dynamic", "value": "tenant.id"}
        and "Tenant Admin" in t["arguments"]["roles"]["value"]
        for t in after
    )


def test_every_way_of_signing_up_that_creates_a_tenant_makes_the_user_its_tenant_admin():
    creating = [p for p in paths_to_sign_in() if creates_tenant(p)]
    assert creating, "a first-time user must be able to get a tenant"
    assert all(makes_tenant_admin_after_creating(p) for p in creating)


def test_only_a_user_without_a_tenant_is_sent_to_create_one():
    for path in filter(creates_tenant, paths_to_sign_in()):
        condition = next(t for t in path if t.get("type") == "condition")
        taken = path[path.index(condition) + 1]["id"]
        branch = next(r["interactionId"] for r in condition["next"]["rules"] if r["taskId"] == taken)
        (rule,) = [c for c in condition["conditions"] if c["interactionId"] == branch]
        assert rule["atomicConditions"] == [
            {"target": {"value": "user.tenants"}, "operator": "is-empty", "predicate": {"value": ""}}]


def test_a_returning_user_signs_in_without_creating_a_tenant():
    assert any(not creates_tenant(p) for p in paths_to_sign_in())


def test_the_flow_is_whole_every_step_and_screen_it_names_exists():
    assert FLOW["contents"]["startTask"] in TASKS
    screens = {s["screenId"]: s["contents"] for s in FLOW["screens"]}
    for task_id, task in TASKS.items():
        assert set(successors(task_id)) <= TASKS.keys(), task_id
        if task.get("type") == "screen":
            buttons = {n["props"].get("id") for n in screens[task["screenId"]].values()
                       if n["type"]["resolvedName"] == "Button"}
            assert {r["interactionId"] for r in task["next"]["rules"]} <= buttons, task_id


def test_the_roles_the_flow_references_are_declared_by_the_project():
    assert set(FLOW["references"]["roles"]) <= set(ROLES)
    assert "sign-up-or-in" in load_flows(INFRA_DIR / "flows", declared_roles=ROLES)


def write_flow(directory, name, flow) -> None:
    (directory / name).write_text(flow if isinstance(flow, str) else json.dumps(flow))


@pytest.mark.parametrize("name, flow, problem", [
    ("sign-up-or-in.json", {**FLOW, "references": {"roles": {"Owner": "ROL1"}}},
     "references the role 'Owner', which the project does not declare"),
    ("login.json", FLOW, "its flowId is 'sign-up-or-in'; name the file after the flow ID"),
    ("broken.json", "{", "broken.json: not valid JSON"),
    ("empty.json", {"flowId": "empty"}, "a flow export is an object with `metadata` and `contents`"),
])
def test_a_flow_file_descope_would_refuse_stops_the_deployment(tmp_path, name, flow, problem):
    write_flow(tmp_path, name, flow)
    with pytest.raises(InvalidSetup) as e:
        load_flows(tmp_path, declared_roles=ROLES)
    assert problem in str(e.value)


def test_a_flows_folder_without_flows_is_a_mistake(tmp_path):
    with pytest.raises(InvalidSetup) as e:
        load_flows(tmp_path, declared_roles=ROLES)
    assert "holds no flow" in str(e.value)
