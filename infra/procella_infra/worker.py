"""The worker: the bundle wrangler built, uploaded with its bindings, vars, secrets and Durable Object migrations,
and the address it answers on."""

from typing import Optional

import pulumi
import pulumi_cloudflare as cloudflare

from . import worker_contract as contract
from .bundle import WorkerBundle
from .settings import Settings


def bindings(
    database_id: pulumi.Input[str], bucket_name: pulumi.Input[str], descope_project_id: pulumi.Input[str],
    settings: Settings,
) -> list[dict]:
    """Every binding the worker reads, by the names in worker_contract (the same ones wrangler.toml declares)."""
    return [
        {"name": contract.D1_BINDING, "type": "d1", "id": database_id},
        {"name": contract.R2_BINDING, "type": "r2_bucket", "bucket_name": bucket_name},
        *(
            {"name": do.binding, "type": "durable_object_namespace", "class_name": do.class_name}
            for do in contract.DURABLE_OBJECTS
        ),
        # The limit goes both on the binding and in the variable the worker passes with each call.
        *(
            {"name": rl.binding, "type": "ratelimit", "namespace_id": rl.namespace_id,
             "simple": {"limit": settings.rate_limits[rl.variable], "period": contract.RATE_LIMIT_PERIOD}}
            for rl in contract.RATE_LIMITS
        ),
        *(
            {"name": rl.variable, "type": "plain_text", "text": str(settings.rate_limits[rl.variable])}
            for rl in contract.RATE_LIMITS
        ),
        {"name": contract.VAR_AUTH_MODE, "type": "plain_text", "text": "descope"},
        {"name": contract.VAR_DESCOPE_PROJECT_ID, "type": "plain_text", "text": descope_project_id},
        # Secrets travel as Pulumi secrets: encrypted in the stack state, masked in previews and logs.
        {
            "name": contract.SECRET_DESCOPE_MANAGEMENT_KEY,
            "type": "secret_text",
            "text": pulumi.Output.secret(settings.worker_descope_management_key),
        },
        {
            "name": contract.SECRET_ENCRYPTION_KEY,
            "type": "secret_text",
            "text": pulumi.Output.secret(settings.encryption_key),
        },
    ]


def migrations(steps=contract.DURABLE_OBJECT_MIGRATIONS) -> dict:
    """The Durable Object migrations, in the upload's shape: one migration flat, several as ordered steps."""

    def step(m: contract.DurableObjectMigration) -> dict:
        fields = {
            "new_sqlite_classes": list(m.new_sqlite_classes),
            "new_classes": list(m.new_classes),
            "deleted_classes": list(m.deleted_classes),
        }
        return {k: v for k, v in fields.items() if v}

    if len(steps) == 1:
        return {"new_tag": steps[0].tag, **step(steps[0])}
    return {"new_tag": steps[-1].tag, "steps": [step(m) for m in steps]}


def worker_script(
    settings: Settings, bundle: WorkerBundle, database: cloudflare.D1Database, bucket: cloudflare.R2Bucket,
    descope_project_id: pulumi.Input[str],
) -> cloudflare.WorkersScript:
    # Files are passed by path and SHA-256 rather than inline, so the 1 MB wasm is not copied into the stack state
    # and an unchanged bundle uploads nothing.
    return cloudflare.WorkersScript(
        "worker",
        account_id=settings.account_id,
        script_name=settings.worker_name,
        main_module=bundle.main.part_name,
        content_file=str(bundle.main.path),
        content_sha256=bundle.main.sha256,
        files={
            m.part_name: {"content_type": m.content_type, "content_file": str(m.path), "content_sha256": m.sha256}
            for m in bundle.modules
        },
        # The provider uploads the folder's files and tracks them by their manifest's hash, as wrangler does.
        assets={"directory": str(bundle.assets_dir)},
        compatibility_date=contract.COMPATIBILITY_DATE,
        bindings=bindings(database.id, bucket.name, descope_project_id, settings),
        migrations=migrations(),
        # Workers Logs, as wrangler.toml's [observability]: the worker logs one JSON line per request.
        observability={"enabled": True},
    )


def workers_dev_route(settings: Settings, worker: cloudflare.WorkersScript) -> cloudflare.WorkersScriptSubdomain:
    # Always declared, so a custom-domain-only deployment has workers.dev explicitly off rather than left as is.
    return cloudflare.WorkersScriptSubdomain(
        "worker-workers-dev",
        account_id=settings.account_id,
        script_name=worker.script_name,
        enabled=settings.workers_dev_subdomain is not None,
        previews_enabled=False,
    )


def cron_triggers(settings: Settings, worker: cloudflare.WorkersScript) -> cloudflare.WorkersCronTrigger:
    # The schedules wrangler.toml declares for `wrangler dev --test-scheduled`, deployed the same.
    return cloudflare.WorkersCronTrigger(
        "worker-cron",
        account_id=settings.account_id,
        script_name=worker.script_name,
        schedules=[{"cron": c} for c in contract.CRON_SCHEDULES],
    )


def custom_domain(settings: Settings, worker: cloudflare.WorkersScript) -> Optional[cloudflare.WorkersCustomDomain]:
    if not settings.custom_domain:
        return None
    return cloudflare.WorkersCustomDomain(
        "worker-custom-domain",
        account_id=settings.account_id,
        hostname=settings.custom_domain,
        service=worker.script_name,
        zone_id=settings.zone_id,
    )
