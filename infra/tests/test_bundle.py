"""The upload is exactly what `wrangler deploy --dry-run --outdir` built: its main module and what that imports."""

import hashlib

import pytest

from conftest import WASM_NAME
from procella_infra.bundle import load_bundle
from procella_infra.errors import InvalidSetup


def test_the_main_module_and_the_wasm_it_imports_are_found_with_their_hashes(bundle_dir, assets_dir):
    bundle = load_bundle(bundle_dir, assets_dir)
    assert bundle.assets_dir == assets_dir
    assert bundle.main.part_name == "shim.js"
    assert bundle.main.content_type == "application/javascript+module"
    assert [m.part_name for m in bundle.modules] == [WASM_NAME]
    wasm = bundle.modules[0]
    assert wasm.content_type == "application/wasm"
    assert wasm.sha256 == hashlib.sha256((bundle_dir / WASM_NAME).read_bytes()).hexdigest()
    assert wasm.path == bundle_dir / WASM_NAME


def test_source_maps_and_wranglers_readme_are_not_uploaded(bundle_dir, assets_dir):
    names = {m.part_name for m in load_bundle(bundle_dir, assets_dir).modules}
    assert not names & {"shim.js.map", "README.md"}


def test_a_rebuilt_wasm_changes_its_hash_so_the_worker_is_uploaded_again(bundle_dir, assets_dir):
    before = load_bundle(bundle_dir, assets_dir).modules[0].sha256
    (bundle_dir / WASM_NAME).write_bytes(b"\0asm\x01\0\0\0\x00")
    assert load_bundle(bundle_dir, assets_dir).modules[0].sha256 != before


def test_a_missing_bundle_says_how_to_build_it(tmp_path):
    with pytest.raises(InvalidSetup) as e:
        load_bundle(tmp_path / "deploy", tmp_path / "ui")
    assert "npx wrangler deploy --dry-run --outdir build/deploy" in str(e.value)


def test_a_module_the_worker_imports_but_the_bundle_lacks_is_reported(bundle_dir, assets_dir):
    (bundle_dir / WASM_NAME).unlink()
    with pytest.raises(InvalidSetup) as e:
        load_bundle(bundle_dir, assets_dir)
    assert f"shim.js imports ./{WASM_NAME}, which is not in" in str(e.value)


def test_a_folder_with_two_main_modules_is_not_a_wrangler_bundle(bundle_dir, assets_dir):
    (bundle_dir / "other.js").write_text("export default {}")
    with pytest.raises(InvalidSetup) as e:
        load_bundle(bundle_dir, assets_dir)
    assert "exactly one main module (.js), found other.js, shim.js" in str(e.value)


def test_missing_static_assets_stop_the_deployment_rather_than_break_the_pages(bundle_dir, tmp_path):
    (tmp_path / "ui").mkdir()
    with pytest.raises(InvalidSetup) as e:
        load_bundle(bundle_dir, tmp_path / "ui")
    assert "static assets are missing" in str(e.value)
    assert "holds no file" in str(e.value)
