"""The worker bundle `wrangler deploy --dry-run --outdir <dir>` builds: the one build path for both deployments.

Wrangler bundles build/worker/shim.mjs into `<dir>/shim.js` and copies the wasm it imports next to it under a
content-hashed name (`<sha1>-index_bg.wasm`). The upload must carry the main module plus every module it imports,
each as a multipart part named exactly as the import says, so this reads the imports rather than guessing names.
The same build writes the static assets (build/ui), uploaded with the worker in a step of their own.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import InvalidSetup

BUILD_HINT = "build it first, from the repository root: npx wrangler deploy --dry-run --outdir build/deploy"

# Module types the Workers upload accepts, by extension (wrangler's "module rules").
CONTENT_TYPES = {
    ".js": "application/javascript+module",
    ".mjs": "application/javascript+module",
    ".wasm": "application/wasm",
    ".txt": "text/plain",
    ".bin": "application/octet-stream",
}
_MAIN_SUFFIXES = (".js", ".mjs")
# Static relative imports in the bundled output:
# `import x from "./a.wasm"`, `export * from "./b.js"`, `import "./c.js"`.
_RELATIVE_IMPORT = re.compile(r"""(?:\bfrom\s*|\bimport\s*)["']\./([^"']+)["']""")


@dataclass(frozen=True)
class BundleFile:
    part_name: str  # the multipart part name: the import specifier without "./"
    path: Path
    sha256: str  # hex; drives updates, so a rebuilt bundle is uploaded and an unchanged one is not
    content_type: str


@dataclass(frozen=True)
class WorkerBundle:
    main: BundleFile
    modules: tuple[BundleFile, ...]
    assets_dir: Path


def _file(directory: Path, name: str) -> BundleFile:
    path = directory / name
    return BundleFile(
        part_name=name,
        path=path,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        content_type=CONTENT_TYPES[path.suffix],
    )


def load_bundle(directory: Path, assets_dir: Path) -> WorkerBundle:
    """Reads the bundle in `directory` and checks the static assets in `assets_dir` (both absolute), or raises
    InvalidSetup saying how to produce them."""
    if not directory.is_dir():
        raise InvalidSetup("The worker bundle is missing:", [f"{directory} does not exist: {BUILD_HINT}"])
    if not assets_dir.is_dir() or not any(p.is_file() for p in assets_dir.rglob("*")):
        # Deploying without them would leave the browser pages (login, settings, tokens) without script or styles.
        raise InvalidSetup("The worker's static assets are missing:", [f"{assets_dir} holds no file: {BUILD_HINT}"])
    mains = sorted(p.name for p in directory.iterdir() if p.is_file() and p.suffix in _MAIN_SUFFIXES)
    if len(mains) != 1:
        found = ", ".join(mains) or "none"
        raise InvalidSetup(
            "The worker bundle is not one wrangler built:",
            [f"{directory} should hold exactly one main module (.js), found {found}: {BUILD_HINT}"],
        )
    main = _file(directory, mains[0])

    problems, modules, queue, seen = [], [], [main], {main.part_name}
    while queue:  # imported modules may import others (a .js chunk importing its .wasm)
        current = queue.pop()
        if current.content_type != CONTENT_TYPES[".js"]:
            continue
        for name in _RELATIVE_IMPORT.findall(current.path.read_text(encoding="utf-8", errors="replace")):
            if name in seen:
                continue
            seen.add(name)
            path = directory / name
            if not path.is_file():
                problems.append(f"{current.part_name} imports ./{name}, which is not in {directory}: {BUILD_HINT}")
            elif path.suffix not in CONTENT_TYPES:
                problems.append(f"{current.part_name} imports ./{name}, a module type the upload does not support")
            else:
                module = _file(directory, name)
                modules.append(module)
                queue.append(module)
    if problems:
        raise InvalidSetup("The worker bundle is incomplete:", problems)
    return WorkerBundle(main=main, modules=tuple(sorted(modules, key=lambda m: m.part_name)), assets_dir=assets_dir)
