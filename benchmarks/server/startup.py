"""Start-up of the embedding model as a user meets it.

    .venv/bin/python -m benchmarks.server.startup TREE [--runs 3] [--busy 4]

Per run: how long `Embedder.ensure_started()` takes until the model is ready, and
the embedding process's RSS once it has embedded some of TREE's text and a query
and is idle; then, through a real stdio client, how long after `fathom serve`
starts a reopened, fully indexed TREE answers `fathom/search` at all (lexically)
and with vectors (`partial: false`). With `--busy N`, N busy-loop processes run
beside the model load (a build on the user's cores); the server part is skipped.
Compare revisions by running it with PYTHONPATH on a worktree of each.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import fathom_env, serve

QUERY = "send a file to the client"


def _spin() -> None:
    while True:
        pass


def model_ready(tree: Path, busy: int) -> tuple[float, int]:
    from fathom.embed.local import LocalEmbedder as Embedder
    from fathom.embed.modelspec import resolve_model

    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(busy)]
    for spinner in spinners:
        spinner.start()
    try:
        started = time.monotonic()
        embedder = Embedder(resolve_model("all-MiniLM-L6-v2"), "cpu")
        embedder.ensure_started()
        ready_s = time.monotonic() - started
    finally:
        for spinner in spinners:
            spinner.kill()
    try:
        texts = [path.read_text(errors="replace")[:900] for path in sorted(tree.rglob("*.py"))[:64]]
        embedder.embed_documents(texts).result()
        embedder.embed_query(QUERY)
        time.sleep(1)
        status = Path(f"/proc/{embedder.pid}/status").read_text()
        rss_mb = int(status.split("VmRSS:")[1].split()[0]) // 1024
    finally:
        embedder.close()
    return ready_s, rss_mb


def reopen(tree: Path, cache: str) -> tuple[float, float]:
    env = fathom_env(cache)
    started = time.monotonic()
    client = serve(env)
    try:
        client.initialize(tree.as_uri(), os.getpid())
        first = None
        while True:
            answer = client.request("fathom/search", {"query": QUERY, "limit": 5})
            first = first if first is not None else time.monotonic() - started
            if not answer.get("partial"):
                return first, time.monotonic() - started
            time.sleep(0.05)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes beside the model load")
    args = parser.parse_args()
    tree = args.tree.resolve()
    with tempfile.TemporaryDirectory(prefix="fathom-startup-") as cache:
        if not args.busy:
            subprocess.run([sys.executable, "-m", "fathom", "index", str(tree)], check=True,
                           env={**os.environ, "FATHOM_CACHE_DIR": cache},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for run in range(1, args.runs + 1):
            ready_s, rss_mb = model_ready(tree, args.busy)
            line = f"run {run}: model ready {ready_s:.2f} s" + (f" beside {args.busy} busy loops" if args.busy else "")
            line += f", embedding process idle RSS {rss_mb} MB"
            if not args.busy:
                first_s, semantic_s = reopen(tree, cache)
                line += f"; reopened in the server: first answer {first_s:.2f} s, first semantic answer {semantic_s:.2f} s"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
