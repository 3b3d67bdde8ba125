"""A stage's training pairs kept to those the words half of Fathom's search gets wrong.

    .venv/bin/python -m benchmarks.model.hard_for_words /tmp/fathom-model3/pairs-run6.jsonl \\
        --packages /tmp/fathom-model3/pairs.jsonl --min-rank 2 --out /tmp/fathom-model3/pairs-words2.jsonl

Through Fathom a model's cosine is fused with BM25 over the code's words (`words.py`),
and where the words already put the right code first the model's ranking adds
little: a question BM25 answers well is answered whatever the model says. This keeps
the training pairs whose right code BM25 ranks at `--min-rank` or lower among all the
code of its package (every pair of that package in `--packages`, the whole mined
file, not the stage's capped sample), so a stage spends its steps on what the model
must carry alone. The validation pairs are kept as they are.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.model.words import words_ranks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, help="the stage's training file")
    parser.add_argument("--packages", type=Path, required=True, help="mine.py's whole pairs.jsonl")
    parser.add_argument("--min-rank", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with open(args.pairs, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    codes_of: dict[str, dict[str, int]] = defaultdict(dict)
    with open(args.packages, encoding="utf-8") as f:
        for record in map(json.loads, f):
            codes = codes_of[record["source"]]
            codes.setdefault(record["code"], len(codes))
    wanted: dict[str, list[int]] = defaultdict(list)
    for i, record in enumerate(records):
        if record["split"] == "train":
            wanted[record["source"]].append(i)
    rank = {}
    for source, members in wanted.items():
        codes = codes_of[source]
        for record in (records[i] for i in members):
            codes.setdefault(record["code"], len(codes))
        found = words_ranks([records[i]["query"] for i in members], list(codes),
                            [codes[records[i]["code"]] for i in members])
        rank.update(zip(members, found))
    kept = [r for i, r in enumerate(records) if r["split"] != "train" or rank[i] >= args.min_rank]
    with open(args.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    histogram = Counter(min(r, 11) for r in rank.values())
    print("BM25 rank of the right code: " + ", ".join(
        f"{'>10' if r == 11 else r}: {histogram[r]}" for r in sorted(histogram)))
    train = [r for r in kept if r["split"] == "train"]
    print(f"{len(train)} of {len(rank)} training pairs kept: "
          + ", ".join(f"{lang} {n}" for lang, n in Counter(r["language"] for r in train).most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
