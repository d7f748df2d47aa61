"""`pulumi up` runs __main__.py with the stack's configuration in the environment (PULUMI_CONFIG and
PULUMI_CONFIG_SECRET_KEYS, as the Python language host passes it); these run it the same way, under mocks."""

import json
import runpy

import pulumi
import pytest

from conftest import INFRA_DIR, PROJECT, SCRIPT, SECRET_CONFIG_KEYS, Deployment, RecordingMocks


def run_entry_point(monkeypatch, config: dict, deployment: Deployment) -> Deployment:
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(sorted(SECRET_CONFIG_KEYS & config.keys())))
    pulumi.runtime.set_mocks(RecordingMocks(deployment), project="procella", stack="prod", preview=False)
    pulumi.runtime.set_all_config({}, [])

    @pulumi.runtime.test
    def program():
        runpy.run_path(str(INFRA_DIR / "__main__.py"), run_name="__main__")

    program()
    return deployment


def test_the_entry_point_reads_the_stack_configuration_and_declares_the_stack(monkeypatch, config):
    d = run_entry_point(monkeypatch, config, Deployment())
    assert d.one(PROJECT).import_id == config["descope:projectId"]
    assert d.one(SCRIPT).inputs["scriptName"] == "procella-edge"


def test_a_bad_configuration_ends_the_run_with_a_plain_message_and_nothing_declared(monkeypatch, config):
    config["procella:encryptionKey"] = "short"
    attempt = Deployment()
    with pytest.raises(pulumi.RunError) as e:
        run_entry_point(monkeypatch, config, attempt)
    assert "procella:encryptionKey must be 64 hex characters (got 5 characters)" in str(e.value)
    assert "Traceback" not in str(e.value)
    assert attempt.resources == []


def test_the_entry_point_knows_which_keys_were_set_as_secrets(monkeypatch, config):
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["descope:managementKey", "cloudflare:apiToken"]))
    from procella_infra.stack_config import read_stack_config

    values, secret_keys = read_stack_config()
    assert values["procella:encryptionKey"] == config["procella:encryptionKey"]
    assert "procella:encryptionKey" not in secret_keys and "descope:managementKey" in secret_keys
