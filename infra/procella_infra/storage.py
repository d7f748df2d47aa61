"""Where Procella keeps its state: the D1 database (stacks, updates, history) and the R2 bucket (checkpoints)."""

import pulumi
import pulumi_cloudflare as cloudflare

from .settings import Settings

# Both hold every stack's history: `pulumi destroy` must be told explicitly (pulumi state unprotect) to delete them.
_KEEP = pulumi.ResourceOptions(protect=True)


def d1_database(settings: Settings) -> cloudflare.D1Database:
    # The schema is not Pulumi's: `wrangler d1 migrations apply DB --remote` applies the repository's migrations/
    # (infra/README.md, step 8).
    return cloudflare.D1Database("d1-database", account_id=settings.account_id, name=settings.database_name, opts=_KEEP)


def r2_bucket(settings: Settings) -> cloudflare.R2Bucket:
    return cloudflare.R2Bucket("r2-bucket", account_id=settings.account_id, name=settings.bucket_name, opts=_KEEP)
