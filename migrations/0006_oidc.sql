-- OIDC token exchange (src/oidc, src/edge/oidc.rs): the issuers an org trusts, and the tokens exchanged for
-- their ID tokens. Times are milliseconds since the epoch.

-- One row per registered issuer; audiences and policies are JSON (bounded by src/oidc/issuer.rs, far under
-- D1's 1 MB row limit).
CREATE TABLE oidc_issuers (
    id                  TEXT    PRIMARY KEY,
    org                 TEXT    NOT NULL,
    name                TEXT    NOT NULL,
    url                 TEXT    NOT NULL,
    audiences           TEXT    NOT NULL,
    policies            TEXT    NOT NULL,
    max_expiration_secs INTEGER,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (org, name),
    UNIQUE (org, url)
);

-- Exchanged tokens, by the SHA-256 of the token (the token itself is never stored). kind is organization or
-- personal; login is the user a personal token acts as. Expired rows are removed by the daily Cron Trigger.
CREATE TABLE oidc_tokens (
    hash       TEXT    PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    org        TEXT    NOT NULL,
    issuer_id  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    login      TEXT,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_tokens_org ON oidc_tokens (org, expires_at);
CREATE INDEX oidc_tokens_issuer ON oidc_tokens (issuer_id);
CREATE INDEX oidc_tokens_expires ON oidc_tokens (expires_at);
