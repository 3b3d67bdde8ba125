"""Pipeline vs model: chunks/s of a full `fathom index` against chunks/s of the
model alone on the very same chunk texts, in one run.

    .venv/bin/python -m benchmarks.throughput.pipeline_vs_model TREE [--device cpu|cuda|mps] [--model NAME_OR_DIR] [--steady] [--rounds N]

The model-alone figure is the model's best case: texts sorted by length, the
best of several batch sizes and of the two ways to run it (sentence-transformers,
and the torch-only forward pass the pipeline uses on a CPU), model already
loaded (its load time is printed apart). The pipeline figure is a cold
`fathom index` from process start to exit, model load included.

This VM's speed drifts by several per cent within minutes, so `--rounds N`
repeats the cold index and the model-alone pass alternately (pipeline, model,
pipeline, model, ...) and sets each later pipeline run against the mean of the
model-alone passes on either side of it.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def steady_rate(tree: str, settings, device: str) -> tuple[dict[str, float], float, float]:
    """A cold index in this process, timed by its progress reports: (seconds from
    start at which phase 1 ended, the model was ready and the first vectors were
    written; texts/s from then on; total seconds). Separates the embedding
    process's start (imports, model load) from its pace."""
    from fathom.embed.local import LocalEmbedder as Embedder
    from fathom.index.progress import Progress
    from fathom.index.run import Indexer
    from fathom.workspace import Workspace

    start = time.monotonic()
    marks: list[tuple[float, int]] = []
    moments: dict[str, float] = {}

    class Marks(Progress):
        def files(self, done: int, total: int) -> None:
            if done == total:
                moments.setdefault("phase 1 done", time.monotonic() - start)

        def embedding(self, done: int, total: int) -> None:
            marks.append((time.monotonic() - start, done))

    ws = Workspace(tree, settings)
    embedder = Embedder(ws.spec, device)
    load = embedder.ensure_started

    def timed_load(*args, **kwargs):
        load(*args, **kwargs)
        moments.setdefault("model ready", time.monotonic() - start)

    embedder.ensure_started = timed_load
    indexer = Indexer(ws, embedder)
    try:
        indexer.run(progress=Marks())
    finally:
        indexer.close()
        embedder.close()
    total = time.monotonic() - start
    first = next(m for m in marks if m[1] > 0)
    moments["first vectors written"] = first[0]
    last = marks[-1]
    return moments, (last[1] - first[1]) / max(1e-9, last[0] - first[0]), total


