"""The worker as Cloudflare gets it: the wrangler-built bundle, every binding, descope-mode vars, secrets from Pulumi
secrets, the Durable Object migration, and the address `pulumi login` uses."""

import re

import pulumi
import pytest

from conftest import (
    ACCOUNT_ID, CUSTOM_DOMAIN, D1, ENCRYPTION_KEY, MANAGEMENT_KEY, PROJECT_ID, R2, REPO_DIR, SCRIPT, SUBDOMAIN,
    WASM_NAME, deploy,
)
from procella_infra import worker_contract as contract
from procella_infra.settings import load_settings
from procella_infra.worker import bindings, migrations


@pytest.fixture
def script(deployed):
    return deployed.one(SCRIPT)


def bound(script) -> dict:
    return {b["name"]: b for b in script.inputs["bindings"]}


def test_the_worker_reaches_its_database_bucket_and_lease_objects(deployed, script):
    b = bound(script)
    assert b["DB"] == {"name": "DB", "type": "d1", "id": deployed.outputs["d1DatabaseId"]}
    assert b["CHECKPOINTS"] == {"name": "CHECKPOINTS", "type": "r2_bucket", "bucketName": "procella-checkpoints"}
    assert b["STACK_LEASES"] == {"name": "STACK_LEASES", "type": "durable_object_namespace", "className": "StackLease"}


def test_the_worker_runs_in_descope_mode_for_the_adopted_project(script):
    b = bound(script)
    assert (b["PROCELLA_AUTH_MODE"]["type"], b["PROCELLA_AUTH_MODE"]["text"]) == ("plain_text", "descope")
    assert b["PROCELLA_DESCOPE_PROJECT_ID"] == {
        "name": "PROCELLA_DESCOPE_PROJECT_ID", "type": "plain_text", "text": PROJECT_ID}


def test_the_keys_are_uploaded_as_worker_secrets_and_stay_secret_in_the_stack(script):
    b = bound(script)
    assert b["PROCELLA_DESCOPE_MANAGEMENT_KEY"]["type"] == "secret_text"
    assert b["PROCELLA_DESCOPE_MANAGEMENT_KEY"]["text"] == MANAGEMENT_KEY
    assert b["PROCELLA_ENCRYPTION_KEY"]["type"] == "secret_text"
    assert b["PROCELLA_ENCRYPTION_KEY"]["text"] == ENCRYPTION_KEY
    assert "bindings" in script.secret_paths, "the engine receives the bindings marked secret"


def test_each_secret_value_is_a_pulumi_secret_before_it_reaches_the_engine(config):
    settings = load_settings(config, set(config), {})
    by_name = {b["name"]: b for b in bindings("db-id", "bucket", PROJECT_ID, settings)}

    @pulumi.runtime.test
    def check():
        secret = [pulumi.Output.from_input(b["text"]).is_secret()
                  for b in by_name.values() if b["type"] == "secret_text"]
        return pulumi.Output.all(*secret).apply(lambda flags: assert_all(flags, 2))

    def assert_all(flags, count):
        assert flags == [True] * count

    check()


def test_rate_limits_are_bound_at_their_defaults_with_the_variables_that_carry_them(script):
    b = bound(script)
    assert b["CREDENTIAL_LIMITER"] == {"name": "CREDENTIAL_LIMITER", "type": "ratelimit", "namespaceId": "1001",
                                       "simple": {"limit": 100, "period": 60}}
    assert b["AUTH_ATTEMPT_LIMITER"]["simple"] == {"limit": 20, "period": 60}
    assert b["PROCELLA_RATE_LIMIT_PER_MINUTE"]["text"] == "100"
    assert b["PROCELLA_AUTH_ATTEMPTS_PER_MINUTE"]["text"] == "20"
    assert b["OIDC_EXCHANGE_LIMITER"]["simple"] == {"limit": 60, "period": 60}
    assert b["PROCELLA_OIDC_EXCHANGES_PER_MINUTE"]["text"] == "60"


def test_one_setting_sets_a_limit_on_the_binding_and_in_the_variable(config):
    deployed = deploy({**config, "procella:rateLimitPerMinute": "250"})
    b = bound(deployed.one(SCRIPT))
    assert b["CREDENTIAL_LIMITER"]["simple"]["limit"] == 250
    assert b["PROCELLA_RATE_LIMIT_PER_MINUTE"]["text"] == "250"


def test_nothing_else_is_bound(script):
    assert set(bound(script)) == {
        "DB", "CHECKPOINTS", "STACK_LEASES", "PROCELLA_AUTH_MODE", "PROCELLA_DESCOPE_PROJECT_ID",
        "PROCELLA_DESCOPE_MANAGEMENT_KEY", "PROCELLA_ENCRYPTION_KEY", "CREDENTIAL_LIMITER", "AUTH_ATTEMPT_LIMITER",
        "PROCELLA_RATE_LIMIT_PER_MINUTE", "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE", "OIDC_EXCHANGE_LIMITER",
        "PROCELLA_OIDC_EXCHANGES_PER_MINUTE"}


