"""When does a project's own code have all its vectors, and when its tests?

    .venv/bin/python -m benchmarks.throughput.own_code_first TREE [--rounds N] [--before SERVER_DIR]

Runs a cold `fathom index TREE` (fresh cache directory) and, from a read-only
connection beside it, polls the index twice a second for the texts still
without a vector, split into test code and the rest by this checkout's
`is_test_code`. Prints the seconds from start until each group was complete.
`--before` runs another checkout's `server/` directory first in each round, on
the same tree, for a comparison taken in the same minutes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.throughput.phase1_vs_ctags import HERE_SERVER, checkout_arguments

from fathom.index.policy import is_test_code

def pending(db: Path) -> tuple[int, int] | None:
    """(own code, test code) texts without a vector, or None before phase 1 has written any."""
    from fathom.store import Store, StoreError

    try:
        store = Store(db, readonly=True)
    except (StoreError, OSError):
        return None
    try:
        if not store.counts().chunks:
            return None
        own = tests = 0
        for path, n in store.pending_by_path().items():
            if is_test_code(path):
                tests += n
            else:
                own += n
        return own, tests
    except Exception:  # noqa: BLE001 - the server is writing its first rows: ask again
        return None
    finally:
        store.close()


def one_run(tree: str, server_dir: Path) -> dict[str, float]:
    cache = tempfile.mkdtemp(prefix="fathom-order-")
    env = dict(os.environ, XDG_CACHE_HOME=cache, PYTHONPATH=str(server_dir))
    probe_env = dict(os.environ, XDG_CACHE_HOME=cache)
    try:
        db = Path(subprocess.run(
            [sys.executable, "-c",
             "import sys, pathlib; from fathom.config import index_dir; print(index_dir(pathlib.Path(sys.argv[1])))",
             tree],
            env=dict(probe_env, PYTHONPATH=str(HERE_SERVER)), capture_output=True, text=True, check=True,
        ).stdout.strip()) / "index.db"
        start = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "fathom", "index", tree], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        done: dict[str, float] = {}
        while True:
            finished = proc.poll() is not None
            counts = pending(db) if db.exists() else None
            now = time.monotonic() - start
            if counts is not None:
                own, tests = counts
                if own == 0:
                    done.setdefault("own code", now)
                if own == 0 and tests == 0:
                    done.setdefault("everything", now)
            if finished:
                done.setdefault("own code", now)
                done.setdefault("everything", now)
                done["process exit"] = now
                return done
            time.sleep(0.5)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    args, sides = checkout_arguments(__doc__, rounds=1)
    for round_no in range(1, args.rounds + 1):
        for name, server_dir in sides:
            done = one_run(args.tree, server_dir)
            print(f"round {round_no}: {name}: own code fully embedded after {done['own code']:.1f} s, "
                  f"everything after {done['everything']:.1f} s (process exit {done['process exit']:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
