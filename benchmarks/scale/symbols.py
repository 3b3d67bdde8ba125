"""workspace/symbol latency over a kernel-sized index (issue #28): the ranking
the server runs (`search.symbols.rank_symbols`), in process, over the index that
`benchmarks.scale.phase1` left, for exact names, prefixes, camel/snake humps and
subsequences that match many names.

    .venv/bin/python -m benchmarks.scale.symbols --work /tmp/kernel [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

QUERIES = [
    # exact and prefix
    "kmalloc", "schedule", "spin_lock_irqsave", "copy_from_user", "mutex_lock", "kmal", "spin_", "dev_", "pci_",
    "net", "e", "x",
    # humps
    "skbput", "devmkreq", "pcienable", "ListHead", "kfs", "irqh",
    # subsequences that match many names, and some that match few
    "kmc", "dvr", "ioctl", "rqst", "sockopt", "fwld", "zzq", "xhcihub", "usbstor", "ethtoolops",
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="the folder benchmarks.scale.phase1 used")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ["FATHOM_CACHE_DIR"] = str(args.work / "cache")
    from fathom.search.symbols import rank_symbols
    from fathom.store import Store

    database = next((args.work / "cache").glob("*/index.db"))
    store = Store(database, readonly=True)
    symbols = store.counts().symbols
    from fathom.search.symbol_table import kept_table

    start = time.perf_counter()
    rank_symbols(store, "warm")  # answered from SQL while the name table is built in the background
    first = time.perf_counter() - start
    while kept_table(str(store.path)).table is None and store.symbol_count() >= 50_000:
        time.sleep(0.01)
    built = time.perf_counter() - start
    times: dict[str, list[float]] = {q: [] for q in QUERIES}
    hits: dict[str, int] = {}
    for _ in range(args.rounds):
        for query in QUERIES:
            start = time.perf_counter()
            found = rank_symbols(store, query, 100)
            times[query].append(time.perf_counter() - start)
            hits[query] = len(found)
    every = [t for ts in times.values() for t in ts]
    for query in QUERIES:
        print(f"  {query!r:>20}: median {statistics.median(times[query]) * 1000:7.1f} ms, {hits[query]} hits")
    print(f"{symbols:,} symbols; first query {first * 1000:.0f} ms, name table ready after {built:.1f} s; over {len(every)} queries: "
          f"p50 {percentile(every, 50) * 1000:.1f} ms, p95 {percentile(every, 95) * 1000:.1f} ms, "
          f"max {max(every) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
