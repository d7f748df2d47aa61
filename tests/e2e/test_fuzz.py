"""Generated hostile input over every route (tests/e2e/fuzz.py): about 2,000 requests from a fixed seed, on a
server of its own. No 5xx, no hang, every error in the Pulumi shape, nothing of another organization leaked.
`scripts/bench.sh fuzz` runs the long version; FUZZ_SEED and FUZZ_REQUESTS replay or lengthen this one."""

import os
from collections import Counter

import fuzz
from conftest import DEFAULT_VARS

SEED = int(os.environ.get("FUZZ_SEED", "20261201"))
REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "2000"))


def test_hostile_requests_never_500_leak_or_hang(server_factory):
    server = server_factory(dict(DEFAULT_VARS))
    fuzz.setup(server)
    stats = Counter()
    print(f"fuzz seed {SEED}, {REQUESTS} requests")
    fuzz.run(server.url, REQUESTS, SEED, stats)
    by_status = Counter()
    for (_, _, status), n in stats.items():
        by_status[status] += n
    print("by status:", dict(sorted(by_status.items())))
    assert sum(stats.values()) >= REQUESTS
    # The draw reached far into the API: most routes, and refusals of many kinds as well as successes.
    assert len({route for (_, route, _) in stats}) >= 30
    assert {200, 400, 401, 403, 404} <= set(by_status), by_status
    assert "panicked" not in server.log_text()
