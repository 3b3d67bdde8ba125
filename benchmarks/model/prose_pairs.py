"""Heading → section pairs from the training packages' Markdown, for the question
encoder's prose term (`query_tower.py --prose`).

    .venv/bin/python -m benchmarks.model.prose_pairs /tmp/rebuild/pairs-question.jsonl \\
        --sources /tmp/rebuild/sources --out /tmp/rebuild/prose.json

Where the question encoder reads questions, a search ranks Markdown against the
base model's own reading of the question and code against the encoder's, two
cosines merged by value (10n). Training it against code alone lets its cosines
with code rise past the sections a heading asks for. These pairs are the prose
eval's, drawn from the training packages instead of its projects: each heading
of level 2 to 4 over a section of at least `MIN_SECTION_WORDS` words is a
question, and its section is read as the index holds it with the heading's words
replaced ("Section N"), so the words asked are not in the answer. Every section
of a package (short ones too) is kept as a candidate; a package takes the split
its code pairs have.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from benchmarks.quality.eval_docs import LEFT_OUT, MIN_QUERY_WORDS, MIN_SECTION_WORDS, headings, question

SEED = 41


def package_prose(tree: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """A package's Markdown sections as the model reads them, and its questions
    with the place of each one's section."""
    from fathom.index.policy import is_test_code, is_vendored

    sections: list[str] = []
    questions: list[tuple[str, int]] = []
    for path in sorted(tree.rglob("*.md")):
        rel = path.relative_to(tree).as_posix()
        if not path.is_file() or path.is_symlink() or is_vendored(rel) or is_test_code(rel) or LEFT_OUT.search(rel):
            continue
        try:
            lines = path.read_text("utf-8").split("\n")
        except (OSError, UnicodeDecodeError):
            continue
        marks = headings(lines)
        for n, (line, level, heading) in enumerate(marks):
            end = (marks[n + 1][0] if n + 1 < len(marks) else len(lines)) - 1
            body = "\n".join(lines[line + 1:end + 1])
            if not body.strip():
                continue
            name = f"Section {n + 1}"
            # The chunker's form: the section's title, then its lines from the heading on.
            sections.append(f"{name}\n{'#' * level} {name}\n{body}")
            asked = question(heading)
            if 2 <= level <= 4 and len(asked.split()) >= MIN_QUERY_WORDS and len(body.split()) >= MIN_SECTION_WORDS:
                questions.append((asked, len(sections) - 1))
    return sections, questions


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, help="the code pairs whose packages (and splits) to read")
    parser.add_argument("--sources", type=Path, required=True, help="the miner's sources folder (mine.py --work's)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-package", type=int, default=200, help="questions kept of a package, seeded")
    args = parser.parse_args()

    from benchmarks.model.mine import fetch

    splits: dict[str, str] = {}
    with open(args.pairs, encoding="utf-8") as f:
        for line in f:
            pair = json.loads(line)
            splits[pair["source"]] = pair.get("split", "train")
    started = time.monotonic()
    found: dict[str, dict] = {}
    for source in sorted(splits):
        kind, spec = source.split(" ", 1)
        sections, questions = package_prose(fetch(kind, spec, args.sources))
        if not questions:
            continue
        if len(questions) > args.per_package:
            questions = random.Random(f"{SEED} {source}").sample(questions, args.per_package)
        found[source] = {"split": splits[source], "sections": sections,
                         "questions": [{"question": q, "section": s} for q, s in questions]}
        print(f"{source}: {len(questions)} questions over {len(sections)} sections", flush=True)
    args.out.write_text(json.dumps(found))
    asked = {split: sum(len(p["questions"]) for p in found.values() if p["split"] == split)
             for split in ("train", "validation")}
    print(f"{asked['train']} training and {asked['validation']} validation questions of {len(found)} packages "
          f"in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
