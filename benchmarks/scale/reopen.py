"""Reopening a kernel-sized index (issue #28): `fathom index --no-embed` over
an index that is current (nothing changed), then after 1,000 files changed on
disk as a branch switch changes them (new contents and mtimes, spread over the
tree), then after they change back. Each is a whole CLI process: start-up, the
walk, the stat comparison of every file, and phase 1 for what changed.

    .venv/bin/python -m benchmarks.scale.reopen --work /tmp/kernel [--rounds 3] [--changed 1000] [--lexicon]
        [--before /tmp/before/server --before-cache /tmp/kernel/cache-old]

Runs on the tree and index `benchmarks.scale.phase1` left in WORK; the files
it edits are put back as they were at the end. With --lexicon, the lexicon of
the index (search/lexicon.py: what a large index's searches rank words by) is
built first, then caught up after each run, timed: what a server does in the
background after such a run, FTS5 answering meanwhile.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .kernel_tree import PACKAGE


def fathom_index(tree: Path, cache: Path, server: Path | None = None) -> tuple[float, str]:
    """`fathom index --no-embed TREE` with its index in CACHE; `server`: another checkout's code."""
    env = dict(os.environ, FATHOM_CACHE_DIR=str(cache))
    if server is not None:
        env["PYTHONPATH"] = str(server)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fathom", "index", "--no-embed", str(tree)],
                          env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"fathom index failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    summary = re.findall(r"[\d,]+ files, [\d,]+ chunks.*", proc.stdout + proc.stderr)
    return elapsed, summary[-1] if summary else ""


def lexicon_catch_up(cache: Path) -> str:
    """The lexicon brought up to the index in a process of its own (as a server's would be)."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                           "from benchmarks.scale.lexical import build_lexicon; from fathom.store import Store; "
                           "print(build_lexicon(Store(Path(sys.argv[1]), readonly=True)))",
                           str(next(cache.glob("*/index.db")))], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the lexicon failed:\n{proc.stderr[-2000:]}")
    return proc.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--tree", type=Path, help="another tree than the kernel's (its index in WORK/cache)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--lexicon", action="store_true", help="also time the lexicon's catch-up after each run")
    parser.add_argument("--before", type=Path, help="another checkout's server/ folder, run after each run here")
    parser.add_argument("--before-cache", type=Path, help="its copy of the index (an older schema's, say)")
    args = parser.parse_args()
    tree = args.tree or args.work / PACKAGE
    cache = args.work / "cache"
    sources = sorted(p for p in tree.rglob("*") if p.suffix in (".c", ".h") and p.is_file())
    chosen = random.Random(28).sample(sources, args.changed)
    originals = {p: (p.read_bytes(), p.stat()) for p in chosen}
    try:
        fathom_index(tree, cache)  # whatever the last run left undone
        runs = [("", cache, None)]
        if args.before:
            fathom_index(tree, args.before_cache, args.before)
            runs.append((" (before)", args.before_cache, args.before))
        times: dict[str, list[float]] = {}

        def timed(step: str, round_no: int) -> None:
            for suffix, where, server in (runs if round_no % 2 else runs[::-1]):  # alternated
                elapsed, summary = fathom_index(tree, where, server)
                times.setdefault(step + suffix, []).append(elapsed)
                print(f"round {round_no}: {step}{suffix}: {elapsed:.2f} s ({summary})", flush=True)
            if args.lexicon:
                print(f"  lexicon: {lexicon_catch_up(cache)}", flush=True)

        if args.lexicon:
            print(f"lexicon: {lexicon_catch_up(cache)}", flush=True)
        for round_no in range(1, args.rounds + 1):
            timed("nothing changed", round_no)
            for path, (data, _) in originals.items():
                path.write_bytes(data + f"\n/* branch b, round {round_no} */\n".encode())
            timed(f"{len(chosen):,} files switched", round_no)
            for path, (data, st) in originals.items():
                path.write_bytes(data)
            timed("switched back", round_no)
    finally:
        for path, (data, st) in originals.items():
            path.write_bytes(data)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    print("medians: " + ", ".join(f"{step} {statistics.median(values):.2f} s" for step, values in times.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
