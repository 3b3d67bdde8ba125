"""Does background indexing eat the user's CPU? Busy-loop processes stand in
for the user's own work (a build, a test run); they count loop iterations
alone, then beside the embedding phase of a cold `fathom index`.

    .venv/bin/python -m benchmarks.server.contention TREE [--seconds 20] [--hogs N]

Prints the hogs' throughput beside indexing as a share of their throughput
alone, and how many chunks Fathom embedded meanwhile.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time


def hog(seconds: float, out) -> None:
    deadline = time.monotonic() + seconds
    count = 0
    while True:
        for _ in range(10_000):
            count += 1
        if time.monotonic() >= deadline:
            break
    out.put(count)


def run_hogs(n: int, seconds: float) -> float:
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=hog, args=(seconds, results)) for _ in range(n)]
    for p in procs:
        p.start()
    total = sum(results.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def embedded(tree: str, env: dict) -> int:
    status = json.loads(subprocess.run([sys.executable, "-m", "fathom", "status", tree, "--json"],
                                       env=env, capture_output=True, text=True, check=True).stdout)
    return status["chunks"] - status["pending"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    env = {**os.environ, "FATHOM_CACHE_DIR": tempfile.mkdtemp(prefix="fathom-contention-")}

    alone_before = run_hogs(args.hogs, args.seconds)

    index = subprocess.Popen([sys.executable, "-m", "fathom", "index", args.tree], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait for the embedding phase: chunks written, some of them embedded.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and index.poll() is None:
            try:
                if embedded(args.tree, env) > 0:
                    break
            except (subprocess.CalledProcessError, json.JSONDecodeError, KeyError):
                pass
            time.sleep(0.5)
        before = embedded(args.tree, env)
        beside = run_hogs(args.hogs, args.seconds)
        after = embedded(args.tree, env)
        still_running = index.poll() is None
    finally:
        index.kill()
        index.wait()
    # A VM's neighbours move the baseline: take it before and after.
    alone_after = run_hogs(args.hogs, args.seconds)
    alone = (alone_before + alone_after) / 2
    print(f"{args.hogs} busy loops alone: {alone_before / 1e6:.1f} M iterations/s before, "
          f"{alone_after / 1e6:.1f} after")
    print(f"beside fathom's embedding: {beside / 1e6:.1f} M iterations/s = {beside / alone:.0%} of alone")
    print(f"fathom embedded meanwhile: {after - before} chunks in {args.seconds:.0f} s"
          + ("" if still_running else " (the index finished inside the window: use a larger tree)"))


if __name__ == "__main__":
    main()
