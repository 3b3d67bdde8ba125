"""`fathom search` from a shell, alone against with a server holding the
workspace open (it then asks the server's query socket instead of loading a
model), alternated in one run.

    .venv/bin/python -m benchmarks.server.cli_search TREE [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from benchmarks.harness import fathom_env, fresh_cache, run_cli, start_server, wait_until_idle

QUERY = "send a file to the client"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = fathom_env(fresh_cache())
    run_cli(env, "index", str(args.tree))
    alone, served = [], []
    for _ in range(args.rounds):
        alone.append(run_cli(env, "search", QUERY, "--path", str(args.tree), "-k", "5")[0])
        client = start_server(args.tree, env)
        try:
            wait_until_idle(client)
            seconds, out = run_cli(env, "search", QUERY, "--path", str(args.tree), "-k", "5", "--json")
            assert json.loads(out), "the served search found nothing"
            served.append(seconds)
        finally:
            client.close()
    print(json.dumps({
        "alone_s": [round(s, 2) for s in alone], "served_s": [round(s, 2) for s in served],
        "alone_median_s": round(statistics.median(alone), 2), "served_median_s": round(statistics.median(served), 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
