"""The server as an editor meets it: time to the first symbol after open,
the time until every file is indexed for symbols and lexical search,
`workspace/symbol` and `fathom/search` latency while background embedding runs
and when idle, save -> searchable, and the memory of the whole process tree.

    .venv/bin/python -m benchmarks.server.latency TREE [--during-limit S] [--saves N] [--json OUT]

TREE is copied to a temporary folder first (the save test appends functions to
it) and indexed from scratch into a temporary cache.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psutil

from benchmarks.harness import LspClient, fathom_env, serve, timed

# Plain-English questions of the kind users ask; none names an identifier.
SEARCH_QUERIES = [
    "parse an http date header", "read the configuration file", "render a template with context",
    "validate an email address", "escape html special characters", "open a database connection",
    "handle a missing file error", "convert a string to a datetime", "load json from a request body",
    "set a cookie on the response", "check the user's password", "build a url from a route name",
    "compress data before sending", "log a warning message", "split a path into parts",
    "sort items by key", "retry after a timeout", "register a command line option",
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    ms = [v * 1000 for v in values]
    return {"n": len(ms), "p50_ms": round(percentile(ms, 0.5), 1), "p95_ms": round(percentile(ms, 0.95), 1),
            "max_ms": round(max(ms), 1) if ms else None}


def function_names(tree: Path, limit: int = 400) -> list[str]:
    names: list[str] = []
    pattern = re.compile(r"^\s*(?:async\s+)?def\s+([A-Za-z_][A-Za-z0-9_]{5,})\s*\(", re.M)
    for path in sorted(tree.rglob("*.py")):
        for name in pattern.findall(path.read_text(errors="replace")):
            if not name.startswith("__") and name not in names:
                names.append(name)
        if len(names) >= limit:
            break
    return names


class MemorySampler(threading.Thread):
    """RSS of the server and all its children (embedding process, pool workers)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.peak = 0
        self.stop = threading.Event()

    def current(self) -> int:
        total = 0
        for process in [self.root, *self.root.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.stop.wait(0.25):
            self.peak = max(self.peak, self.current())


def status_of(client: LspClient) -> dict:
    workspaces = client.request("fathom/status", {})["workspaces"]
    return workspaces[0] if workspaces else {"state": "indexing", "pending": -1}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    parser.add_argument("--during-limit", type=float, default=None,
                        help="stop sampling during indexing after this many seconds and end there")
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--idle-requests", type=int, default=200)
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fathom-latency-"))
    tree = work / "tree"
    shutil.copytree(args.tree, tree, symlinks=True)
    env = fathom_env(work / "cache")
    names = function_names(tree)
    rng = random.Random(7)
    report: dict = {"tree": args.tree}

    client = serve(env)
    memory = MemorySampler(client.process.pid)
    memory.start()
    opened = time.perf_counter()
    client.initialize(tree.as_uri(), os.getpid())

    probe = names[0]
    while not client.request("workspace/symbol", {"query": probe}):
        time.sleep(0.02)
    report["first_symbol_s"] = round(time.perf_counter() - opened, 2)

    symbol_during: list[float] = []
    search_during: list[float] = []
    partial_seen = False
    idle_at = None
    while True:
        status = status_of(client)
        if status["state"] != "indexing" and "files_indexed_s" not in report:
            report["files_indexed_s"] = round(time.perf_counter() - opened, 2)
        if status["state"] == "idle" and status["pending"] == 0:
            idle_at = time.perf_counter() - opened
            break
        if args.during_limit is not None and time.perf_counter() - opened > args.during_limit:
            break
        name = rng.choice(names)
        symbol_during.append(timed(lambda: client.request("workspace/symbol", {"query": name[:rng.randint(3, 8)]}))[0])
        elapsed, result = timed(lambda: client.request("fathom/search", {"query": rng.choice(SEARCH_QUERIES)}))
        search_during.append(elapsed)
        partial_seen = partial_seen or result["partial"]
        time.sleep(0.1)
    report["during_indexing"] = {"workspace_symbol": summary(symbol_during), "fathom_search": summary(search_during),
                                 "partial_flag_seen": partial_seen}
    report["status_at_end_of_during"] = status
    report["peak_rss_mb_during_indexing"] = round(memory.peak / 2**20)

    if idle_at is not None:
        report["idle_s"] = round(idle_at, 1)
        time.sleep(2)
        report["idle_rss_mb"] = round(memory.current() / 2**20)
        symbol_idle = [timed(lambda: client.request("workspace/symbol", {"query": rng.choice(names)[:rng.randint(3, 8)]}))[0]
                       for _ in range(args.idle_requests)]
        search_idle = [timed(lambda: client.request("fathom/search", {"query": rng.choice(SEARCH_QUERIES)}))[0]
                       for _ in range(args.idle_requests)]
        report["idle"] = {"workspace_symbol": summary(symbol_idle), "fathom_search": summary(search_idle)}
        report["save_to_searchable"] = save_to_searchable(client, tree, args.saves)

    memory.stop.set()
    report["peak_rss_mb"] = round(memory.peak / 2**20)
    client.close()
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2) + "\n")


def save_to_searchable(client: LspClient, tree: Path, saves: int) -> dict:
    """Append a new function to a real file, send didSave, and poll both requests
    until each finds it: the delay an editor user sees after saving."""
    files = sorted(p for p in tree.rglob("*.py") if p.stat().st_size > 2000)[:saves]
    symbol_delays: list[float] = []
    search_delays: list[float] = []
    rng = random.Random(11)
    for i, path in enumerate(files):
        # A made-up word per save, so exactly one function answers its query.
        word = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(9))
        name = f"reticulate_{word}"
        path.write_text(path.read_text() + f"\n\ndef {name}(count):\n    return count * {i + 2}\n")
        saved = time.perf_counter()
        client.notify("textDocument/didSave", {"textDocument": {"uri": path.as_uri()}})
        found_symbol = found_search = None
        while time.perf_counter() - saved < 30 and (found_symbol is None or found_search is None):
            if found_symbol is None and client.request("workspace/symbol", {"query": name}):
                found_symbol = time.perf_counter() - saved
            if found_search is None:
                hits = client.request("fathom/search", {"query": name.replace("_", " "), "limit": 5})["results"]
                if any(h["name"] == name for h in hits):
                    found_search = time.perf_counter() - saved
            time.sleep(0.01)
        symbol_delays.append(found_symbol if found_symbol is not None else float("inf"))
        search_delays.append(found_search if found_search is not None else float("inf"))
        time.sleep(0.3)
    return {"workspace_symbol": summary(symbol_delays), "fathom_search": summary(search_delays),
            "mean_search_s": round(statistics.fmean(search_delays), 3)}


if __name__ == "__main__":
    main()
