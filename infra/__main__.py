"""Entry point of `pulumi up`: Procella Edge in production (see README.md)."""

import os

import pulumi

from procella_infra.errors import InvalidSetup
from procella_infra.program import run
from procella_infra.stack_config import read_stack_config

values, secret_keys = read_stack_config()
try:
    outputs = run(values, secret_keys, os.environ)
except InvalidSetup as e:
    # A clean one-screen message instead of a traceback; nothing has been declared yet.
    raise pulumi.RunError(str(e)) from None

for name, value in outputs.items():
    pulumi.export(name, value)
