"""Descope flows, kept as the JSON the Descope console exports (infra/flows/<flow-id>.json).

Each file is checked here with the rules the Descope provider would otherwise only apply during `pulumi up`: the
file is a JSON object with `metadata` and `contents`, its name is a valid flow ID matching its `flowId`, and every
role it references is one the project declares (the provider refuses a flow naming an undeclared role).
"""

import json
import re
from pathlib import Path
from typing import Collection

from .errors import InvalidSetup

_FLOW_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def load_flows(directory: Path, declared_roles: Collection[str]) -> dict[str, str]:
    """Returns {flow ID: the file's JSON text, normalized}, or raises InvalidSetup naming each bad file."""
    problems: list[str] = []
    flows: dict[str, str] = {}
    for path in sorted(directory.glob("*.json")):
        flow_id = path.stem
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            problems.append(f"{path.name}: not valid JSON ({e})")
            continue
        if not isinstance(data, dict) or not {"metadata", "contents"} <= data.keys():
            problems.append(f"{path.name}: a flow export is an object with `metadata` and `contents`")
            continue
        if not _FLOW_ID.match(flow_id):
            problems.append(f"{path.name}: a flow ID may only hold letters, digits, '_' and '-'")
        if data.get("flowId", flow_id) != flow_id:
            problems.append(f"{path.name}: its flowId is {data['flowId']!r}; name the file after the flow ID")
        referenced = (data.get("references") or {}).get("roles") or {}
        for role in sorted(set(referenced) - set(declared_roles)):
            problems.append(f"{path.name}: references the role {role!r}, which the project does not declare")
        # Sorted keys: the same flow always produces the same text, so an unchanged file never shows a diff.
        flows[flow_id] = json.dumps(data, sort_keys=True, separators=(",", ":"))
    if not flows and not problems:
        problems.append(f"{directory} holds no flow (*.json): the sign-up-or-in flow belongs there")
    if problems:
        raise InvalidSetup("The Descope flows in infra/flows cannot be deployed:", problems)
    return flows