def cold_index_seconds(tree: str, options: list[str], env: dict) -> float:
    """A `fathom index` of TREE into the empty cache `env` names, process start to exit."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "fathom", "index", tree, *options], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None)
    parser.add_argument("--steady", action="store_true",
                        help="also index once in process to split start-up time from embedding pace")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate cold index and model-alone pass this many times")
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="fathom-bench-")
    env = {**os.environ, "FATHOM_CACHE_DIR": cache}
    options = ["--device", args.device] + (["--model", args.model] if args.model else [])
    pipeline_s = cold_index_seconds(args.tree, options, env)
    again = time.monotonic()
    subprocess.run([sys.executable, "-m", "fathom", "index", args.tree, *options], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    nochange_s = time.monotonic() - again
    status = json.loads(subprocess.run([sys.executable, "-m", "fathom", "status", args.tree, "--json"],
                                       check=True, env=env, capture_output=True, text=True).stdout)

    os.environ["FATHOM_CACHE_DIR"] = cache
    from fathom.config import Settings, force_offline
    from fathom.workspace import Workspace

    force_offline()
    settings = Settings.from_env()
    if args.model:
        settings = settings.merged({"model": args.model})
    ws = Workspace(args.tree, settings)
    texts = [t.embed_text for t in ws.reader.distinct_texts()]
    import torch
    from sentence_transformers import SentenceTransformer

    from fathom.embed import bert as bert_encoder
    from fathom.embed.process import batch_texts

    load_start = time.monotonic()
    # float32 as Fathom computes on a CPU, whatever the file stores (the shipped model's is float16).
    model = SentenceTransformer(ws.spec.load_path, device=args.device, model_kwargs={"dtype": torch.float32})
    if args.device == "cuda":
        model.half()
    load_s = time.monotonic() - load_start
    n = len(texts)
    print(f"files: {status['files']}, chunks: {status['chunks']}, distinct texts embedded: {n}")
    print(f"pipeline (cold fathom index, process start to exit, model load included): "
          f"{pipeline_s:.1f} s = {n / pipeline_s:.1f} chunks/s")
    print(f"model load alone: {load_s:.1f} s")
    batch_sizes = (16, 32, 64) if args.device == "cpu" else (64, 256, 1024)
    best = 0.0
    ordered = sorted(texts, key=len)
    model.encode(ordered[:256], batch_size=64, show_progress_bar=False)  # warm-up
    for batch_size in batch_sizes:
        begin = time.monotonic()
        model.encode(ordered, batch_size=batch_size, show_progress_bar=False)
        rate = n / (time.monotonic() - begin)
        best = max(best, rate)
        print(f"model alone (sentence-transformers, same texts, sorted, batch {batch_size}, loaded): {rate:.1f} chunks/s")
    lean = bert_encoder.load(ws.spec.load_path) if args.device == "cpu" else None
    if lean is not None:
        # The forward pass the pipeline itself runs on a CPU: the ratio is taken
        # against whichever of the two is faster.
        batch_size = batch_texts(args.device)

        def torch_only_rate() -> float:
            with torch.inference_mode():
                begin = time.monotonic()
                for i in range(0, n, batch_size):
                    torch.nn.functional.normalize(lean.embed(lean.tokenize(ordered[i:i + batch_size])), dim=1)
                return n / (time.monotonic() - begin)

        torch_rate = torch_only_rate()
        best = max(best, torch_rate)
        print(f"model alone (torch only, as the pipeline runs it, batch {batch_size}, loaded): {torch_rate:.1f} chunks/s")
    print(f"ratio pipeline / best model: {(n / pipeline_s) / best:.2f}")
    print(f"ratio pipeline / best model with its load time: {(n / pipeline_s) / (n / (n / best + load_s)):.2f}")
    print(f"no-change reindex (whole process): {nochange_s:.2f} s")
    if args.rounds > 1:
        if lean is not None and torch_rate >= best:  # the later rounds repeat the faster way
            model_rate, how = torch_only_rate, f"torch only, batch {batch_size}"
        else:
            best_batch = 16 if args.device == "cpu" else 256
            def model_rate() -> float:
                begin = time.monotonic()
                model.encode(ordered, batch_size=best_batch, show_progress_bar=False)
                return n / (time.monotonic() - begin)
            how = f"sentence-transformers, batch {best_batch}"
        model_rates = [best]
        ratios = []
        for round_no in range(2, args.rounds + 1):
            shutil.rmtree(cache, ignore_errors=True)
            again_s = cold_index_seconds(args.tree, options, env)
            model_rates.append(model_rate())
            around = (model_rates[-2] + model_rates[-1]) / 2
            ratios.append((n / again_s) / around)
            print(f"round {round_no}: pipeline {again_s:.1f} s = {n / again_s:.1f} chunks/s; model alone ({how}) "
                  f"{model_rates[-2]:.1f} before, {model_rates[-1]:.1f} after; ratio {ratios[-1]:.2f}")
        print(f"ratio, median of rounds 2-{args.rounds} (each against the model passes on either side): "
              f"{statistics.median(ratios):.2f}")
    if args.steady:
        os.environ["FATHOM_CACHE_DIR"] = tempfile.mkdtemp(prefix="fathom-bench-")
        moments, rate, total_s = steady_rate(args.tree, settings, args.device)
        shutil.rmtree(os.environ["FATHOM_CACHE_DIR"], ignore_errors=True)
        print("in process: " + ", ".join(f"{name} at {at:.1f} s" for name, at in sorted(moments.items(),
                                                                                    key=lambda m: m[1])))
        print(f"in process: then {rate:.1f} chunks/s ({rate / best:.2f} of the model alone); {total_s:.1f} s in all")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
