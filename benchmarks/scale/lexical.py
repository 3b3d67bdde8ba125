"""The lexical half of fathom/search on a kernel-sized index (issue #28): the
lexicon (search/lexicon.py: tantivy, every word kept) against FTS5 bounded
(search/fulltext.py: only the rarer words, names from the symbol table; what
answers until the lexicon is built) and, with --every-word, every query word
sent to FTS5, alternated, over the index `benchmarks.scale.phase1` left. The
lexicon is built first (or caught up), timed, with its size on disk and the
process's peak RSS.

Questions are kernel-doc summaries: a comment `/** name - what it does` above a
definition, asked as "what it does"; the answer is that definition (its name, in
its file). The kernel's vectors in these benchmarks are random, so the meaning
half is left out and only the words rank: the figure compares the two lexical
halves, not Fathom's whole search.

    .venv/bin/python -m benchmarks.scale.lexical --work /tmp/kernel [--questions 300] [--index CACHE]
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
from pathlib import Path

# `/**` then ` * name - summary` (or `name() - summary`) on the next line.
KERNEL_DOC = re.compile(r"/\*\*[ \t]*\n[ \t]*\*[ \t]*([A-Za-z_]\w*)(?:\(\))?[ \t]+-+[ \t]+([^\n]+)")
MIN_WORDS = 3


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def questions(tree: Path, store, wanted: int, seed: int) -> list[tuple[str, str, str]]:
    """(summary, relpath, name) of kernel-doc comments whose definition the index holds."""
    files = sorted(p for p in tree.rglob("*.c") if p.is_file())
    random.Random(seed).shuffle(files)
    found: list[tuple[str, str, str]] = []
    for path in files:
        text = path.read_text(errors="replace")
        relpath = path.relative_to(tree).as_posix()
        docs = [(m.group(1), m.group(2).strip().rstrip(".")) for m in KERNEL_DOC.finditer(text)]
        docs = [(name, summary) for name, summary in docs if len(summary.split()) >= MIN_WORDS]
        if not docs:
            continue
        name, summary = random.Random(relpath).choice(docs)
        # Only a definition a search can show: one with a chunk of its own in that file (a macro has none).
        if any(path == relpath for path, _ in store.chunk_rows(store.chunks_of_names([name], 1000)).values()):
            found.append((summary, relpath, name))
            if len(found) >= wanted:
                break
    return found


def ask(searcher, asked: list[tuple[str, str, str]]) -> str:
    """`searcher` over the questions, in words: MRR@10, top 1, found in the top 10,
    and the times of its lexical half alone and of the whole search."""
    from fathom.textsplit import query_terms

    ranks, times, lexical_times = [], [], []
    for summary, relpath, name in asked:
        start = time.perf_counter()
        searcher._lexical(query_terms(summary), 100)
        lexical_times.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        hits = searcher.search(summary, 10).hits
        times.append((time.perf_counter() - start) * 1000)
        ranks.append(next((i + 1 for i, h in enumerate(hits) if h.relpath == relpath and h.name == name), None))
    share = lambda hit: sum(1 for r in ranks if hit(r)) / len(ranks)  # noqa: E731
    mrr = sum(1 / r for r in ranks if r) / len(ranks)
    return (f"MRR@10 {mrr:.3f}, top-1 {share(lambda r: r == 1):.3f}, found in 10 {share(lambda r: r is not None):.3f}; "
            f"lexical half p50 {statistics.median(lexical_times):.1f} ms, p95 {percentile(lexical_times, 95):.1f} ms; "
            f"whole search p50 {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="the folder benchmarks.scale.phase1 used")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=28)
    parser.add_argument("--index", type=Path, help="the cache folder of the index (default: WORK/cache)")
    parser.add_argument("--weights", nargs="*", help="the lexicon's with other name,path,body weights too")
    parser.add_argument("--every-word", action="store_true", help="also every word to FTS5 (1-3 s a question)")
    args = parser.parse_args()
    cache = args.index or args.work / "cache"
    os.environ["FATHOM_CACHE_DIR"] = str(cache)
    from benchmarks.scale.vectors import wait_for_symbol_table
    from fathom.search import Searcher, SearchOptions
    from fathom.store import Store

    tree = next(p for p in args.work.glob("linux-source-*") if p.is_dir())
    database = next(cache.glob("*/index.db"))
    print(f"lexicon: {build_lexicon(Store(database))}", flush=True)  # a writer: brings an older schema up to date
    store = Store(database, readonly=True)
    asked = questions(tree, store, args.questions, args.seed)
    print(f"{len(asked)} kernel-doc questions from {tree.name}; symbol table ready after "
          f"{wait_for_symbol_table(store):.0f} s", flush=True)
    searchers = {
        "lexicon (the default at this size)": Searcher(store, None),
        "FTS5 bounded (until the lexicon is built)": Searcher(store, None, SearchOptions(use_lexicon=False)),
    }
    for weights in args.weights or []:
        searchers[f"lexicon, weights {weights}"] = Searcher(
            store, None, SearchOptions(lexicon_weights=tuple(map(float, weights.split(",")))))
    if args.every_word:
        searchers["every word to FTS5"] = Searcher(store, None, SearchOptions(use_lexicon=False, bound_lexical=False))
    ask_alternately(searchers, asked, args.rounds)
    return 0


def build_lexicon(store) -> str:
    """Build (or catch up) the index's lexicon in this process: its time, size and this process's peak RSS."""
    import resource

    from fathom.search.lexicon import lexicon_for

    lexicon = lexicon_for(store)
    start = time.perf_counter()
    lexicon.build_now(store)
    took = time.perf_counter() - start
    size = sum(p.stat().st_size for p in lexicon.folder.rglob("*") if p.is_file())
    chunks = store.chunk_count()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return (f"{chunks:,} chunks, built or caught up in {took:.0f} s; {size / 1e6:.0f} MB on disk "
            f"({size / max(chunks, 1):.0f} B a chunk); peak RSS of this process {peak:.0f} MB")


def ask_alternately(searchers: dict, asked: list[tuple[str, str, str]], rounds: int) -> None:
    for round_no in range(rounds):
        for label, searcher in searchers.items():
            print(f"  {label} (round {round_no + 1}): {ask(searcher, asked)}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
