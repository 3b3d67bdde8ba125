"""Where phase 1's CPU goes, stage by stage, against universal-ctags' CPU on
the same tree: the floor under `benchmarks/throughput/phase1_vs_ctags.py`'s wall times.

    .venv/bin/python -m benchmarks.throughput.phase1_floor TREE [--repeat N]

Every stage runs serially in this one process on the files a first index
reads (the workspace walk's own list), best of N runs each, so the figures add
up and do not depend on how the pool's processes share the cores. Tree-sitter
parsing is timed alone as well as inside the chunker that runs it.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


from fathom.index import pool as chunk_pool
from fathom.config import DEFAULT_MODEL, Settings
from fathom.index.policy import is_vendored
from fathom.index.walk import discover
from fathom.index.languages import language_for
from fathom.models import ChunkTask
from fathom.embed.modelspec import resolve_model
from fathom.store import Store

WRITE_BATCH = 32  # files per transaction, as the indexer commits them


def best_cpu(work, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = work()
        best = min(best, time.process_time() - start)
    return best, result


def ctags_cpu(tree: str, repeat: int) -> tuple[float, float]:
    """(best wall, best user + system CPU) of `ctags -R`."""
    best_wall = best_cpu_s = float("inf")
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(["ctags", "-R", "-f", os.path.join(scratch, "tags"), tree], check=True,
                           stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            best_wall, best_cpu_s = min(best_wall, wall), min(best_cpu_s, cpu)
    return best_wall, best_cpu_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("ctags") is None:
        raise SystemExit("universal-ctags is not installed (Debian: apt install universal-ctags)")
    root = args.tree.resolve()
    settings = Settings()
    spec = resolve_model(DEFAULT_MODEL)

    ctags_wall, ctags_cpu_s = ctags_cpu(str(root), args.repeat)
    walk_s, found = best_cpu(lambda: discover(root, settings.max_file_size, settings.exclude), args.repeat)
    tasks = [ChunkTask(f.relpath, f.abspath, f.stat, None, embed=not is_vendored(f.relpath)) for f in found.files]

    chunk_pool._init_worker(spec.tokenizer_json, spec.max_tokens, settings.max_file_size)
    chunker = chunk_pool._chunker
    chunk_s, chunked = best_cpu(lambda: [chunk_pool.chunk_file(t) for t in tasks], args.repeat)
    indexed = [r for r in chunked if r.status == "indexed"]

    sources = []
    for r in indexed:
        data = Path(root, r.relpath).read_bytes()
        sources.append((language_for(r.relpath, data[:200].decode("utf-8", "replace").split("\n", 1)[0]), data))
    parsers = {lang: chunker.grammars._parser(lang) for lang, _ in sources if lang}
    parse_s, _ = best_cpu(lambda: [parsers[lang].parse(data) for lang, data in sources if lang], args.repeat)
    texts = [data.decode("utf-8", "replace") for _, data in sources]
    count_s, _ = best_cpu(lambda: [chunker.counter.count_per_line(t, t.split("\n")) for t in texts], args.repeat)

    def write() -> None:
        with tempfile.TemporaryDirectory() as scratch:
            store = Store(Path(scratch) / "index.db")
            for i in range(0, len(indexed), WRITE_BATCH):
                store.write_files(indexed[i:i + WRITE_BATCH])
            store.close()

    write_s, _ = best_cpu(write, args.repeat)

    parsed = [data for lang, data in sources if lang]
    total = walk_s + chunk_s + write_s
    print(f"{root}: {len(indexed):,} files indexed, {sum(len(r.chunks) for r in indexed):,} chunks; "
          f"{len(parsed):,} parsed ({sum(map(len, parsed)) / 1e6:.1f} MB)")
    print(f"ctags -R: {ctags_wall:.2f} s wall, {ctags_cpu_s:.2f} s CPU")
    print(f"walk (stat, ignore rules): {walk_s:.2f} s CPU")
    print(f"read, hash and chunk every file: {chunk_s:.2f} s CPU, of which")
    print(f"  tree-sitter parsing alone: {parse_s:.2f} s CPU = {parse_s / ctags_cpu_s:.1f}x ctags' whole run")
    print(f"  token counting alone (every line): {count_s:.2f} s CPU")
    print(f"write the index (symbols, chunks, lexical index): {write_s:.2f} s CPU")
    print(f"serial total {total:.2f} s CPU; on {os.cpu_count()} cores at best "
          f"{total / os.cpu_count():.2f} s = {total / os.cpu_count() / ctags_wall:.1f}x ctags' wall")


if __name__ == "__main__":
    main()
