"""`wrangler deploy` (the repository's wrangler.toml) and `pulumi up` (procella_infra/worker_contract.py) deploy
the same worker: same bindings, same Durable Object classes and migration tags, same compatibility date. A change
to one side without the other fails here."""

import tomllib

import pytest

from conftest import REPO_DIR
from procella_infra import worker_contract as contract

WRANGLER = tomllib.loads((REPO_DIR / "wrangler.toml").read_text())


def test_the_worker_name_and_compatibility_date_match():
    assert WRANGLER["name"] == contract.WORKER_NAME
    assert WRANGLER["compatibility_date"] == contract.COMPATIBILITY_DATE


def test_the_d1_binding_database_and_migrations_folder_match():
    (d1,) = WRANGLER["d1_databases"]
    assert (d1["binding"], d1["database_name"]) == (contract.D1_BINDING, contract.D1_DATABASE_NAME)
    assert d1.get("migrations_dir", "migrations") == contract.D1_MIGRATIONS_DIR
    assert sorted((REPO_DIR / contract.D1_MIGRATIONS_DIR).glob("*.sql")), "the schema `migrations apply` applies"


def test_the_r2_binding_and_bucket_match():
    (r2,) = WRANGLER["r2_buckets"]
    assert (r2["binding"], r2["bucket_name"]) == (contract.R2_BINDING, contract.R2_BUCKET_NAME)


def test_the_durable_object_bindings_and_classes_match():
    declared = {(b["name"], b["class_name"]) for b in WRANGLER["durable_objects"]["bindings"]}
    assert declared == {(do.binding, do.class_name) for do in contract.DURABLE_OBJECTS}
    assert all("script_name" not in b for b in WRANGLER["durable_objects"]["bindings"]), "classes live in this worker"


def test_the_durable_object_migrations_match_tag_for_tag():
    def as_tuple(m: dict) -> tuple:
        return (m["tag"], tuple(m.get("new_sqlite_classes", ())), tuple(m.get("new_classes", ())),
                tuple(m.get("deleted_classes", ())))

    unsupported = {k for m in WRANGLER["migrations"] for k in m} - {
        "tag", "new_sqlite_classes", "new_classes", "deleted_classes"}
    assert not unsupported, f"worker_contract.DurableObjectMigration cannot express {unsupported} yet"
    assert [as_tuple(m) for m in WRANGLER["migrations"]] == [
        (m.tag, m.new_sqlite_classes, m.new_classes, m.deleted_classes) for m in contract.DURABLE_OBJECT_MIGRATIONS]


def test_every_class_a_binding_uses_was_created_by_a_migration():
    created = {c for m in contract.DURABLE_OBJECT_MIGRATIONS for c in (*m.new_sqlite_classes, *m.new_classes)}
    deleted = {c for m in contract.DURABLE_OBJECT_MIGRATIONS for c in m.deleted_classes}
    assert {do.class_name for do in contract.DURABLE_OBJECTS} <= created - deleted


def test_the_static_assets_come_from_the_same_folder_with_the_same_settings():
    assert WRANGLER["assets"]["directory"] == contract.ASSETS_DIRECTORY
    unsupported = set(WRANGLER["assets"]) - {"directory"}
    assert not unsupported, f"infra does not deploy assets settings {unsupported} yet (procella_infra/worker.py)"


def test_the_rate_limit_bindings_match():
    declared = {(r["name"], r["namespace_id"], r["simple"]["limit"], r["simple"]["period"]) for r in WRANGLER["ratelimits"]}
    assert declared == {(rl.binding, rl.namespace_id, rl.default_limit, contract.RATE_LIMIT_PERIOD)
                        for rl in contract.RATE_LIMITS}


def test_workers_logs_are_on_in_both():
    assert WRANGLER["observability"] == {"enabled": True}


def test_the_cron_schedules_match():
    assert tuple(WRANGLER["triggers"]["crons"]) == contract.CRON_SCHEDULES


def test_wrangler_declares_nothing_that_infra_does_not_deploy():
    # A new kind of binding or setting (KV, queues, cron triggers, routes, ...) must be added to infra too.
    handled = {"name", "main", "compatibility_date", "build", "vars", "d1_databases", "r2_buckets", "durable_objects",
               "migrations", "assets", "ratelimits", "triggers", "observability",
               # Only how a plain `wrangler deploy` treats the vars infra set: it keeps them.
               "keep_vars"}
    assert set(WRANGLER) <= handled, f"wrangler.toml declares {set(WRANGLER) - handled}, which infra does not deploy"


@pytest.mark.parametrize("var", sorted(WRANGLER.get("vars", {})))
def test_production_sets_every_var_wrangler_sets_for_development(var):
    # Otherwise a development value (PROCELLA_AUTH_MODE = "dev") could be what a wrangler deploy leaves behind.
    assert var in {contract.VAR_AUTH_MODE, contract.VAR_DESCOPE_PROJECT_ID}

