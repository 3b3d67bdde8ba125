"""An agent's first question: a fresh `fathom mcp` server for each question,
over an index already current, asked at once, as an agent session that starts
its MCP server asks it.

    .venv/bin/python -m benchmarks.server.first_question WORK PROJECT [-n 30] [--before SERVER_DIR]

WORK is what a docstring eval left with `--work` (`quality/eval_python.py`,
`eval_js.py`, `eval_lang.py`): the stripped trees, their index (WORK/cache) and
the queries; PROJECT one of its projects. A seeded sample of `n` of its
questions is asked, each of a new server; with `--before` (the `server/`
folder of a worktree of an earlier commit), each question is asked of that
version's server too, alternately, from the same run. Prints the strict MRR@10
of the first answers, how many said `partial`, and the first call's time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from benchmarks.harness import fathom_env
from benchmarks.quality.eval_python import K, Query, rank_of_hit
from benchmarks.server.doors import parse_tool_answer, tool_text


async def first_answer(root: Path, env: dict, question: str) -> tuple[str, float]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "fathom", "mcp", str(root)], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            started = time.perf_counter()
            result = await session.call_tool("search_code", {"query": question, "limit": K, "max_chars": 200000})
            return tool_text(result), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("project")
    parser.add_argument("-n", type=int, default=30)
    parser.add_argument("--before", type=Path, help="the server/ folder of an earlier version, asked alternately")
    args = parser.parse_args()
    queries = [Query(**q) for q in json.loads((args.work / "queries.json").read_text()) if q["project"] == args.project]
    random.Random(44).shuffle(queries)
    root = args.work / "trees" / args.project
    versions = {"this version": fathom_env(args.work / "cache")}
    if args.before:
        versions = {"before": fathom_env(args.work / "cache", PYTHONPATH=str(args.before.resolve())), **versions}
    reciprocal: dict[str, list[float]] = {name: [] for name in versions}
    partial = dict.fromkeys(versions, 0)
    seconds: dict[str, list[float]] = {name: [] for name in versions}
    for q in queries[:args.n]:
        for name, env in versions.items():
            text, took = asyncio.run(first_answer(root, env, q.text))
            rank = rank_of_hit(parse_tool_answer(root, text), q, strict=True)
            reciprocal[name].append(0.0 if rank is None else 1 / (rank + 1))
            partial[name] += "partial" in text.splitlines()[0]
            seconds[name].append(took)
    print(f"{len(reciprocal['this version'])} first questions of {args.project}, a fresh `fathom mcp` for each")
    print("| version | strict MRR@10 | answers marked partial | first call: median / max |")
    print("| --- | --- | --- | --- |")
    for name in versions:
        print(f"| {name} | {statistics.fmean(reciprocal[name]):.3f} | {partial[name]} | "
              f"{statistics.median(seconds[name]):.2f} / {max(seconds[name]):.2f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
