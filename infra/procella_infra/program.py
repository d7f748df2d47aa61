"""The whole stack, in the order it must happen: every check first, then the resources, then the outputs."""

from pathlib import Path
from typing import Collection, Mapping, Optional

from . import access_model
from .bundle import load_bundle
from .descope_project import descope_project, descope_provider
from .flows import load_flows
from .settings import load_settings
from .storage import d1_database, r2_bucket
from .worker import cron_triggers, custom_domain, worker_script, workers_dev_route

INFRA_DIR = Path(__file__).resolve().parent.parent


def run(
    values: Mapping[str, Optional[str]], secret_keys: Collection[str], env: Mapping[str, str],
    infra_dir: Path = INFRA_DIR,
) -> dict:
    """Declares the stack and returns its outputs. Raises InvalidSetup, having declared nothing, when the
    configuration, the worker bundle or a flow file is unusable."""
    settings = load_settings(values, secret_keys, env)
    bundle = load_bundle((infra_dir / settings.bundle_dir).resolve(), (infra_dir / settings.assets_dir).resolve())
    flows = load_flows(infra_dir / "flows", declared_roles=access_model.ROLES)

    project = descope_project(settings, flows, descope_provider(settings))
    database = d1_database(settings)
    bucket = r2_bucket(settings)
    # The worker takes the project ID from the imported project, so it is deployed only once Descope is configured.
    worker = worker_script(settings, bundle, database, bucket, descope_project_id=project.id)
    workers_dev_route(settings, worker)
    cron_triggers(settings, worker)
    custom_domain(settings, worker)

    return {
        "workerUrl": settings.worker_url,
        "loginCommand": f"pulumi login {settings.worker_url}",
        "d1DatabaseId": database.id,
        "bucketName": bucket.name,
        "workerName": worker.script_name,
        "descopeProjectId": project.id,
    }
