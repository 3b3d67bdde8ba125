"""Vector search at monorepo scale (issue #28): the HNSW graph of store/graph.py
against sqlite-vec's exact scan.

    # recall on real vectors: index TREE with the model (or reuse --cache), then
    # ask its docstrings' first sentences of both searches
    .venv/bin/python -m benchmarks.scale.vectors recall /tmp/django-5.1.4/django --cache /tmp/vec-django

    # latency at a million vectors: random unit vectors for the first N chunks of
    # an index (the kernel's, from benchmarks.scale.phase1), fathom/search's hybrid
    # search timed with the lexicon (the default on a large index, built first)
    # and with FTS5 bounded (what answers until it is built), alternated
    # (--exact: also without the graph), while another process indexes a tree
    .venv/bin/python -m benchmarks.scale.vectors latency --index /tmp/kernel/cache --work /tmp/kernel \\
        --vectors 1000000 --background-tree /tmp/kernel/linux-source-6.12/drivers/net

Recall@10 is the share of the exact scan's ten nearest that the graph's search
(as `Store.nearest` runs it: OVERSAMPLE x k candidates, re-ranked exactly) also
returns. The disk and memory cost per vector are the graph file's size and
usearch's own count of its memory, divided by the vectors it holds.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DIM = 384
QUESTIONS = [
    "allocate memory for a network buffer", "free the device's interrupt handler", "parse the command line options",
    "lock the queue before adding work", "register a pci driver", "read a block from the disk",
    "handle a timer expiry", "copy data from user space", "initialise the usb controller", "compute a checksum",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def wait_for_graph(store, query: bytes, deadline_s: float = 3600) -> float:
    """Seconds until the store's graph holds every vector (it builds in the background)."""
    start = time.perf_counter()
    found = store._graph()
    if found is None:
        raise SystemExit("the index is below the graph's threshold")
    graph = found[0]
    while True:
        store.nearest(query, 10)
        if graph.ready and graph.state == store._graph_state():
            return time.perf_counter() - start
        if time.perf_counter() - start > deadline_s:
            raise SystemExit("the graph was not built in time")
        time.sleep(0.5)


def wait_for_symbol_table(store, deadline_s: float = 600) -> float:
    """Seconds until the index's in-memory symbol table is built (in the background)."""
    from fathom.search.symbols import symbol_table

    start = time.perf_counter()
    while symbol_table(store) is None:
        if time.perf_counter() - start > deadline_s:
            raise SystemExit("the symbol table was not built in time")
        time.sleep(0.5)
    return time.perf_counter() - start


def graph_files(store) -> tuple[int, int, int]:
    graph, state = store._graph()
    return graph.path.stat().st_size if graph.path.exists() else 0, graph.bytes_in_memory(), state.size


# -- recall ---------------------------------------------------------------------------------------

def recall(args) -> int:
    os.environ["FATHOM_CACHE_DIR"] = str(args.cache)
    from benchmarks.quality.eval_python import prepare
    from fathom.engine import Engine
    from fathom.store import Store
    from fathom.store import graph as graph_module
    import fathom.store.store as store_module

    queries, _units, _roots = prepare([args.tree], args.cache / "stripped")
    with Engine() as engine:
        start = time.perf_counter()
        engine.index(args.tree)
        print(f"indexed {args.tree} in {time.perf_counter() - start:.0f} s (cached runs: 0)", flush=True)
        embedder = engine.embedder
        texts = [q.text for q in queries][: args.queries]
        vectors = [embedder.embed_query(t) for t in texts]
    database = next(args.cache.glob("*/index.db"))
    # The graph serves every index in this run, whatever its size.
    graph_module.GRAPH_MIN_VECTORS = store_module.GRAPH_MIN_VECTORS = 0
    store = Store(database, readonly=True)
    built = wait_for_graph(store, vectors[0])
    disk, memory, size = graph_files(store)
    table = store._tables()[0]
    print(f"{size:,} vectors; graph built in {built:.1f} s; {disk / size:.0f} B a vector on disk, "
          f"{memory / size:.0f} B in memory")
    graph, _ = store._graph()
    for expansion in args.expansions:
        graph._index.expansion_search = expansion
        hits, exact_ms, graph_ms = [], [], []
        for vector in vectors:
            start = time.perf_counter()
            exact = {int(r) for r, _ in store.conn.execute(
                f"SELECT rowid, distance FROM {table} WHERE embedding MATCH ? AND k = 10", (vector,))}
            exact_ms.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            by_graph = store._nearest_by_graph(*store._graph(), np.frombuffer(vector, dtype=np.float32), 10)
            graph_ms.append((time.perf_counter() - start) * 1000)
            hits.append(len(exact & set(by_graph)) / len(exact))
        print(f"expansion_search {expansion}: recall@10 {statistics.mean(hits):.4f} over {len(vectors)} questions "
              f"(worst {min(hits):.1f}); exact {statistics.median(exact_ms):.1f} ms, "
              f"graph {statistics.median(graph_ms):.2f} ms (medians)")
    return 0


