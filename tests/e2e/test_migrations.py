"""The schema's migrations on SQLite (D1's engine), applied in order over rows an older version left behind."""

import sqlite3

from conftest import ROOT

MIGRATIONS = sorted((ROOT / "migrations").glob("*.sql"))


def apply(db, upto=None):
    for m in MIGRATIONS:
        if upto is not None and m.name >= upto:
            break
        db.executescript(m.read_text())


def test_orgs_with_stacks_from_before_slug_bindings_are_reserved():
    db = sqlite3.connect(":memory:")
    apply(db, upto="0004")
    for org, name in [("legacy", "a"), ("legacy", "b"), ("bound", "c")]:
        db.execute("INSERT INTO stacks (org, project, name, created_at, updated_at) VALUES (?, 'p', ?, 0, 0)", (org, name))
    db.execute("INSERT INTO org_tenants (slug, tenant_id, created_at) VALUES ('bound', 'T1', 0)")
    db.executescript((ROOT / "migrations" / "0004_reserve_existing_orgs.sql").read_text())
    rows = sorted(db.execute("SELECT slug, tenant_id FROM org_tenants"))
    assert rows == [("bound", "T1"), ("legacy", "reserved:legacy")]


def test_every_migration_applies_to_an_empty_database():
    db = sqlite3.connect(":memory:")
    apply(db)
    assert db.execute("SELECT count(*) FROM org_tenants").fetchone() == (0,)
