"""Memory of `fathom serve`: peak RSS while it indexes a fresh copy of TREE,
then at idle, per process (server, embedding process, chunk workers), before
and after the idle chunk workers are stopped; and the CPU all of them use
while idle (an editor left open on an indexed workspace should cost nothing).

    python -m benchmarks.server.memory /tmp/proj/flask-3.1.0 --pool-idle 30
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks.harness import fathom_env, serve


def breakdown(server: psutil.Process, embedder_pid: int | None) -> dict[str, float]:
    rows: dict[str, float] = {"server": server.memory_info().rss}
    for child in server.children(recursive=True):
        try:
            if child.pid == embedder_pid:
                kind = "embedding process"
            elif "spawn_main" in " ".join(child.cmdline()):
                kind = "chunk workers"
            else:
                kind = "multiprocessing helper"
            rows[kind] = rows.get(kind, 0) + child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return {k: round(v / 2**20) for k, v in rows.items()} | {"total": round(sum(rows.values()) / 2**20)}


def cpu_seconds_over(server: psutil.Process, seconds: float) -> float:
    """User + system CPU time of the server and its children during `seconds`."""
    processes = [server, *server.children(recursive=True)]

    def used() -> dict[int, float]:
        times = {}
        for process in processes:
            try:
                t = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            times[process.pid] = t.user + t.system
        return times

    before = used()
    time.sleep(seconds)
    after = used()
    return sum(after[pid] - before[pid] for pid in after if pid in before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--pool-idle", type=float, default=30.0, help="FATHOM_POOL_IDLE_SECONDS for the run")
    parser.add_argument("--idle-cpu-window", type=float, default=60.0,
                        help="seconds over which to sum the idle processes' CPU time")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fathom-memory-"))
    root = work / "tree"
    shutil.copytree(args.tree, root, symlinks=True)
    env = fathom_env(work / "cache", FATHOM_POOL_IDLE_SECONDS=str(args.pool_idle))
    client = serve(env)
    started = time.monotonic()
    try:
        client.initialize(root.as_uri(), os.getpid())
        server = psutil.Process(client.process.pid)
        peak, status = 0, {}
        while True:
            status = client.request("fathom/status", {})["workspaces"]
            status = status[0] if status else {}
            peak = max(peak, breakdown(server, status.get("embedder_pid"))["total"])
            if status.get("state") == "idle" and status.get("embedder_pid"):
                break
            time.sleep(0.5)
        indexed_s = time.monotonic() - started
        client.request("fathom/search", {"query": "read a configuration file"})
        at_idle = breakdown(server, status["embedder_pid"])
        time.sleep(args.pool_idle + 35)
        client.request("fathom/search", {"query": "read a configuration file"})
        later = breakdown(server, status["embedder_pid"])
        idle_cpu = cpu_seconds_over(server, args.idle_cpu_window)
    finally:
        client.close()
        shutil.rmtree(work, ignore_errors=True)
    print(f"tree: {args.tree} ({status.get('files')} files, {status.get('chunks')} chunks), indexed in {indexed_s:.0f} s")
    print(f"peak RSS while indexing (all processes): {peak} MB")
    print(f"idle, just after indexing: {at_idle}")
    print(f"idle, after the chunk workers' idle time ({args.pool_idle:.0f} s): {later}")
    print(f"CPU used by all processes over {args.idle_cpu_window:.0f} s idle: {idle_cpu:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
