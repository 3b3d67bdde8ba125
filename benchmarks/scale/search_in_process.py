"""`Searcher.search` latency in process, over a fully embedded index of TREE.

Embedding django takes 12 minutes on a 2-core CPU, and search costs the same
whatever the vectors say (the KNN is a full scan), so this fills the index with
random unit vectors instead, in its own cache folder. Run it with PYTHONPATH
pointing at two builds, in turn, to compare them on the same index:

    python -m benchmarks.scale.search_in_process /tmp/django/django --cache /tmp/search-cache
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import struct
import time
from pathlib import Path

QUESTIONS = [
    "parse http date header", "validate email address", "cache key for template fragment",
    "migrate database schema", "render form field widget", "escape html in template",
    "get user permissions", "compile regex url pattern",
]
DIM = 384


def unit_vector(rnd: random.Random) -> bytes:
    v = [rnd.gauss(0, 1) for _ in range(DIM)]
    norm = sum(x * x for x in v) ** 0.5
    return struct.pack(f"{DIM}f", *(x / norm for x in v))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--cache", type=Path, required=True, help="a cache folder of its own (random vectors go there)")
    parser.add_argument("--rounds", type=int, default=6, help="times each question is asked")
    args = parser.parse_args()
    os.environ["FATHOM_CACHE_DIR"] = str(args.cache)
    from fathom.config import Settings
    from fathom.index.run import Indexer
    from fathom.search import Searcher
    from fathom.workspace import Workspace

    ws = Workspace(args.tree, Settings.from_env())
    rnd = random.Random(1)
    if ws.writer.is_empty():
        indexer = Indexer(ws, None)
        indexer.run(embed=False)
        indexer.close()
    store = ws.writer
    store.use_vector_model("random-unit-vectors", DIM)
    store.write_vectors((p.text_hash, unit_vector(rnd)) for p in store.pending_embeddings())
    counts = store.counts()
    query = unit_vector(rnd)
    searcher = Searcher(ws.reader, lambda _q: query)
    searcher.search("warm up", 20)
    times = []
    for question in QUESTIONS * args.rounds:
        start = time.perf_counter()
        searcher.search(question, 20)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    print(f"{counts.chunks} chunks, {counts.pending} pending, {len(times)} searches: "
          f"p50 {statistics.median(times):.1f} ms, p95 {times[int(len(times) * 0.95)]:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
