"""Indexing through a serving engine against the engine's own rate.

    .venv/bin/python -m benchmarks.throughput.remote_engine TREE [--texts 600] [--url URL --model NAME]

Chunks TREE as a first index would (phase 1 only), keeps its first `--texts`
texts to embed, and then, at concurrency 1, 2, 4 and 8 (alternating which goes
first at each level):

- the engine's own rate: those texts, sorted by length, posted straight to
  `{url}/embeddings` in batches of `--batch-size`, that many requests in flight
  (httpx, threads);
- Fathom's: `Engine.index` of a tree holding just the files of those texts,
  into a fresh cache, through `RemoteEmbedder` at the same concurrency and
  batch size; chunks/s = texts embedded over the run's wall time (the walk,
  chunking and writes included).

Without `--url` it starts Infinity (tests/run.sh's virtualenv) on 127.0.0.1,
serving the packaged all-MiniLM-L6-v2 on this machine's CPU.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from benchmarks.engines import SERVED_NAME, Infinity

LEVELS = (1, 2, 4, 8)


def texts_and_files(tree: Path, cache: Path, limit: int) -> tuple[list[str], list[str]]:
    """The first `limit` texts a first index of TREE embeds, and the files they come from."""
    os.environ["FATHOM_CACHE_DIR"] = str(cache)
    from fathom.config import Settings
    from fathom.index.run import Indexer
    from fathom.workspace import Workspace

    ws = Workspace(tree, Settings())
    indexer = Indexer(ws, None)
    try:
        indexer.run(embed=False)
        pending = ws.writer.pending_embeddings()
    finally:
        indexer.close()
    files: list[str] = []
    count = 0
    for p in pending:
        if p.relpath not in files:
            if count >= limit:
                break
            files.append(p.relpath)
        count += 1
    chosen = set(files)
    texts = [p.embed_text for p in pending if p.relpath in chosen]
    return texts, files


def engine_rate(url: str, model: str, texts: list[str], batch: int, concurrency: int) -> float:
    endpoint = url.rstrip("/") + "/embeddings"
    texts = sorted(texts, key=len)  # as Fathom cuts its batches: each pads to similar lengths
    batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(limits=limits, timeout=600, trust_env=False) as client:
        def post(part: list[str]) -> None:
            response = client.post(endpoint, json={"model": model, "input": part, "encoding_format": "float"})
            response.raise_for_status()
            assert len(response.json()["data"]) == len(part)

        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(post, batches))
        return len(texts) / (time.perf_counter() - start)


def fathom_rate(url: str, model: str, tree: Path, batch: int, concurrency: int, scratch: Path) -> tuple[float, int]:
    from fathom.config import EngineSettings, Settings
    from fathom.engine import Engine

    cache = Path(tempfile.mkdtemp(dir=scratch))
    os.environ["FATHOM_CACHE_DIR"] = str(cache)
    settings = Settings(engine=EngineSettings(url, model, concurrency=concurrency, batch_size=batch))
    try:
        with Engine(settings) as engine:
            start = time.perf_counter()
            stats, _counts = engine.index(tree)
            seconds = time.perf_counter() - start
        if stats.embedding_error:
            raise RuntimeError(stats.embedding_error)
        return stats.embedded / seconds, stats.embedded
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--texts", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--url", help="an engine already running (its base URL); default: start Infinity here")
    parser.add_argument("--model", default=SERVED_NAME)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="fathom-remote-bench-"))
    infinity = None
    try:
        texts, files = texts_and_files(args.tree.resolve(), scratch / "phase1", args.texts)
        subset = scratch / "tree"
        for rel in files:
            (subset / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.tree / rel, subset / rel)
        url = args.url
        if url is None:
            infinity = Infinity(scratch / "infinity.log").start()
            url = infinity.url
        engine_rate(url, args.model, texts[:64], args.batch_size, 1)  # warm the engine up
        print(f"{len(texts)} texts from {len(files)} files of {args.tree}; engine {url}, batches of {args.batch_size}")
        print(f"{'concurrency':>11}  {'engine chunks/s':>15}  {'fathom chunks/s':>15}  ratio")
        for level in LEVELS:
            direct, through = [], []
            for r in range(args.rounds):
                order = ("engine", "fathom") if r % 2 == 0 else ("fathom", "engine")
                for which in order:
                    if which == "engine":
                        direct.append(engine_rate(url, args.model, texts, args.batch_size, level))
                    else:
                        rate, embedded = fathom_rate(url, args.model, subset, args.batch_size, level, scratch)
                        through.append(rate)
            d, f = statistics.median(direct), statistics.median(through)
            print(f"{level:>11}  {d:>15.1f}  {f:>15.1f}  {f / d:.2f}   (each the median of {args.rounds}; "
                  f"fathom embedded {embedded})", flush=True)
    finally:
        if infinity is not None:
            infinity.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
