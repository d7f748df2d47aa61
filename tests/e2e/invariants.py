"""The state invariants every test that hurts the server checks afterwards, read from the local D1 and R2 files
`wrangler dev` keeps (SQLite, opened read-only) and through the API:

1. every checkpoint row points at an existing R2 object;
2. every stack's latest version exports, with the resource count D1 records;
3. no stack holds a lease without a live update (its active update is running or not yet started);
4. history agrees with the objects: every finished update that produced a version has its checkpoint row.
"""

import json
import sqlite3
from pathlib import Path


def _db(state: Path, kind: str, table: str):
    for f in sorted((state / "v3" / kind).glob("*/*.sqlite")):
        if f.name == "metadata.sqlite":
            continue
        c = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
        if c.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
            return c
        c.close()
    return None


def check(server, tokens, projects=None):
    """Returns the list of broken invariants (empty when all hold). `tokens`: org -> a token that can read it;
    `projects`: only the stacks of these projects (the ones a test made), or every stack."""
    state = server.workdir / "state"
    d1 = _db(state, "d1", "stacks")
    r2 = _db(state, "r2", "_mf_objects")
    objects = {k for (k,) in r2.execute("SELECT key FROM _mf_objects")} if r2 else set()
    broken = []
    for stack_id, version, key in d1.execute("SELECT stack_id, version, r2_key FROM checkpoints"):
        if projects is not None and stack_id not in {s[0] for s in d1.execute(
                "SELECT id FROM stacks WHERE project IN (SELECT value FROM json_each(?))", (json.dumps(list(projects)),))}:
            continue
        if key not in objects:
            broken.append(f"checkpoint {stack_id}@{version} points at a missing object {key}")
    stacks = d1.execute("SELECT id, org, project, name, version, resource_count, active_update FROM stacks").fetchall()
    if projects is not None:
        stacks = [s for s in stacks if s[2] in projects]
    ids = {s[0] for s in stacks}
    for sid, org, project, name, version, count, active in stacks:
        path = f"/api/stacks/{org}/{project}/{name}"
        if version > 0 and org in tokens:
            r = server.request("GET", f"{path}/export", tokens[org])
            if r.status != 200:
                broken.append(f"{path} at version {version} does not export: {r.status} {r.body[:200]!r}")
            else:
                n = len(json.loads(r.body).get("deployment", {}).get("resources") or [])
                if n != count:
                    broken.append(f"{path} exports {n} resources, D1 says {count}")
        if active:
            row = d1.execute("SELECT status FROM updates WHERE id = ?", (active,)).fetchone()
            if row is None or row[0] not in ("running", "not-started"):
                broken.append(f"{path} holds update {active}, which is {row[0] if row else 'missing'}")
    finished = d1.execute(
        "SELECT u.stack_id, u.version, u.id FROM updates u WHERE u.version IS NOT NULL AND u.kind != 'preview' "
        "AND u.status = 'succeeded' AND NOT EXISTS (SELECT 1 FROM checkpoints c WHERE c.stack_id = u.stack_id "
        "AND c.version = u.version)").fetchall()
    broken += [f"update {uid} produced version {v} of stack {sid}, which has no checkpoint"
               for sid, v, uid in finished if sid in ids]
    d1.close()
    return broken
