"""Mine the training pairs of Fathom's own model from real packages.

    .venv/bin/python -m benchmarks.model.mine benchmarks/model/train_sources.txt \
        [benchmarks/model/train_sources_v3.txt] --work /tmp/fathom-model

Each line of a sources file names one package from a registry: `pypi NAME==VERSION`
(its wheel, whose .py files are the package's source), `npm NAME@VERSION` (its tarball), `deb PACKAGE` (a Debian binary package
that ships sources: `golang-*-dev`, `librust-*-dev`), `src PACKAGE` (a Debian source package's
upstream tarball, for Java and C; apt needs a `deb-src` line). The packages of the
earlier lists (`sources.EARLIER_LISTS`) are read for DOC_COMMENT's languages, as
they were first mined; every later one for every language the evals read. Each is fetched once into
WORK/sources, unpacked, and mined (`pairs.py`); the pairs go to WORK/pairs.jsonl,
one JSON object a line, deduplicated by question and by code in the order the files
list their sources (so a later file never changes an earlier file's pairs), with a `split` field:
about one source in ten, chosen by a hash of its name, is `validation`, the rest `train`.

Never mined: the quality evals' projects and the Python standard library (the
evals must stay clean), nor anything the sources file does not name.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

from benchmarks.model.pairs import Miner, tree_pairs
from benchmarks.model.sources import earlier_sources, parse_sources

VALIDATION_SHARE = 10  # one source in this many


def fetch(kind: str, spec: str, into: Path) -> Path:
    """The unpacked source tree of one package (fetched once)."""
    safe = spec.replace("/", "_").replace("@", "_at_").replace("=", "_")
    tree = into / f"{kind}-{safe}"
    if tree.exists():
        return tree
    download = into / f".download-{safe}"
    shutil.rmtree(download, ignore_errors=True)
    download.mkdir(parents=True)
    if kind == "pypi":
        # The wheel: its .py files are the package's source, and fetching it builds
        # nothing (an sdist's metadata step compiled Cython for sqlalchemy).
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:",
                        "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "--implementation", "cp",
                        "-d", str(download), spec], check=True, capture_output=True)
    elif kind == "npm":
        subprocess.run(["npm", "pack", "--silent", spec], cwd=download, check=True, capture_output=True)
    elif kind == "src":
        # The upstream tarball is all that is wanted: a Debian part missing from the
        # mirror (apt then exits 100) does not matter when the .orig arrived.
        done = subprocess.run(["apt-get", "source", "--download-only", "-q", spec], cwd=download,
                              capture_output=True)
        if not any(".orig" in p.name for p in download.iterdir()):
            raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    else:
        subprocess.run(["apt-get", "download", "-q", spec], cwd=download, check=True, capture_output=True)
    # A source package's upstream code is its largest .orig tarball (the others are Debian's or extras).
    archive = max((p for p in download.iterdir() if kind != "src" or ".orig" in p.name), key=lambda p: p.stat().st_size)
    partial = into / f".unpack-{safe}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    if archive.suffix == ".deb":
        subprocess.run(["dpkg-deb", "-x", str(archive), str(partial)], check=True)
    elif archive.suffix in (".zip", ".whl"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(partial)
    else:
        with tarfile.open(archive) as t:
            t.extractall(partial, filter="data")
    partial.rename(tree)
    shutil.rmtree(download, ignore_errors=True)
    return tree


def split_of(spec: str) -> str:
    digest = int(hashlib.sha256(spec.encode()).hexdigest(), 16)
    return "validation" if digest % VALIDATION_SHARE == 0 else "train"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", type=Path, nargs="+", help="sources files, mined in this order")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fathom-model"))
    args = parser.parse_args()
    sources = [source for path in args.sources for source in parse_sources(path)]
    (args.work / "sources").mkdir(parents=True, exist_ok=True)
    earlier = earlier_sources()
    miners = {False: Miner(), True: Miner(every_language=True)}
    seen_queries: set[str] = set()
    seen_code: set[str] = set()
    counts: dict[str, int] = {}
    started = time.monotonic()
    with open(args.work / "pairs.jsonl", "w", encoding="utf-8") as out:
        for kind, spec in sources:
            try:
                tree = fetch(kind, spec, args.work / "sources")
            except (subprocess.CalledProcessError, StopIteration, OSError, tarfile.TarError) as exc:
                print(f"{kind} {spec}: not fetched ({exc})", file=sys.stderr)
                continue
            kept = 0
            source = f"{kind} {spec}"
            for pair in tree_pairs(miners[source not in earlier], source, tree):
                key = pair.query.lower()
                if key in seen_queries or pair.code_hash in seen_code:
                    continue  # the same doc or the same code from another file or package
                seen_queries.add(key)
                seen_code.add(pair.code_hash)
                out.write(json.dumps({**pair.to_json(), "split": split_of(spec)}) + "\n")
                kept += 1
                counts[pair.language] = counts.get(pair.language, 0) + 1
            print(f"{kind} {spec}: {kept} pairs ({split_of(spec)})", flush=True)
    total = sum(counts.values())
    print(f"{total} pairs in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"{lang} {n}" for lang, n in sorted(counts.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
