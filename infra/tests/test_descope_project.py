"""The Descope project as Procella needs it: roles ranked viewer < member < admin, Tenant Admin for whoever signs
up first, tenant claims in every JWT, the seed's password policy and the sign-up-or-in flow."""

import json

import pytest

from conftest import DESCOPE_PROVIDER, INFRA_DIR, MANAGEMENT_KEY, PROJECT, PROJECT_ID


@pytest.fixture
def project(deployed):
    return deployed.one(PROJECT).inputs


def roles_of(project) -> dict:
    return {r["name"]: r for r in project["authorization"]["roles"]}


def test_the_existing_project_is_adopted_by_its_id_rather_than_a_new_one_created(deployed):
    declared = deployed.one(PROJECT)
    assert declared.import_id == PROJECT_ID
    assert declared.inputs["name"] == "Procella"
    assert deployed.outputs["descopeProjectId"] == PROJECT_ID


def test_descope_is_managed_with_the_management_key_kept_secret(deployed):
    provider = deployed.one(DESCOPE_PROVIDER)
    assert provider.inputs["managementKey"] == MANAGEMENT_KEY
    assert "managementKey" in provider.secret_paths
    assert "projectId" not in provider.inputs, "the provider-level project ID is deprecated"


def test_procellas_roles_and_permissions_are_all_declared(project):
    assert set(roles_of(project)) == {"viewer", "member", "admin", "Tenant Admin"}
    permissions = {p["name"] for p in project["authorization"]["permissions"]}
    assert {"stacks:write", "stacks:delete", "members:manage"} <= permissions


def test_each_role_grants_what_its_rank_allows(project):
    roles = roles_of(project)
    assert roles["viewer"]["permissions"] == []
    assert roles["member"]["permissions"] == ["stacks:write"]
    assert set(roles["admin"]["permissions"]) == {"stacks:write", "stacks:delete", "members:manage"}


def test_tenant_admin_keeps_the_descope_permissions_the_management_widgets_need(project):
    tenant_admin = set(roles_of(project)["Tenant Admin"]["permissions"])
    assert {"User Admin", "SSO Admin", "Impersonate", "members:manage"} <= tenant_admin


def test_every_permission_a_role_grants_is_declared_and_every_role_has_its_own_key(project):
    # The provider refuses a role naming an undeclared permission, and uses keys to track roles across renames.
    declared = {p["name"] for p in project["authorization"]["permissions"]}
    for role in project["authorization"]["roles"]:
        assert set(role["permissions"]) <= declared, role["name"]
    keys = [r["key"] for r in project["authorization"]["roles"]]
    assert len(set(keys)) == len(keys) == 4


@pytest.mark.parametrize("kind", ["userTemplates", "accessKeyTemplates"])
def test_user_and_access_key_jwts_carry_roles_and_tenants_with_the_automatic_tenant_claim(project, kind):
    (template,) = project["jwtTemplates"][kind]
    assert template["authSchema"] == "default", "roles and tenants claims"
    assert template["autoTenantClaim"] is True, "dct for a single tenant"
    assert template["overrideSubjectClaim"] is False, "sub stays the user or access key"
    assert template["excludePermissionClaim"] is False
    assert isinstance(json.loads(template["template"]), dict)


def test_the_project_uses_both_templates(project):
    user = project["jwtTemplates"]["userTemplates"][0]["name"]
    access_key = project["jwtTemplates"]["accessKeyTemplates"][0]["name"]
    assert user != access_key, "Descope refuses two templates with one name"
    assert project["projectSettings"]["userJwtTemplate"] == user
    assert project["projectSettings"]["accessKeyJwtTemplate"] == access_key


def test_the_password_policy_is_the_seeds(project):
    password = project["authentication"]["password"]
    assert password["minLength"] == 12
    assert all(password[k] is True for k in ("uppercase", "lowercase", "number", "nonAlphanumeric"))
    assert (password["lock"], password["lockAttempts"]) == (True, 10)
    assert (password["temporaryLock"], password["temporaryLockAttempts"]) == (True, 5)
    assert password["temporaryLockDuration"] == "15 minutes"


def test_a_revoked_access_key_stops_working_within_fifteen_minutes(project):
    # The worker caches an exchanged key until its session JWT expires; this bounds how long revocation takes.
    assert project["projectSettings"]["accessKeySessionTokenExpiration"] == "15 minutes"


def test_the_sign_up_or_in_flow_is_deployed_from_its_file(project):
    assert set(project["flows"]) == {"sign-up-or-in"}
    deployed_flow = json.loads(project["flows"]["sign-up-or-in"]["data"])
    assert deployed_flow == json.loads((INFRA_DIR / "flows" / "sign-up-or-in.json").read_text())
