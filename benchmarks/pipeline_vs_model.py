"""Pipeline vs model: chunks/s of a full `fathom index` against chunks/s of the
model alone on the very same chunk texts, in one run.

    .venv/bin/python benchmarks/pipeline_vs_model.py TREE [--device cpu|cuda|mps] [--model NAME_OR_DIR]

The model-alone figure is the model's best case: texts sorted by length, the
best of several batch sizes, model already loaded (its load time is printed
apart). The pipeline figure is a cold `fathom index` from process start to exit,
model load included.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="fathom-bench-")
    env = {**os.environ, "FATHOM_CACHE_DIR": cache}
    options = ["--device", args.device] + (["--model", args.model] if args.model else [])
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "fathom", "index", args.tree, *options], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    pipeline_s = time.monotonic() - start
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
    texts = [t for (t,) in ws.reader.conn.execute(
        "SELECT CASE WHEN header = '' THEN text ELSE header || char(10) || text END FROM chunks GROUP BY text_hash")]
    from sentence_transformers import SentenceTransformer

    load_start = time.monotonic()
    model = SentenceTransformer(ws.spec.load_path, device=args.device)
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
        print(f"model alone (same texts, sorted, batch {batch_size}, loaded): {rate:.1f} chunks/s")
    print(f"ratio pipeline / best model: {(n / pipeline_s) / best:.2f}")
    print(f"ratio pipeline / best model with its load time: {(n / pipeline_s) / (n / (n / best + load_s)):.2f}")
    print(f"no-change reindex (whole process): {nochange_s:.2f} s")
    shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
