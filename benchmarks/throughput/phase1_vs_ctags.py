"""Phase 1 vs ctags: time until symbols and lexical search answer, a cold
`fathom index --no-embed TREE`, against `ctags -R TREE`, in alternating runs.

    .venv/bin/python -m benchmarks.throughput.phase1_vs_ctags TREE [--rounds N] [--before SERVER_DIR]

Each Fathom run gets a fresh cache directory and reports, besides its wall
time, the CPU of its main process (tree walk, SQLite writes) apart from that of
its chunk workers, so that a change to one side shows even when this VM's
speed drifts. `--before` adds a run of another checkout's `server/` directory
(e.g. a `git worktree` of an older commit) to each round, before this one.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE_SERVER = Path(__file__).resolve().parents[2] / "server"

# Runs the CLI in this child and prints what its own process and its (reaped)
# chunk workers spent.
_TIMED_CLI = """
import json, resource, sys, time
from fathom.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall_s": time.perf_counter() - start,
                  "main_cpu_s": me.ru_utime + me.ru_stime,
                  "workers_cpu_s": workers.ru_utime + workers.ru_stime}), file=sys.stderr)
"""


def run_ctags(tree: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        tags = os.path.join(scratch, "tags")
        start = time.perf_counter()
        subprocess.run(["ctags", "-R", "-f", tags, tree], check=True, stderr=subprocess.DEVNULL)
        elapsed = time.perf_counter() - start
        with open(tags, "rb") as f:
            count = sum(1 for line in f if not line.startswith(b"!_TAG_"))
    return elapsed, count


def run_fathom(tree: str, server_dir: Path) -> dict:
    cache = tempfile.mkdtemp(prefix="fathom-phase1-")
    env = dict(os.environ, XDG_CACHE_HOME=cache, PYTHONPATH=str(server_dir))
    try:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", _TIMED_CLI, "index", "--no-embed", tree],
                              env=env, capture_output=True, text=True)
        process_wall = time.perf_counter() - start
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    timing = json.loads(proc.stderr.strip().splitlines()[-1])
    if timing["code"] != 0:
        raise SystemExit(f"fathom index failed:\n{proc.stderr}")
    summary = re.search(r"([\d,]+) files, ([\d,]+) chunks", proc.stdout + proc.stderr)
    files, chunks = (int(n.replace(",", "")) for n in summary.groups())
    return {"process_wall_s": process_wall, **timing, "files": files, "chunks": chunks}


def checkout_arguments(doc: str, rounds: int) -> tuple[argparse.Namespace, list[tuple[str, Path]]]:
    """TREE, --rounds and --before, and the checkouts each round runs: (name, its server/ directory)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("tree")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--before", type=Path, help="another checkout's server/ directory, run first in each round")
    args = parser.parse_args()
    sides = [("before", args.before)] if args.before else []
    sides.append(("this checkout", HERE_SERVER))
    return args, sides


def main() -> None:
    args, sides = checkout_arguments(__doc__, rounds=3)
    if shutil.which("ctags") is None:
        raise SystemExit("universal-ctags is not installed (Debian: apt install universal-ctags)")
    results: dict[str, list[dict]] = {name: [] for name, _ in sides}
    ctags: list[float] = []
    for round_no in range(1, args.rounds + 1):
        elapsed, tags = run_ctags(args.tree)
        ctags.append(elapsed)
        print(f"round {round_no}: ctags {elapsed:.2f} s ({tags:,} tags)")
        for name, server_dir in sides:
            r = run_fathom(args.tree, server_dir)
            results[name].append(r)
            print(f"round {round_no}: {name}: {r['process_wall_s']:.2f} s wall, main process "
                  f"{r['main_cpu_s']:.2f} s CPU, chunk workers {r['workers_cpu_s']:.2f} s CPU; "
                  f"{r['files']:,} files, {r['chunks']:,} chunks")
    ctags_median = statistics.median(ctags)
    print(f"ctags median {ctags_median:.2f} s")
    for name, runs in results.items():
        wall = statistics.median(r["process_wall_s"] for r in runs)
        print(f"{name}: median {wall:.2f} s = {wall / ctags_median:.1f}x ctags")


if __name__ == "__main__":
    main()
