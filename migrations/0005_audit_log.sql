-- The audit log (src/audit.rs): every mutating API call, failed authentication and authorization denial.
-- time is milliseconds since the epoch; entries older than PROCELLA_AUDIT_RETENTION_DAYS are removed daily.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    INTEGER NOT NULL,
    org     TEXT,
    actor   TEXT,
    action  TEXT    NOT NULL,
    target  TEXT,
    status  INTEGER NOT NULL,
    ip      TEXT
);
-- Pages of one org's log, newest first; the purge by time.
CREATE INDEX audit_log_org_id ON audit_log (org, id);
CREATE INDEX audit_log_time ON audit_log (time);
