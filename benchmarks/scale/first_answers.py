"""The first answers of a kernel-sized tree opened cold in the server (issue
#28): a real `fathom serve` on stdio, no index; right after `initialized` the
client opens one file (`textDocument/didOpen`), as an editor restoring its tabs
does. Timed from `initialized`:

- the first `workspace/symbol` answer, and the first that holds a function of
  the open file (asked every 0.1 s);
- every chunk of the open file holding a vector, then every chunk of its folder
  (read from the index, read-only, every second);
- `fathom/search` for a sentence of the open file's documentation returning the
  function it documents among its first five hits, by meaning.

    .venv/bin/python -m benchmarks.scale.first_answers --work /tmp/kernel [--timeout 900]
"""
from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
from pathlib import Path

from benchmarks.harness import fathom_env, serve

from .kernel_tree import kernel_tree

OPEN_FILE = "kernel/sched/completion.c"
SYMBOL_QUERY = "wait_for_completion"
# The documentation of complete_all() in that file, reworded as a user would ask.
QUESTION = "wake up every thread waiting on this completion event"
EXPECTED = "complete_all"


def vectors_missing(database: Path, prefix: str, exact: bool) -> int | None:
    """Chunks under a path (a file, or a folder's direct files) without a vector; None before any exist."""
    import apsw

    try:
        conn = apsw.Connection(str(database), flags=apsw.SQLITE_OPEN_READONLY)
    except apsw.Error:
        return None
    try:
        if exact:
            where, args = "f.path = ?", (prefix,)
        else:
            where, args = "f.path LIKE ? AND f.path NOT LIKE ?", (prefix + "/%", prefix + "/%/%")
        total, missing = conn.execute(
            "SELECT count(*), coalesce(sum(NOT EXISTS (SELECT 1 FROM embedded e WHERE e.text_hash = c.text_hash)), 0)"
            f" FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.embed AND {where}", args).fetchall()[0]
        return None if total == 0 else missing
    except apsw.Error:
        return None
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--tree", type=Path)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    tree = (args.tree or kernel_tree(args.work)).resolve()
    cache = args.work / "first-answers-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    client = serve(fathom_env(cache))
    marks: dict[str, float] = {}
    try:
        client.request("initialize", {"processId": os.getpid(), "rootUri": tree.as_uri(),
                                      "capabilities": {"window": {"workDoneProgress": True}}}, timeout=120)
        client.notify("initialized", {})
        start = time.monotonic()
        opened = tree / OPEN_FILE
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": opened.as_uri(), "languageId": "c", "version": 1, "text": opened.read_text(errors="replace")}})

        def symbols() -> None:
            while time.monotonic() - start < args.timeout:
                found = client.request("workspace/symbol", {"query": SYMBOL_QUERY}, timeout=120)
                marks.setdefault("first workspace/symbol answer", time.monotonic() - start)
                if any(s["name"] == SYMBOL_QUERY for s in found or []):
                    marks["workspace/symbol finds the open file's function"] = time.monotonic() - start
                    return
                time.sleep(0.1)

        asker = threading.Thread(target=symbols, daemon=True)
        asker.start()
        database = None
        folder = OPEN_FILE.rpartition("/")[0]
        while time.monotonic() - start < args.timeout:
            database = database or next(cache.glob("*/index.db"), None)
            if database is not None:
                if "open file embedded" not in marks and vectors_missing(database, OPEN_FILE, True) == 0:
                    marks["open file embedded"] = time.monotonic() - start
                if "open file embedded" in marks and "search finds it by meaning" not in marks:
                    hits = client.request("fathom/search", {"query": QUESTION, "limit": 5}, timeout=120)["results"]
                    if any(h["name"] == EXPECTED and h["path"] == OPEN_FILE for h in hits):
                        marks["search finds it by meaning"] = time.monotonic() - start
                if "folder embedded" not in marks and vectors_missing(database, folder, False) == 0:
                    marks["folder embedded"] = time.monotonic() - start
            if len(marks) == 5:
                break
            time.sleep(1.0)
        asker.join(5)
        status = client.request("fathom/status", {})["workspaces"][0]
        for name, seconds in sorted(marks.items(), key=lambda item: item[1]):
            print(f"{name}: {seconds:.1f} s after initialized", flush=True)
        print(f"meanwhile: {status['files']:,} files, {status['chunks']:,} chunks, {status['pending']:,} waiting for "
              f"vectors, at {time.monotonic() - start:.0f} s")
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
