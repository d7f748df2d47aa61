"""The Descope side: the existing project, adopted and configured for Procella.

The project is created by hand in the Descope console (its ID is `descope:projectId`); this program imports it on the
first `pulumi up` and from then on owns its roles, permissions, JWT templates, password policy, session settings and
the flows in infra/flows. Pulumi's `import` option reconciles the differences with an update after importing.
"""

import pulumi
import descope_pulumi as descope

from . import access_model as model
from .settings import Settings


def descope_provider(settings: Settings) -> descope.Provider:
    # An explicit provider, so the validated key is the one used, and the deprecated provider-level project ID
    # (which the default provider would pick up from descope:projectId) is never sent.
    return descope.Provider("descope", management_key=pulumi.Output.secret(settings.descope_management_key))


def descope_project(settings: Settings, flows: dict[str, str], provider: descope.Provider) -> descope.Project:
    return descope.Project(
        "descope-project",
        name=settings.descope_project_name,
        authorization={
            "permissions": [
                {"name": name, "description": description}
                for name, description in {**model.PERMISSIONS, **model.DESCOPE_BUILTIN_PERMISSIONS}.items()
            ],
            "roles": [
                {"name": name, "key": key, "description": description, "permissions": list(permissions)}
                for name, (key, description, permissions) in model.ROLES.items()
            ],
        },
        authentication={"password": dict(model.PASSWORD_POLICY)},
        jwt_templates={
            "user_templates": [dict(model.USER_TEMPLATE)],
            "access_key_templates": [dict(model.ACCESS_KEY_TEMPLATE)],
        },
        project_settings=dict(model.SESSION_SETTINGS),
        flows={flow_id: {"data": data} for flow_id, data in flows.items()},
        opts=pulumi.ResourceOptions(
            provider=provider,
            import_=settings.descope_project_id,
            # The project predates the stack and holds every user and tenant: `pulumi destroy` must never delete it.
            retain_on_delete=True,
        ),
    )
