"""Reads the stack's configuration as `load_settings` wants it: raw strings, plus which keys are secrets.

The raw runtime accessors are used instead of pulumi.Config so that a secret can be validated (its length, its
alphabet) before it is wrapped as an Output; it is wrapped again as a secret wherever it is used.
"""

import pulumi.runtime

from .settings import CONFIG_KEYS


def read_stack_config() -> tuple[dict, set]:
    values = {key: pulumi.runtime.get_config(key) for key in CONFIG_KEYS}
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env())
    secret_keys |= {key for key in CONFIG_KEYS if pulumi.runtime.is_config_secret(key)}
    return values, secret_keys
