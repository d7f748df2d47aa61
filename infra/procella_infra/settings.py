"""The stack's configuration, checked in full before anything is created.

`load_settings` is pure: it takes the raw configuration values (keyed `namespace:key`, as `pulumi config` shows
them), the keys that were set as secrets, and the environment, and either returns `Settings` or raises
`InvalidSetup` listing every problem at once, so one `pulumi up` tells the operator everything to fix.
"""

import re
from dataclasses import dataclass, field
from typing import Collection, Mapping, Optional

from . import worker_contract as contract
from .errors import InvalidSetup

# Every key the program reads; the Pulumi entry point fetches exactly these.
CONFIG_KEYS = (
    "descope:projectId",
    "descope:managementKey",
    "cloudflare:apiToken",
    "procella:accountId",
    "procella:encryptionKey",
    "procella:descopeManagementKey",
    "procella:descopeProjectName",
    "procella:workerName",
    "procella:databaseName",
    "procella:bucketName",
    "procella:customDomain",
    "procella:zoneId",
    "procella:workersDevSubdomain",
    "procella:bundleDir",
    "procella:assetsDir",
)

# Relative to infra/: where `wrangler deploy --dry-run --outdir build/deploy`, run at the repository root, leaves the
# worker bundle, and where the same build leaves the static assets.
DEFAULT_BUNDLE_DIR = "../build/deploy"
DEFAULT_ASSETS_DIR = "../" + contract.ASSETS_DIRECTORY
DEFAULT_DESCOPE_PROJECT_NAME = "Procella"

