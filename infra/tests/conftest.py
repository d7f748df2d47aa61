"""Runs the Pulumi program offline: Pulumi's mocks stand in for the engine and every provider, and record what the
program declares (type, name, inputs as the engine would receive them, import ID) for the tests to inspect."""

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pulumi
import pytest

INFRA_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = INFRA_DIR.parent
sys.path.insert(0, str(INFRA_DIR))

from procella_infra.program import run  # noqa: E402

# How the engine marks a secret value on the wire: {SIG_KEY: SECRET_SIG, "value": ...}.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

PROJECT_ID = "P2procellaTest0000000000000"
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
ENCRYPTION_KEY = "ab" * 32
MANAGEMENT_KEY = "K2-management-key-for-tests"
WASM_NAME = "2709d3c02095c25642ad24a4515861b05b91c8af-index_bg.wasm"

PROJECT = "descope:index/project:Project"
DESCOPE_PROVIDER = "pulumi:providers:descope"
D1 = "cloudflare:index/d1Database:D1Database"
R2 = "cloudflare:index/r2Bucket:R2Bucket"
SCRIPT = "cloudflare:index/workersScript:WorkersScript"
SUBDOMAIN = "cloudflare:index/workersScriptSubdomain:WorkersScriptSubdomain"
CUSTOM_DOMAIN = "cloudflare:index/workersCustomDomain:WorkersCustomDomain"


def reveal(value: Any, path: str = "", secrets: Optional[set] = None) -> Any:
    """The value with secret markers removed; the paths that were secret are added to `secrets`."""
    if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG:
        if secrets is not None:
            secrets.add(path)
        return reveal(value["value"], path, secrets)
    if isinstance(value, dict):
        return {k: reveal(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


@dataclass
class Declared:
    type: str
    name: str
    inputs: dict
    secret_paths: set
    import_id: Optional[str]


@dataclass
class Deployment:
    resources: list = field(default_factory=list)
    outputs: dict = field(default_factory=dict)

    def all(self, type_token: str) -> list:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str) -> Declared:
        found = self.all(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {[r.name for r in found]}"
        return found[0]


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, deployment: Deployment):
        self.deployment = deployment

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        secrets: set = set()
        inputs = reveal(args.inputs, secrets=secrets)
        self.deployment.resources.append(Declared(args.typ, args.name, inputs, secrets, args.resource_id))
        # An imported resource keeps the ID it was imported by, as the real engine does.
        return args.resource_id or f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def deploy(
    values: dict, secret_keys=None, env=None, infra_dir: Path = INFRA_DIR, into: Optional[Deployment] = None,
) -> Deployment:
    """Runs the program once under mocks; returns what it declared and its outputs, resolved. `into` receives the
    declarations even when the program fails."""
    deployment = into if into is not None else Deployment()
    pulumi.runtime.set_mocks(RecordingMocks(deployment), project="procella", stack="test", preview=False)
    secret_keys = {k for k in values if k in SECRET_CONFIG_KEYS} if secret_keys is None else secret_keys

    @pulumi.runtime.test
    def program():
        outputs = run(values, secret_keys, env or {}, infra_dir=infra_dir)
        names = list(outputs)
        return pulumi.Output.all(*outputs.values()).apply(
            lambda resolved: deployment.outputs.update(zip(names, resolved, strict=True)))

    program()
    return deployment


SECRET_CONFIG_KEYS = {
    "descope:managementKey", "cloudflare:apiToken", "procella:encryptionKey", "procella:descopeManagementKey"}


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    """A stand-in for what `wrangler deploy --dry-run --outdir` writes: the main module, the wasm it imports under
    its content-hashed name, a source map and wrangler's README."""
    out = tmp_path / "deploy"
    out.mkdir()
    (out / "shim.js").write_text(
        f'import {{ WorkerEntrypoint }} from "cloudflare:workers";\nimport Z from "./{WASM_NAME}";\n'
        "export default { fetch() {} };\n")
    (out / WASM_NAME).write_bytes(b"\0asm\x01\0\0\0")
    (out / "shim.js.map").write_text("{}")
    (out / "README.md").write_text("built by wrangler")
    return out


@pytest.fixture
def assets_dir(tmp_path: Path) -> Path:
    """A stand-in for build/ui, the browser pages' static files."""
    ui = tmp_path / "ui"
    (ui / "assets").mkdir(parents=True)
    (ui / "assets" / "app.js").write_text("console.log('procella')")
    return ui


@pytest.fixture
def config(bundle_dir: Path, assets_dir: Path) -> dict:
    """A complete, valid stack configuration (workers.dev address, no custom domain)."""
    return {
        "descope:projectId": PROJECT_ID,
        "descope:managementKey": MANAGEMENT_KEY,
        "cloudflare:apiToken": "cf-token",
        "procella:accountId": ACCOUNT_ID,
        "procella:encryptionKey": ENCRYPTION_KEY,
        "procella:workersDevSubdomain": "acme",
        "procella:bundleDir": str(bundle_dir),
        "procella:assetsDir": str(assets_dir),
    }


@pytest.fixture
def deployed(config: dict) -> Deployment:
    return deploy(config)
