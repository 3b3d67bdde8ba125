"""Phase 1 on a kernel-sized tree (issue #28): `fathom index --no-embed` against
`ctags -R`, run alternately, with the peak resident memory of every process of
each (Fathom's chunk workers included) and the index's size on disk.

    .venv/bin/python -m benchmarks.scale.phase1 --work /tmp/kernel [--rounds 1] [--tree TREE]

Without `--tree` it runs on the Linux kernel (`kernel_tree.py` fetches it). The
index of the last Fathom run is kept in `WORK/cache` (the reopen and symbol
benchmarks start from it).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from .kernel_tree import kernel_tree


def peak_rss_of(process: subprocess.Popen) -> tuple[int, float]:
    """Waits for the process; returns its exit code and the peak of the summed
    RSS of it and its descendants, sampled every 0.2 s."""
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        total = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            members = []
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                pass
        peak = max(peak, total)
        time.sleep(0.2)
    return process.returncode, peak / 2**20


def run_ctags(tree: Path, scratch: Path) -> dict:
    tags = scratch / "tags"
    start = time.perf_counter()
    code, peak = peak_rss_of(subprocess.Popen(["ctags", "-R", "-f", str(tags), str(tree)], stderr=subprocess.DEVNULL))
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"ctags failed ({code})")
    with open(tags, "rb") as f:
        count = sum(1 for line in f if not line.startswith(b"!_TAG_"))
    tags.unlink()
    return {"wall_s": elapsed, "peak_rss_mb": peak, "tags": count}


def run_fathom(tree: Path, cache: Path) -> dict:
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    env = dict(os.environ, FATHOM_CACHE_DIR=str(cache))
    log = cache.parent / "phase1.log"
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "fathom", "index", "--no-embed", str(tree)],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
        code, peak = peak_rss_of(process)
    elapsed = time.perf_counter() - start
    text = log.read_text(errors="replace").replace("\0", "")
    if code != 0:
        raise SystemExit(f"fathom index failed ({code}):\n{text[-2000:]}")
    files, chunks = (int(n.replace(",", "")) for n in re.search(r"([\d,]+) files, ([\d,]+) chunks", text).groups())
    size = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    return {"wall_s": elapsed, "peak_rss_mb": peak, "files": files, "chunks": chunks, "index_bytes": size}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--tree", type=Path, help="another tree than the kernel's")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("ctags") is None:
        raise SystemExit("universal-ctags is not installed (Debian: apt install universal-ctags)")
    tree = args.tree or kernel_tree(args.work)
    ctags_runs, fathom_runs = [], []
    for round_no in range(1, args.rounds + 1):
        c = run_ctags(tree, args.work)
        ctags_runs.append(c)
        print(f"round {round_no}: ctags -R {c['wall_s']:.1f} s, peak RSS {c['peak_rss_mb']:.0f} MB, {c['tags']:,} tags",
              flush=True)
        f = run_fathom(tree, args.work / "cache")
        fathom_runs.append(f)
        print(f"round {round_no}: fathom index --no-embed {f['wall_s']:.1f} s, peak RSS of all its processes "
              f"{f['peak_rss_mb']:.0f} MB; {f['files']:,} files, {f['chunks']:,} chunks; index "
              f"{f['index_bytes'] / 2**20:.0f} MB = {f['index_bytes'] / f['files'] / 1024:.1f} KB a file, "
              f"{f['index_bytes'] / max(1, f['chunks']):.0f} B a chunk", flush=True)
    ctags_s = statistics.median(r["wall_s"] for r in ctags_runs)
    fathom_s = statistics.median(r["wall_s"] for r in fathom_runs)
    print(f"median: ctags {ctags_s:.1f} s, Fathom {fathom_s:.1f} s = {fathom_s / ctags_s:.2f}x ctags; "
          f"peak RSS {max(r['peak_rss_mb'] for r in fathom_runs):.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
