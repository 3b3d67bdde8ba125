"""Embedding workers: end-to-end chunks/s of a cold index with one embedding
process using every core against several processes splitting them, alternated
in one run; and the resident memory of one worker.

    python -m benchmarks.throughput.embed_workers TREE [--workers 1,2] [--rounds 2]

Each configuration is `FATHOM_EMBED_WORKERS=W` (W processes, each with cores / W
torch threads), a fresh cache, `fathom index TREE`; chunks/s is the texts
embedded over the whole run's time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from benchmarks.harness import fathom_env, fresh_cache, run_cli


def cold_index(tree: Path, workers: int) -> dict:
    env = fathom_env(fresh_cache("fathom-workers-"), FATHOM_EMBED_WORKERS=str(workers))
    seconds, _ = run_cli(env, "index", str(tree))
    status = json.loads(run_cli(env, "status", str(tree), "--json")[1])
    embedded = status["last_run"]["embedded"]
    return {"workers": workers, "seconds": round(seconds, 1), "embedded": embedded,
            "chunks_per_s": round(embedded / seconds, 2)}


def worker_memory(texts: int = 512) -> dict:
    """RSS of each of two workers after embedding a few batches (the model, torch, and activations)."""
    import psutil

    from fathom.config import usable_cores
    from fathom.embed.modelspec import resolve_model
    from fathom.embed.workers import EmbedderPool

    pool = EmbedderPool(resolve_model("all-MiniLM-L6-v2"), "cpu", 2, max(1, usable_cores() // 2))
    try:
        pool.ensure_started()
        sample = [f"def handler_{i}(request):\n    return render(request, 'page.html', user={i})" for i in range(texts)]
        futures = [pool.embed_documents(sample[i:i + 64]) for i in range(0, texts, 64)]
        for f in futures:
            f.result(600)
        deadline = time.monotonic() + 120
        while len(pool.pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        return {str(pid): round(psutil.Process(pid).memory_info().rss / 2**20) for pid in pool.pids()}
    finally:
        pool.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--workers", default="1,2", help="configurations to alternate, by process count")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    configs = [int(w) for w in args.workers.split(",")]
    runs = []
    for round_ in range(args.rounds):
        order = configs if round_ % 2 == 0 else configs[::-1]
        for workers in order:
            run = cold_index(args.tree, workers)
            run["round"] = round_
            runs.append(run)
            print(json.dumps(run), flush=True)
    summary = {str(w): statistics.median(r["chunks_per_s"] for r in runs if r["workers"] == w) for w in configs}
    print(json.dumps({"median_chunks_per_s": summary, "worker_rss_mb": worker_memory()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