def test_the_bundle_wrangler_built_is_uploaded_with_its_wasm_and_static_assets(bundle_dir, assets_dir, script):
    inputs = script.inputs
    assert inputs["scriptName"] == "procella-edge"
    assert (inputs["mainModule"], inputs["contentFile"]) == ("shim.js", str(bundle_dir / "shim.js"))
    assert re.fullmatch(r"[0-9a-f]{64}", inputs["contentSha256"])
    wasm = inputs["files"][WASM_NAME]
    assert (wasm["contentType"], wasm["contentFile"]) == ("application/wasm", str(bundle_dir / WASM_NAME))
    assert inputs["compatibilityDate"] == contract.COMPATIBILITY_DATE
    assert "content" not in inputs, "the bundle is not copied into the stack state"
    assert inputs["assets"] == {"directory": str(assets_dir)}


def test_the_lease_objects_are_created_by_the_v1_sqlite_migration(script):
    assert script.inputs["migrations"] == {"newTag": "v1", "newSqliteClasses": ["StackLease"]}


def test_later_migrations_are_uploaded_as_ordered_steps_ending_at_the_newest_tag():
    steps = (
        contract.DurableObjectMigration(tag="v1", new_sqlite_classes=("StackLease",)),
        contract.DurableObjectMigration(tag="v2", new_sqlite_classes=("StackIndex",), deleted_classes=("Old",)),
    )
    assert migrations(steps) == {
        "new_tag": "v2",
        "steps": [{"new_sqlite_classes": ["StackLease"]},
                  {"new_sqlite_classes": ["StackIndex"], "deleted_classes": ["Old"]}],
    }


def test_database_and_bucket_are_created_in_the_configured_account(deployed):
    d1, r2 = deployed.one(D1).inputs, deployed.one(R2).inputs
    assert (d1["accountId"], d1["name"]) == (ACCOUNT_ID, "procella")
    assert (r2["accountId"], r2["name"]) == (ACCOUNT_ID, "procella-checkpoints")


def test_configured_names_are_used_for_script_database_and_bucket(config):
    config.update({"procella:workerName": "procella-prod", "procella:databaseName": "procella_prod",
                   "procella:bucketName": "procella-prod-checkpoints"})
    d = deploy(config)
    assert d.one(SCRIPT).inputs["scriptName"] == "procella-prod"
    assert d.one(D1).inputs["name"] == "procella_prod"
    assert bound(d.one(SCRIPT))["CHECKPOINTS"]["bucketName"] == "procella-prod-checkpoints"
    assert d.outputs["workerUrl"] == "https://procella-prod.acme.workers.dev"


def test_workers_logs_keep_the_request_lines(script):
    assert script.inputs["observability"] == {"enabled": True}


def test_the_audit_log_purge_runs_on_the_deployed_schedule(deployed):
    cron = deployed.one("cloudflare:index/workersCronTrigger:WorkersCronTrigger").inputs
    assert cron["scriptName"] == "procella-edge"
    assert [s["cron"] for s in cron["schedules"]] == list(contract.CRON_SCHEDULES)


def test_on_workers_dev_the_outputs_say_where_to_log_in(deployed):
    assert deployed.one(SUBDOMAIN).inputs["enabled"] is True
    assert deployed.all(CUSTOM_DOMAIN) == []
    assert deployed.outputs["workerUrl"] == "https://procella-edge.acme.workers.dev"
    assert deployed.outputs["loginCommand"] == "pulumi login https://procella-edge.acme.workers.dev"
    assert deployed.outputs["bucketName"] == "procella-checkpoints"
    assert deployed.outputs["d1DatabaseId"] == "d1-database-id"


def test_a_custom_domain_serves_the_worker_and_workers_dev_is_switched_off(config):
    del config["procella:workersDevSubdomain"]
    config.update({"procella:customDomain": "procella.example.com", "procella:zoneId": "f" * 32})
    d = deploy(config)
    domain = d.one(CUSTOM_DOMAIN).inputs
    assert (domain["hostname"], domain["service"]) == ("procella.example.com", "procella-edge")
    assert domain["zoneId"] == "f" * 32
    assert d.one(SUBDOMAIN).inputs["enabled"] is False
    assert d.outputs["loginCommand"] == "pulumi login https://procella.example.com"


def test_the_worker_reads_every_variable_and_secret_it_is_given():
    # A name the Rust code never reads would be a silent misconfiguration; this catches a rename on either side.
    source = "\n".join(p.read_text() for p in (REPO_DIR / "src").rglob("*.rs"))
    for name in (contract.VAR_AUTH_MODE, contract.VAR_DESCOPE_PROJECT_ID, contract.SECRET_DESCOPE_MANAGEMENT_KEY,
                 contract.SECRET_ENCRYPTION_KEY):
        assert f'"{name}"' in source, name