_PROJECT_ID = re.compile(r"^P[0-9A-Za-z]+$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_HEX = re.compile(r"^[0-9a-fA-F]*$")
# Workers script names and workers.dev labels: lowercase letters, digits and inner dashes, at most 63 characters.
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# R2 bucket names: 3 to 63 lowercase letters, digits and inner dashes.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
_D1_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Settings:
    """A validated configuration. Secret values are kept out of `repr` so they never reach a log."""

    descope_project_id: str
    descope_project_name: str
    descope_management_key: str = field(repr=False)
    # The key the worker uses for browser login and access-key management; defaults to descope:managementKey.
    worker_descope_management_key: str = field(repr=False)
    account_id: str
    encryption_key: str = field(repr=False)
    worker_name: str
    database_name: str
    bucket_name: str
    custom_domain: Optional[str]
    zone_id: Optional[str]
    workers_dev_subdomain: Optional[str]
    bundle_dir: str
    assets_dir: str
    # Per-minute limits by the worker variable that carries them (procella:rateLimitPerMinute,
    # procella:authAttemptsPerMinute, procella:oidcExchangesPerMinute).
    rate_limits: Mapping[str, int] = field(default_factory=dict)

    @property
    def worker_url(self) -> str:
        """Where `pulumi login` should point: the custom domain when there is one, else workers.dev."""
        if self.custom_domain:
            return f"https://{self.custom_domain}"
        return f"https://{self.worker_name}.{self.workers_dev_subdomain}.workers.dev"


def load_settings(
    values: Mapping[str, Optional[str]], secret_keys: Collection[str], env: Mapping[str, str]
) -> Settings:
    problems: list[str] = []

    def get(key: str) -> Optional[str]:
        v = values.get(key)
        return v.strip() if isinstance(v, str) and v.strip() else None

    def required(key: str, what: str, example: str, secret: bool = False) -> str:
        v = get(key)
        if v is None:
            flag = " --secret" if secret else ""
            problems.append(f"{key} is not set: {what} (pulumi config set{flag} {key} {example})")
            return ""
        if secret and key not in secret_keys:
            problems.append(
                f"{key} is stored in plain text: set it again with `pulumi config set --secret {key} ...` "
                "so it is encrypted in the stack configuration"
            )
        return v

    def matches(key: str, value: Optional[str], pattern: re.Pattern, rule: str) -> None:
        if value and not pattern.match(value):
            problems.append(f"{key} {rule} (got {value!r})")

    project_id = required(
        "descope:projectId", "the Descope project to configure; its ID starts with P", "P2abc...")
    matches("descope:projectId", project_id, _PROJECT_ID,
            "must be a Descope project ID: P followed by letters and digits")

    management_key = required(
        "descope:managementKey", "a Descope management key that may manage this project", "<key>", secret=True)

    if get("cloudflare:apiToken") is None and not env.get("CLOUDFLARE_API_TOKEN"):
        problems.append(
            "cloudflare:apiToken is not set (nor CLOUDFLARE_API_TOKEN): a Cloudflare API token allowed to edit "
            "Workers scripts, D1 and R2 (pulumi config set --secret cloudflare:apiToken <token>)")
    elif get("cloudflare:apiToken") is not None and "cloudflare:apiToken" not in secret_keys:
        problems.append(
            "cloudflare:apiToken is stored in plain text: set it again with "
            "`pulumi config set --secret cloudflare:apiToken ...`")

    account_id = required("procella:accountId", "the Cloudflare account ID (32 hex characters)", "<account-id>")
    matches("procella:accountId", account_id, _HEX32, "must be a Cloudflare account ID: 32 hexadecimal characters")

    # The master key of the service secrets provider. Its value is never echoed, only what is wrong with it.
    encryption_key = required(
        "procella:encryptionKey", "64 hex characters, e.g. from `openssl rand -hex 32`", "$(openssl rand -hex 32)",
        secret=True)
    if encryption_key and len(encryption_key) != 64:
        problems.append(f"procella:encryptionKey must be 64 hex characters (got {len(encryption_key)} characters)")
    elif encryption_key and not _HEX.match(encryption_key):
        problems.append(
            "procella:encryptionKey must be hexadecimal (0-9, a-f): generate one with `openssl rand -hex 32`")

    worker_key = get("procella:descopeManagementKey")
    if worker_key is not None and "procella:descopeManagementKey" not in secret_keys:
        problems.append(
            "procella:descopeManagementKey is stored in plain text: set it again with "
            "`pulumi config set --secret procella:descopeManagementKey ...`")

    worker_name = get("procella:workerName") or contract.WORKER_NAME
    matches("procella:workerName", worker_name, _DNS_LABEL,
            "must be a Workers script name: lowercase letters, digits and inner dashes, at most 63 characters")
    database_name = get("procella:databaseName") or contract.D1_DATABASE_NAME
    matches("procella:databaseName", database_name, _D1_NAME, "must be letters, digits, '-' or '_'")
    bucket_name = get("procella:bucketName") or contract.R2_BUCKET_NAME
    matches("procella:bucketName", bucket_name, _BUCKET,
            "must be an R2 bucket name: 3-63 lowercase letters, digits and inner dashes")

    custom_domain = get("procella:customDomain")
    if custom_domain:
        custom_domain = custom_domain.lower()
    matches("procella:customDomain", custom_domain, _HOSTNAME,
            "must be a bare hostname such as procella.example.com (no scheme, port or path)")
    zone_id = get("procella:zoneId")
    matches("procella:zoneId", zone_id, _HEX32, "must be a Cloudflare zone ID: 32 hexadecimal characters")
    if zone_id and not custom_domain:
        problems.append("procella:zoneId is set without procella:customDomain: it only places the custom domain")
    subdomain = get("procella:workersDevSubdomain")
    matches("procella:workersDevSubdomain", subdomain, _DNS_LABEL,
            "must be your account's workers.dev subdomain label, e.g. `acme` for acme.workers.dev")
    if not custom_domain and not subdomain:
        # Without either the worker has no address anyone could `pulumi login` to.
        problems.append(
            "the worker needs an address: set procella:customDomain (a hostname in a zone of this account) or "
            "procella:workersDevSubdomain (your account's workers.dev subdomain, shown in the dashboard under "
            "Workers & Pages)")

    rate_limits = {}
    keys = ("procella:rateLimitPerMinute", "procella:authAttemptsPerMinute", "procella:oidcExchangesPerMinute")
    for rl, key in zip(contract.RATE_LIMITS, keys, strict=True):
        raw = get(key)
        if raw is None:
            rate_limits[rl.variable] = rl.default_limit
        elif raw.isdigit() and 1 <= int(raw) <= 1_000_000:
            rate_limits[rl.variable] = int(raw)
        else:
            problems.append(f"{key} must be a whole number of requests a minute from 1 to 1000000 (got {raw!r})")

    if problems:
        raise InvalidSetup("The Procella stack configuration is not usable:", problems)
    return Settings(
        descope_project_id=project_id,
        descope_project_name=get("procella:descopeProjectName") or DEFAULT_DESCOPE_PROJECT_NAME,
        descope_management_key=management_key,
        worker_descope_management_key=worker_key or management_key,
        account_id=account_id.lower(),
        encryption_key=encryption_key,
        worker_name=worker_name,
        database_name=database_name,
        bucket_name=bucket_name,
        custom_domain=custom_domain,
        zone_id=zone_id.lower() if zone_id else None,
        workers_dev_subdomain=subdomain,
        bundle_dir=get("procella:bundleDir") or DEFAULT_BUNDLE_DIR,
        assets_dir=get("procella:assetsDir") or DEFAULT_ASSETS_DIR,
        rate_limits=rate_limits,
    )
