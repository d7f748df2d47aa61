-- Procella Edge schema, version 1.
--
-- Organizations come from the identity provider (dev users or Descope tenants) and projects exist while they
-- have stacks, as in the Pulumi service; both are names on the stack row rather than tables of their own, so a
-- stack read is one indexed lookup and a rename across projects is one UPDATE. Everything that outlives a
-- rename (updates, checkpoints, events, R2 object keys) hangs off the immutable stack id.

CREATE TABLE stacks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    org             TEXT    NOT NULL,
    project         TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    -- The whole tag map as a JSON object (tags are replaced, never merged).
    tags            TEXT    NOT NULL DEFAULT '{}',
    -- The latest checkpoint version (0: never updated).
    version         INTEGER NOT NULL DEFAULT 0,
    resource_count  INTEGER NOT NULL DEFAULT 0,
    -- The running update's id, or NULL. The stack's lease Durable Object is the authority; this is for reads.
    active_update   TEXT,
    -- Unix seconds.
    last_update     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (org, project, name)
);

-- Every update, preview, refresh, destroy and import: its program, options and outcome.
CREATE TABLE updates (
    id                TEXT    PRIMARY KEY,
    stack_id          INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    -- update | preview | refresh | destroy | import | rename
    kind              TEXT    NOT NULL,
    -- not-started | running | succeeded | failed | cancelled
    status            TEXT    NOT NULL,
    -- The stack version this update produced (history numbering); NULL for previews and until it starts.
    version           INTEGER,
    program           TEXT    NOT NULL DEFAULT '{}',
    config            TEXT    NOT NULL DEFAULT '{}',
    metadata          TEXT    NOT NULL DEFAULT '{}',
    resource_changes  TEXT    NOT NULL DEFAULT '{}',
    created_at        INTEGER NOT NULL,
    start_time        INTEGER,
    end_time          INTEGER
);
CREATE INDEX updates_by_stack ON updates (stack_id, version);

-- Checkpoint versions: pointers to R2 objects, written only after the object is stored.
CREATE TABLE checkpoints (
    stack_id    INTEGER NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    update_id   TEXT,
    r2_key      TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    size_bytes  INTEGER NOT NULL,
    resource_count INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (stack_id, version)
);

-- Engine events of an update, by sequence number (idempotent on retry).
CREATE TABLE events (
    update_id  TEXT    NOT NULL REFERENCES updates(id) ON DELETE CASCADE,
    sequence   INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    PRIMARY KEY (update_id, sequence)
);
