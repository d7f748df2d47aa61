"""What the worker expects from the platform it runs on: the names both deployment paths must agree on.

`wrangler deploy` reads these from the repository's wrangler.toml; `pulumi up` reads them from here. The two can
only drift apart by someone editing one side, and tests/test_wrangler_consistency.py fails when that happens: a
renamed binding, a new Durable Object class or migration, another compatibility date.
"""

from dataclasses import dataclass

# The script name wrangler deploys under; also the default `procella:workerName`.
WORKER_NAME = "procella-edge"
COMPATIBILITY_DATE = "2026-11-01"

# Stacks, updates, history and events. The schema is applied separately (wrangler d1 migrations apply).
D1_BINDING = "DB"
D1_DATABASE_NAME = "procella"
D1_MIGRATIONS_DIR = "migrations"

# Checkpoints, one object per stack version.
R2_BINDING = "CHECKPOINTS"
R2_BUCKET_NAME = "procella-checkpoints"

# The browser pages' static files (/assets/...), relative to the repository root; built by the same build command.
# A request that matches no file goes to the worker (the platform's default; wrangler.toml sets nothing else).
ASSETS_DIRECTORY = "build/ui"


@dataclass(frozen=True)
class DurableObjectBinding:
    binding: str
    class_name: str


@dataclass(frozen=True)
class DurableObjectMigration:
    """One `[[migrations]]` entry. Tags are applied in order and never edited once deployed: add a new one."""

    tag: str
    new_sqlite_classes: tuple[str, ...] = ()
    new_classes: tuple[str, ...] = ()
    deleted_classes: tuple[str, ...] = ()


# One StackLease object per stack holds its active update and lease.
DURABLE_OBJECTS = (DurableObjectBinding(binding="STACK_LEASES", class_name="StackLease"),)
DURABLE_OBJECT_MIGRATIONS = (DurableObjectMigration(tag="v1", new_sqlite_classes=("StackLease",)),)

@dataclass(frozen=True)
class RateLimit:
    """One `[[ratelimits]]` binding: a counter per key per minute, its default limit, and the variable that sets it."""

    binding: str
    namespace_id: str
    default_limit: int
    variable: str


# Per credential, per client IP and per org and issuer (src/ratelimit.rs). Both deployment paths set the configured limit and the
# variable from one value; namespace IDs must be unique in the Cloudflare account.
RATE_LIMIT_PERIOD = 60
# The worker's scheduled handler purges audit log entries past PROCELLA_AUDIT_RETENTION_DAYS, daily.
CRON_SCHEDULES = ("30 3 * * *",)

RATE_LIMITS = (
    RateLimit("CREDENTIAL_LIMITER", "1001", 100, "PROCELLA_RATE_LIMIT_PER_MINUTE"),
    RateLimit("AUTH_ATTEMPT_LIMITER", "1002", 20, "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE"),
    # OIDC token exchanges per organization and issuer.
    RateLimit("OIDC_EXCHANGE_LIMITER", "1003", 60, "PROCELLA_OIDC_EXCHANGES_PER_MINUTE"),
)

# The worker's variables and secrets that production sets (the full list is in the repository README, "Configuration").
VAR_AUTH_MODE = "PROCELLA_AUTH_MODE"
VAR_DESCOPE_PROJECT_ID = "PROCELLA_DESCOPE_PROJECT_ID"
SECRET_DESCOPE_MANAGEMENT_KEY = "PROCELLA_DESCOPE_MANAGEMENT_KEY"
SECRET_ENCRYPTION_KEY = "PROCELLA_ENCRYPTION_KEY"
