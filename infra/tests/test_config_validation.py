"""A stack with bad configuration stops with a message that names the key and the fix, before creating anything."""

import pytest

from conftest import ENCRYPTION_KEY, MANAGEMENT_KEY, SECRET_CONFIG_KEYS, Deployment, deploy
from procella_infra.errors import InvalidSetup
from procella_infra.settings import load_settings


def settings_for(config, secret_keys=None, env=None):
    secret_keys = SECRET_CONFIG_KEYS & config.keys() if secret_keys is None else secret_keys
    return load_settings(config, secret_keys, env or {})


def problems_for(config, **kwargs) -> str:
    with pytest.raises(InvalidSetup) as e:
        settings_for(config, **kwargs)
    return str(e.value)


def test_a_complete_configuration_gives_a_workers_dev_address_and_the_contract_defaults(config):
    s = settings_for(config)
    assert s.worker_url == "https://procella-edge.acme.workers.dev"
    assert (s.worker_name, s.database_name, s.bucket_name) == ("procella-edge", "procella", "procella-checkpoints")
    assert s.worker_descope_management_key == MANAGEMENT_KEY, "the worker defaults to the provider's key"


def test_a_custom_domain_is_the_address_when_both_are_set(config):
    config["procella:customDomain"] = "Procella.Example.com"
    assert settings_for(config).worker_url == "https://procella.example.com"


def test_a_missing_project_id_names_the_key_and_how_to_set_it(config):
    del config["descope:projectId"]
    message = problems_for(config)
    assert "descope:projectId is not set" in message
    assert "pulumi config set descope:projectId" in message


def test_a_project_id_must_look_like_a_descope_project_id(config):
    config["descope:projectId"] = "my-project"
    assert "descope:projectId must be a Descope project ID" in problems_for(config)


@pytest.mark.parametrize("key, why", [
    ("ab" * 31, "must be 64 hex characters (got 62 characters)"),
    ("ab" * 33, "must be 64 hex characters (got 66 characters)"),
    ("zz" * 32, "must be hexadecimal"),
])
def test_a_malformed_encryption_key_is_refused_without_echoing_it(config, key, why):
    config["procella:encryptionKey"] = key
    message = problems_for(config)
    assert f"procella:encryptionKey {why}" in message
    assert key not in message


def test_secrets_stored_in_plain_text_are_refused(config):
    message = problems_for(config, secret_keys={"cloudflare:apiToken"})
    assert "descope:managementKey is stored in plain text" in message
    assert "procella:encryptionKey is stored in plain text" in message
    assert "pulumi config set --secret procella:encryptionKey" in message
    assert ENCRYPTION_KEY not in message and MANAGEMENT_KEY not in message


def test_the_cloudflare_token_may_come_from_the_environment_instead(config):
    del config["cloudflare:apiToken"]
    assert "cloudflare:apiToken is not set" in problems_for(config)
    assert settings_for(config, env={"CLOUDFLARE_API_TOKEN": "t"}).account_id == config["procella:accountId"]


def test_the_worker_needs_an_address(config):
    del config["procella:workersDevSubdomain"]
    assert "the worker needs an address" in problems_for(config)


@pytest.mark.parametrize("key, value, why", [
    ("procella:accountId", "acct-1", "must be a Cloudflare account ID"),
    ("procella:customDomain", "https://procella.example.com/", "must be a bare hostname"),
    ("procella:workerName", "Procella_Edge", "must be a Workers script name"),
    ("procella:bucketName", "Checkpoints!", "must be an R2 bucket name"),
    ("procella:workersDevSubdomain", "acme.workers.dev", "must be your account's workers.dev subdomain label"),
])
def test_malformed_values_are_named_with_the_rule_they_break(config, key, value, why):
    config[key] = value
    assert f"{key} {why}" in problems_for(config)


def test_a_zone_id_without_a_custom_domain_is_a_mistake(config):
    config["procella:zoneId"] = "f" * 32
    assert "procella:zoneId is set without procella:customDomain" in problems_for(config)


def test_every_problem_is_reported_at_once():
    message = problems_for({})
    for key in ("descope:projectId", "descope:managementKey", "cloudflare:apiToken", "procella:accountId",
                "procella:encryptionKey"):
        assert f"{key} is not set" in message
    assert "the worker needs an address" in message


def test_the_worker_may_get_its_own_descope_management_key(config):
    config["procella:descopeManagementKey"] = "K2-narrower-key"
    assert settings_for(config).worker_descope_management_key == "K2-narrower-key"


def test_settings_never_show_secrets_when_printed(config):
    text = repr(settings_for(config))
    assert ENCRYPTION_KEY not in text and MANAGEMENT_KEY not in text
    assert config["descope:projectId"] in text


@pytest.mark.parametrize("break_config", [
    lambda c: c.pop("descope:projectId"),
    lambda c: c.update({"procella:encryptionKey": "not-a-key"}),
    lambda c: c.update({"procella:bundleDir": "/nonexistent/deploy"}),
], ids=["missing project ID", "malformed encryption key", "no worker bundle"])
def test_a_bad_setup_stops_the_program_before_any_resource_is_declared(config, break_config):
    break_config(config)
    attempt = Deployment()
    with pytest.raises(InvalidSetup):
        deploy(config, into=attempt)
    assert attempt.resources == []


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1000001"])
def test_a_rate_limit_must_be_a_whole_number_of_requests_a_minute(config, value):
    config["procella:authAttemptsPerMinute"] = value
    assert "procella:authAttemptsPerMinute must be a whole number of requests a minute" in problems_for(config)


def test_rate_limits_default_to_the_workers_defaults(config):
    assert settings_for(config).rate_limits == {
        "PROCELLA_RATE_LIMIT_PER_MINUTE": 100, "PROCELLA_AUTH_ATTEMPTS_PER_MINUTE": 20,
        "PROCELLA_OIDC_EXCHANGES_PER_MINUTE": 60}
