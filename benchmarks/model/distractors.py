"""The wrong answers a search of a project meets: every other chunk of the files
that hold a package's pairs, in the form the model reads them.

    .venv/bin/python -m benchmarks.model.distractors /tmp/rebuild/pairs-question.jsonl \\
        --sources /tmp/rebuild/sources --out /tmp/rebuild/distractors.json --per-package 1000

A pair's code is the first window of a documented definition; in an index it is
ranked among its class's chunk, its undocumented neighbours, the other windows of
long definitions and the module's own lines, none of which any pair holds. For
each package, the chunks of the files its pairs come from (docs removed as the
miner removes them), less every pair's code, deduplicated, and a seeded sample of
`--per-package` where there are more. `query_tower.py --distractors` ranks each
question against them as well as its package's codes.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

SEED = 38


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--sources", type=Path, required=True, help="the miner's sources folder (mine.py --work's)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-package", type=int, default=1000)
    args = parser.parse_args()

    from benchmarks.model.mine import fetch
    from benchmarks.model.pairs import Miner
    from benchmarks.model.sources import earlier_sources

    files: dict[str, set[str]] = {}
    answers: set[str] = set()
    with open(args.pairs, encoding="utf-8") as f:
        for line in f:
            pair = json.loads(line)
            files.setdefault(pair["source"], set()).add(pair["path"])
            answers.add(pair["code"])
    earlier = earlier_sources()
    miners = {False: Miner(), True: Miner(every_language=True)}  # each package read as mine.py read it
    started = time.monotonic()
    found: dict[str, list[str]] = {}
    for source in sorted(files):
        kind, spec = source.split(" ", 1)
        tree = fetch(kind, spec, args.sources)
        codes: dict[str, None] = {}
        for relpath in sorted(files[source]):
            try:
                text = (tree / relpath).read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            codes.update((c, None) for c in miners[source not in earlier].file_codes(relpath, text)
                         if c not in answers)
        kept = list(codes)
        if len(kept) > args.per_package:
            kept = random.Random(f"{SEED} {source}").sample(kept, args.per_package)
        found[source] = kept
        print(f"{source}: {len(codes)} chunks besides the pairs' codes, {len(kept)} kept", flush=True)
    args.out.write_text(json.dumps(found))
    print(f"{sum(len(v) for v in found.values())} distractors of {len(found)} packages "
          f"in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
