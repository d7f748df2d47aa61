-- Descope mode: which tenant owns which organization slug. The first tenant seen with a slug owns it for good, and
-- a tenant keeps the slug it was first seen with, so neither an edited tenant name nor a custom claim can move a
-- tenant into another tenant's organization (stacks are keyed by the slug).
CREATE TABLE org_tenants (
    slug        TEXT    PRIMARY KEY,
    tenant_id   TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
