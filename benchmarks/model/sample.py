"""The training file of a later stage: new packages' pairs, with a little of the old ones.

    .venv/bin/python -m benchmarks.model.sample /tmp/fathom-model/pairs.jsonl \\
        --new benchmarks/model/train_sources_v3.txt --out /tmp/fathom-model/pairs-v3.jsonl

A stage that starts from a trained model spends its CPU hours best on pairs it has never
seen, so it takes up to `--cap-new` training pairs of each package the `--new` sources file
names, and `--cap-old` of each earlier one, enough that the languages the new packages lack
(Rust, C) are not forgotten. A cap also keeps one large package (sympy, three.js) from
filling a language. The validation pairs are the earlier packages' only: the curve then
starts where the previous stage's ended and the two can be compared. Seeded.

`--exclude` names earlier stages' training files: the new packages' pairs those stages
trained on are left out, so a further stage over the same packages reads only pairs it has
never seen (the old packages' few are drawn afresh; every earlier model read them).
"""
from __future__ import annotations

import argparse
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.model.sources import parse_sources


def pair_key(record: dict) -> tuple[str, str, str]:
    return record["source"], record["query"], record["code"]


def sample_pairs(records: list[dict], new_sources: set[str], cap_new: int, cap_old: int,
                 seed: int, seen: frozenset[tuple[str, str, str]] = frozenset()) -> list[dict]:
    """The sampled training records, package by package, then the old validation ones.

    `seen` holds the keys of pairs an earlier stage trained on; the new packages' are skipped."""
    by_source: dict[str, list[dict]] = defaultdict(list)
    validation = []
    for record in records:
        if record["split"] == "validation":
            if record["source"] not in new_sources:
                validation.append(record)
        elif record["source"] in new_sources and pair_key(record) in seen:
            continue
        else:
            by_source[record["source"]].append(record)
    rng = random.Random(seed)
    train = []
    for source in sorted(by_source):
        records_of = by_source[source]
        cap = cap_new if source in new_sources else cap_old
        train += records_of if len(records_of) <= cap else rng.sample(records_of, cap)
    return train + validation


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, help="mine.py's pairs.jsonl, mined from every sources file")
    parser.add_argument("--new", type=Path, required=True, help="the sources file of this stage's packages")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cap-new", type=int, default=500)
    parser.add_argument("--cap-old", type=int, default=80)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--exclude", type=Path, nargs="*", default=[],
                        help="earlier stages' training files: their new-package pairs are left out")
    args = parser.parse_args()
    new_sources = {f"{kind} {spec}" for kind, spec in parse_sources(args.new)}
    with open(args.pairs, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    seen = set()
    for earlier in args.exclude:
        with open(earlier, encoding="utf-8") as f:
            seen.update(pair_key(r) for r in map(json.loads, f) if r["split"] == "train")
    sampled = sample_pairs(records, new_sources, args.cap_new, args.cap_old, args.seed, frozenset(seen))
    with open(args.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in sampled)
    train = [r for r in sampled if r["split"] == "train"]
    languages = Counter(r["language"] for r in train)
    print(f"{len(train)} training pairs, {len(sampled) - len(train)} for validation: "
          + ", ".join(f"{lang} {n}" for lang, n in languages.most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
