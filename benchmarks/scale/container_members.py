"""`fathom symbols "Client."` (a container's members) over an index with many
containers: a seeded synthetic tree of N containers (CamelCase names of one to
three words and a number, as a large tree's classes and structs are spelt), each
holding one member, asked in process through `search.symbols.rank_symbols`.

    .venv/bin/python -m benchmarks.scale.container_members [--containers 100000] [--rounds 7] [--before SERVER_DIR]

With `--before` (the `server/` folder of a worktree of an earlier commit), that
version's ranking answers the same queries over the same index, alternately,
and both answers are checked to be the same. Prints the median milliseconds a query.
"""
from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import tempfile
import time
from pathlib import Path

WORDS = ["alloc", "free", "lock", "unlock", "irq", "save", "dev", "pci", "enable", "skb", "put", "get", "init", "exit",
         "read", "write", "buffer", "list", "head", "node", "queue", "work", "timer", "array", "table", "state"]
# One letter (held by most containers), a prefix, a whole name, humps, nothing.
QUERIES = ["a.", "Alloc.", "ArrayTable.", "at.", "zq."]


def build(path: Path, containers: int, seed: int = 1):
    from fathom.index.lexical import with_lexical
    from fathom.models import ChunkedFile, FileStat, Range, Symbol, SymbolKind
    from fathom.store import Store

    rng = random.Random(seed)
    store = Store(path)
    per_file = 100
    files = []
    for f in range(containers // per_file):
        symbols = []
        for c in range(per_file):
            name = "".join(w.capitalize() for w in rng.sample(WORDS, rng.randint(1, 3))) + str(f * per_file + c)
            symbols.append(Symbol("member", SymbolKind.Method, name, Range(c * 3, 0, c * 3 + 1, 0)))
        files.append(with_lexical(ChunkedFile(f"src/f{f}.py", FileStat(1, 1, f), f"h{f}", "python", "indexed", "",
                                              symbols, [])))
    store.write_files(files)
    return store


def ranking_of(server_dir: Path):
    """That checkout's `rank_symbols`, loaded beside this one's (it imports the rest from here)."""
    spec = importlib.util.spec_from_file_location("fathom.search._before_symbols",
                                                  server_dir / "fathom" / "search" / "symbols.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.rank_symbols


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--containers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", type=Path, help="an earlier checkout's server/ folder")
    args = parser.parse_args()
    from fathom.search.symbols import rank_symbols

    versions = {"this": rank_symbols}
    if args.before:
        versions = {"before": ranking_of(args.before), **versions}
    with tempfile.TemporaryDirectory() as work:
        store = build(Path(work) / "index.db", args.containers)
        print(f"{len(store.symbol_containers()):,} containers")
        times = {(v, q): [] for v in versions for q in QUERIES}
        for _ in range(args.rounds):
            for query in QUERIES:
                answers = {}
                for version, rank in versions.items():
                    start = time.perf_counter()
                    answers[version] = rank(store, query, 50)
                    times[version, query].append(time.perf_counter() - start)
                assert len({tuple(a) for a in answers.values()}) == 1, f"the versions answer {query!r} differently"
        for query in QUERIES:
            cells = "  ".join(f"{v} {statistics.median(times[v, query]) * 1000:6.1f} ms" for v in versions)
            print(f"{query:<13} {cells}")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
