"""Who may do what, as Descope must be told: roles, permissions, JWT claims, the password policy, session lengths.

The worker reads roles per tenant from the session JWT (`tenants.<id>.roles`, or the top-level `roles` for the `dct`
tenant) and ranks them viewer < member < admin (the repository README, "Access rules"). The values here follow
the shared spec procella-descope-setup.txt ("Descope Setup").
"""

import json

# Procella's own permissions. The worker decides by role, not permission; these name what each role is for, and
# show up in the dashboard's role widget.
PERMISSIONS = {
    "stacks:write": "Create stacks and run updates",
    "stacks:delete": "Delete stacks",
    "members:manage": "Invite and remove members and change their roles",
}

# Descope's preconfigured permissions, which its Tenant Admin role carries. They are declared because this program
# manages the project's whole permission list: leaving them out would delete them, and with them the management
# widgets on the dashboard's Settings page ("User Admin" is what those widgets check).
DESCOPE_BUILTIN_PERMISSIONS = {
    "User Admin": "Read and modify the tenant's users (Descope built-in)",
    "SSO Admin": "Read and modify the tenant's SSO configuration (Descope built-in)",
    "Impersonate": "Act on behalf of another user of the tenant (Descope built-in)",
}

TENANT_ADMIN = "Tenant Admin"

# name -> (key, description, permissions). The key is the provider's stable identity for a role across renames.
ROLES = {
    "viewer": ("viewer", "Read stacks and update history (GET, HEAD)", ()),
    "member": ("member", "Create stacks and run updates (POST, PATCH, PUT)", ("stacks:write",)),
    "admin": (
        "admin",
        "Everything, including deleting stacks (DELETE)",
        ("stacks:write", "stacks:delete", "members:manage"),
    ),
    # Descope's built-in role, declared so redeploys keep it: the sign-up-or-in flow gives it to whoever creates a
    # tenant, and the dashboard's management widgets need it at the tenant level (the app-level admin is not enough).
    TENANT_ADMIN: (
        "tenant_admin",
        "Manages the tenant in the dashboard's Settings page; given to whoever signs up first",
        ("members:manage", "User Admin", "SSO Admin", "Impersonate"),
    ),
}

USER_JWT_TEMPLATE = "procella-user"
ACCESS_KEY_JWT_TEMPLATE = "procella-access-key"

# Both templates use the `default` authorization schema, which puts the top-level `roles` and the per-tenant
# `tenants: {<id>: {roles, permissions}}` claims in every JWT, and `auto_tenant_claim`, which sets `dct` when the
# user or key belongs to one tenant. The custom claims `procellaOrgs` ({tenantId: slug}) and `procellaLogin` are
# not template claims: the worker puts them on each access key it creates, and Descope copies a key's custom claims
# into the JWTs it is exchanged for. Subjects are not overridden, so `sub` stays the user or key ID.
_TEMPLATE_SETTINGS = {
    "auth_schema": "default",
    "auto_tenant_claim": True,
    "empty_claim_policy": "none",
    "exclude_permission_claim": False,
    "override_subject_claim": False,
    "enforce_issuer": False,
    "conformance_issuer": False,
    "add_jti_claim": False,
    "template": json.dumps({}),
}
USER_TEMPLATE = {
    "name": USER_JWT_TEMPLATE,
    "description": "Procella browser sessions: roles and tenants claims, dct for a single tenant",
    **_TEMPLATE_SETTINGS,
}
ACCESS_KEY_TEMPLATE = {
    "name": ACCESS_KEY_JWT_TEMPLATE,
    "description": "Procella access keys (PULUMI_ACCESS_TOKEN): roles and tenants claims, dct for a single tenant",
    **_TEMPLATE_SETTINGS,
}

# The seed's policy: at least 12 characters with upper, lower, number and special. 5 failed attempts lock the
# account for a while (`temporary_lock_duration`); 10 lock it until the password is reset.
PASSWORD_POLICY = {
    "min_length": 12,
    "uppercase": True,
    "lowercase": True,
    "number": True,
    "non_alphanumeric": True,
    "lock": True,
    "lock_attempts": 10,
    "temporary_lock": True,
    "temporary_lock_attempts": 5,
    "temporary_lock_duration": "15 minutes",
}

SESSION_SETTINGS = {
    "user_jwt_template": USER_JWT_TEMPLATE,
    "access_key_jwt_template": ACCESS_KEY_JWT_TEMPLATE,
    "session_token_expiration": "10 minutes",
    "refresh_token_expiration": "4 weeks",
    # An exchanged access key is cached by the worker until shortly before its JWT expires, so this is also the
    # longest a revoked key keeps working: short enough to matter, long enough that CI runs exchange rarely.
    "access_key_session_token_expiration": "15 minutes",
}