# -- latency --------------------------------------------------------------------------------------

def latency(args) -> int:
    index_dir = next(args.index.glob("*/index.db")).parent
    work = args.work / "vectors-cache"
    if not (work / index_dir.name / "index.db").exists() or args.fresh:
        shutil.rmtree(work, ignore_errors=True)
        (work / index_dir.name).mkdir(parents=True)
        for name in ("index.db",):
            shutil.copy2(index_dir / name, work / index_dir.name / name)
    os.environ["FATHOM_CACHE_DIR"] = str(work)
    from benchmarks.scale.lexical import build_lexicon
    from fathom.search import Searcher, SearchOptions
    from fathom.store import Store
    import fathom.store.store as store_module

    database = work / index_dir.name / "index.db"
    store = Store(database)
    store.use_vector_model("random-unit-vectors", DIM)
    held = store._graph_state().size
    if held < args.vectors:
        rng = np.random.default_rng(1)
        start = time.perf_counter()
        pending = [h for (h,) in store.conn.execute(
            "SELECT DISTINCT text_hash FROM chunks WHERE embed LIMIT ?", (args.vectors - held,))]
        for first in range(0, len(pending), 20_000):
            part = pending[first:first + 20_000]
            matrix = rng.normal(size=(len(part), DIM)).astype(np.float32)
            matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
            store.write_vectors(zip(part, (row.tobytes() for row in matrix)))
        print(f"wrote {len(pending):,} random unit vectors in {time.perf_counter() - start:.0f} s", flush=True)
    rng = np.random.default_rng(2)
    query = rng.normal(size=DIM).astype(np.float32)
    query = (query / np.linalg.norm(query)).tobytes()
    reader = Store(database, readonly=True)
    built = wait_for_graph(reader, query)
    disk, memory, size = graph_files(reader)
    print(f"{size:,} vectors; graph ready after {built:.0f} s; {disk / size:.0f} B a vector on disk, "
          f"{memory / size:.0f} B in memory", flush=True)
    table_built = wait_for_symbol_table(reader)
    print(f"symbol table (the name half of a large index's lexical search) ready after {table_built:.0f} s", flush=True)
    print(f"lexicon: {build_lexicon(store)}", flush=True)
    searchers = {
        "graph, lexicon (the default)": Searcher(reader, lambda _q: query),
        "graph, FTS5 bounded (until the lexicon is built)": Searcher(reader, lambda _q: query,
                                                                      SearchOptions(use_lexicon=False)),
    }

    def timed(label: str, searcher) -> list[float]:
        times = []
        for question in QUESTIONS * args.rounds:
            start = time.perf_counter()
            searcher.search(question, 20)
            times.append((time.perf_counter() - start) * 1000)
        print(f"  {label}: p50 {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms "
              f"over {len(times)} searches", flush=True)
        return times

    background = None
    if args.background_tree:
        scratch = args.work / "background-cache"
        shutil.rmtree(scratch, ignore_errors=True)
        background = subprocess.Popen([sys.executable, "-m", "fathom", "index", "--no-embed", str(args.background_tree)],
                                      env=dict(os.environ, FATHOM_CACHE_DIR=str(scratch)),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(5)
        print(f"with `fathom index --no-embed {args.background_tree}` running beside:")
    for round_no in range(args.alternations):
        for label, searcher in searchers.items():
            timed(f"{label} (round {round_no + 1})", searcher)
        if args.exact:
            saved = store_module.GRAPH_MIN_VECTORS
            store_module.GRAPH_MIN_VECTORS = 10 ** 12
            try:
                timed(f"exact scan, lexicon (round {round_no + 1})", searchers["graph, lexicon (the default)"])
            finally:
                store_module.GRAPH_MIN_VECTORS = saved
    if background is not None:
        still = background.poll() is None
        background.kill()
        background.wait()
        print(f"(the background index was {'still running' if still else 'over'} at the end)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("recall")
    r.add_argument("tree", type=Path)
    r.add_argument("--cache", type=Path, required=True)
    r.add_argument("--queries", type=int, default=500)
    r.add_argument("--expansions", type=int, nargs="+", default=[32, 64, 128])
    l = sub.add_parser("latency")
    l.add_argument("--index", type=Path, required=True, help="a cache folder holding an index (phase1.py's)")
    l.add_argument("--work", type=Path, required=True)
    l.add_argument("--vectors", type=int, default=1_000_000)
    l.add_argument("--rounds", type=int, default=3)
    l.add_argument("--alternations", type=int, default=2)
    l.add_argument("--background-tree", type=Path)
    l.add_argument("--fresh", action="store_true", help="copy the index again")
    l.add_argument("--exact", action="store_true", help="also time the exact scan (about 1 s a search)")
    args = parser.parse_args()
    return recall(args) if args.command == "recall" else latency(args)


if __name__ == "__main__":
    raise SystemExit(main())
