"""Rebuild the shipped fathom-code-minilm-v3 from its two sources lists, every stage in order.

    .venv/bin/python -m benchmarks.model.rebuild --work /tmp/fathom-rebuild --threads 2

The recipe the shipped folder was trained by, one command: mine the pairs of both
lists; `sample.py`'s two picks of the second list's pairs (one for the stage, one for
the question encoder), the chunks a search ranks the second pick's code among
(`distractors.py`) and its packages' Markdown headings over their sections
(`prose_pairs.py`): the last steps that read the mined sources; an epoch of
length-cut batches and then one of single-package batches over the first list's
pairs (v1, v2); a stage over the first pick (v3), exported in float16; then the
question encoder, trained against that model's own vectors over the second pick,
its distractors and its headings, whose layers are put beside it. Every step is
seeded, its output kept in WORK, and a step whose output is there is not run again:
run it again after a stop and it carries on (the training stages from their last
checkpoint). Each step's wall time goes to WORK/times.csv.

The model is written to WORK/fathom-code-minilm-v3, never over the shipped folder;
`validate.py` compares the two. Mining needs the registries (PyPI, npm, Debian with a
`deb-src` line for the Java and C source packages); nothing else reaches the network.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.model.sources import parse_sources

HERE = Path(__file__).parent
FIRST_LIST = HERE / "train_sources.txt"
SECOND_LIST = HERE / "train_sources_v3.txt"
MODEL_NAME = "fathom-code-minilm-v3"
ORIGINAL = "all-MiniLM-L6-v2"
PROSE_STEP = "prose pairs"  # the last step that reads the mined sources: the rest need the pairs and these alone
PROSE_WEIGHT = 1.0  # the question encoder's heading term, against its code term's 1 (RESULTS 10v)
# The validation cadence costs time, never changes a step's weights.
VALIDATION = ["--validate-every", "150", "--checkpoint-every", "100", "--validation-size", "400"]


@dataclass(frozen=True)
class Step:
    name: str
    done: Path  # the step's output; the step is skipped once this exists
    command: list[str]
    marker: bool = False  # `done` is a file this script writes after the step, which leaves no single output


def module(name: str, *args: object) -> list[str]:
    return [sys.executable, "-m", f"benchmarks.model.{name}", *map(str, args)]


def recipe(work: Path, threads: int, device: str = "cpu", base: str = ORIGINAL) -> list[Step]:
    """`base`: the original model, by name or folder (`devkit.py` carries a copy)."""
    pairs, first = work / "pairs.jsonl", work / "pairs-first-list.jsonl"
    stage3, stage4 = work / "pairs-stage3.jsonl", work / "pairs-question.jsonl"
    distractors, prose = work / "distractors.json", work / "prose.json"
    model = work / MODEL_NAME
    train = ["--epochs", "1", "--batch", "64", "--bf16", "--resume", "--threads", str(threads), "--device", device,
             *VALIDATION]
    return [
        Step("mine", work / "mined", module("mine", FIRST_LIST, SECOND_LIST, "--work", work), marker=True),
        Step("first list", first, module("rebuild", "--first-list", pairs, first)),
        Step("sample the second list", stage3,
             module("sample", pairs, "--new", SECOND_LIST, "--out", stage3, "--cap-new", 500, "--cap-old", 80,
                    "--seed", 23)),
        Step("sample the question pairs", stage4,
             module("sample", pairs, "--new", SECOND_LIST, "--out", stage4, "--cap-new", 1000, "--cap-old", 80,
                    "--seed", 24, "--exclude", stage3)),
        Step("distractors", distractors,
             module("distractors", stage4, "--sources", work / "sources", "--out", distractors,
                    "--per-package", 1000)),
        Step(PROSE_STEP, prose, module("prose_pairs", stage4, "--sources", work / "sources", "--out", prose)),
        Step("v1: length-cut batches", work / "run1" / "model",
             module("train", first, "--out", work / "run1", "--base", base, "--lr", "3e-5", *train)),
        Step("v2: single-package batches", work / "run2" / "model",
             module("train", first, "--out", work / "run2", "--base", work / "run1" / "model",
                    "--batching", "source", "--lr", "2e-5", *train)),
        Step("v3: the second list's packages", work / "run3" / "model",
             module("train", stage3, "--out", work / "run3", "--base", work / "run2" / "model",
                    "--batching", "source", "--lr", "2e-5", *train)),
        Step("export", model / "model.safetensors", module("export", work / "run3" / "model", model, "--base", base)),
        Step("question encoder", work / "question" / "done",
             module("query_tower", stage4, "--out", work / "question", "--base", model, "--batch", 64,
                    "--lr", "1e-4", "--epochs", 2, "--validate-every", 139, "--threads", threads,
                    "--distractors", distractors, "--prose", prose, "--prose-weight", PROSE_WEIGHT,
                    "--device", device),
             marker=True),
        Step("question layers", model / "question_layers.safetensors",
             module("question_layers", work / "question" / "query-model", model)),
    ]


def first_list_pairs(pairs: Path, out: Path) -> int:
    """The first list's pairs, as mining that list alone writes them.

    `mine.py` deduplicates in the order the lists name their packages, so the first
    list's pairs are the same whether the second list was mined after it or not."""
    first = {f"{kind} {spec}" for kind, spec in parse_sources(FIRST_LIST)}
    kept = 0
    partial = out.with_suffix(".partial")
    with open(pairs, encoding="utf-8") as f, open(partial, "w", encoding="utf-8") as o:
        for line in f:
            if json.loads(line)["source"] in first:
                o.write(line)
                kept += 1
    partial.rename(out)
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fathom-rebuild"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--until", help="stop after the step of this name")
    parser.add_argument("--device", default="cpu", help="where the training steps run: cpu, or cuda")
    parser.add_argument("--base", default=ORIGINAL, help="the original model: its name, or a folder holding it")
    parser.add_argument("--first-list", nargs=2, type=Path, metavar=("PAIRS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_list:
        print(f"{first_list_pairs(*args.first_list)} pairs of {FIRST_LIST.name}")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    times = args.work / "times.csv"
    new = not times.exists()
    with open(times, "a", newline="") as log:
        writer = csv.writer(log)
        if new:
            writer.writerow(["step", "seconds"])
        for step in recipe(args.work, args.threads, args.device, args.base):
            if step.done.exists():
                print(f"{step.name}: done ({step.done})", flush=True)
            else:
                print(f"{step.name}: {' '.join(step.command)}", flush=True)
                started = time.monotonic()
                subprocess.run(step.command, check=True)
                if step.marker:
                    step.done.touch()
                writer.writerow([step.name, f"{time.monotonic() - started:.0f}"])
                log.flush()
            if step.name == args.until:
                break
    print(f"{args.work / MODEL_NAME}: compare it with the shipped one by "
          f"`validate.py {args.work / 'pairs-question.jsonl'} {MODEL_NAME} {args.work / MODEL_NAME}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
