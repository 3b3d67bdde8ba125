"""Rebuild the shipped fathom-code-minilm-v3 from its sources lists, every stage in order.

    .venv/bin/python -m benchmarks.model.rebuild --work /tmp/fathom-rebuild --threads 2 [--target v4]

The recipe the shipped folder was trained by, one command: mine the pairs of every
list (the earlier two as they were first mined: `sources.EARLIER_LISTS`); `sample.py`'s
two picks of the second list's pairs (one for the stage, one for the question
encoder), drawn from the earlier lists' pairs alone, the chunks a search ranks the
question pairs' code among (`distractors.py`) and their packages' Markdown headings
over their sections (`prose_pairs.py`): the last steps that read the mined sources;
an epoch of length-cut batches and then one of single-package batches over the first
list's pairs (v1, v2); a stage over the first pick (v3), exported in float16; then
the question encoder, trained against that model's own vectors over the second
pick, its distractors and its headings, whose layers are put beside it.

`--target v4` is the candidate of the third list (Haskell, Solidity, Lua, Ruby, PHP,
C#, C++): after v3's code side, a stage over a pick of the third list's packages with a
little of every earlier one, then the question encoder over v3's question pairs and
up to QUESTIONS_CAP_NEW of each third-list package (RESULTS 10y).

Every step is seeded, its output kept in WORK, and a step whose output is there is
not run again: run it again after a stop and it carries on (the training stages
from their last checkpoint). Each step's wall time goes to WORK/times.csv.

The model is written to WORK/fathom-code-minilm-v3 (v4), never over the shipped
folder; `validate.py` compares the two. Mining needs the registries (PyPI, npm,
Debian with a `deb-src` line for the source packages); nothing else reaches the network.
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

from benchmarks.model.sources import EARLIER_LISTS, earlier_sources, parse_sources

HERE = Path(__file__).parent
FIRST_LIST, SECOND_LIST = EARLIER_LISTS
THIRD_LIST = HERE / "train_sources_v4.txt"
MODEL_NAMES = {"v3": "fathom-code-minilm-v3", "v4": "fathom-code-minilm-v4"}
SHIPPED = "v3"
MODEL_NAME = MODEL_NAMES[SHIPPED]
ORIGINAL = "all-MiniLM-L6-v2"
PROSE_STEP = "prose pairs"  # the last step that reads the mined sources: the rest need the pairs and these alone
STAGE5_CAP_NEW, STAGE5_CAP_OLD = 250, 40  # a stage of about 30,000 pairs: 40 minutes on a 2-core CPU with AMX
QUESTIONS_CAP_NEW = 150  # the question encoder's pairs of each third-list package, besides v3's (RESULTS 10x)
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


def recipe(work: Path, threads: int, device: str = "cpu", base: str = ORIGINAL, target: str = SHIPPED) -> list[Step]:
    """`base`: the original model, by name or folder (`devkit.py` carries a copy).
    `target`: v3, or v4 (v3's code side and a stage over the third list's packages,
    then a question encoder over v3's question pairs and the third list's)."""
    pairs, earlier, first = work / "pairs.jsonl", work / "pairs-earlier-lists.jsonl", work / "pairs-first-list.jsonl"
    stage3, stage4 = work / "pairs-stage3.jsonl", work / "pairs-question.jsonl"
    stage5, new_questions = work / "pairs-stage5.jsonl", work / "pairs-question-new.jsonl"
    v4 = target == "v4"
    questions = work / "pairs-question-v4.jsonl" if v4 else stage4
    suffix = "-v4" if v4 else ""
    distractors, prose = work / f"distractors{suffix}.json", work / f"prose{suffix}.json"
    question = work / f"question{suffix}"
    model = work / MODEL_NAMES[target]
    train = ["--epochs", "1", "--batch", "64", "--bf16", "--resume", "--threads", str(threads), "--device", device,
             *VALIDATION]
    reading = [
        Step("mine", work / "mined", module("mine", FIRST_LIST, SECOND_LIST, THIRD_LIST, "--work", work),
             marker=True),
        # v1 to v3 were trained before the third list was mined: their picks are drawn from the earlier lists' pairs.
        Step("earlier lists", earlier, module("rebuild", "--earlier-lists", pairs, earlier)),
        Step("first list", first, module("rebuild", "--first-list", pairs, first)),
        Step("sample the second list", stage3,
             module("sample", earlier, "--new", SECOND_LIST, "--out", stage3, "--cap-new", 500, "--cap-old", 80,
                    "--seed", 23)),
        Step("sample the question pairs", stage4,
             module("sample", earlier, "--new", SECOND_LIST, "--out", stage4, "--cap-new", 1000, "--cap-old", 80,
                    "--seed", 24, "--exclude", stage3)),
    ]
    if v4:
        reading += [
            Step("sample the third list", stage5,
                 module("sample", pairs, "--new", THIRD_LIST, "--out", stage5, "--cap-new", STAGE5_CAP_NEW,
                        "--cap-old", STAGE5_CAP_OLD, "--seed", 47)),
            Step("sample the third list's questions", new_questions,
                 module("sample", pairs, "--new", THIRD_LIST, "--out", new_questions, "--cap-new",
                        QUESTIONS_CAP_NEW, "--cap-old", 0, "--seed", 48, "--exclude", stage5)),
            Step("question pairs", questions, module("rebuild", "--join", stage4, new_questions, questions)),
        ]
    reading += [
        Step("distractors", distractors,
             module("distractors", questions, "--sources", work / "sources", "--out", distractors,
                    "--per-package", 1000)),
        Step(PROSE_STEP, prose, module("prose_pairs", questions, "--sources", work / "sources", "--out", prose)),
    ]
    stages = [
        Step("v1: length-cut batches", work / "run1" / "model",
             module("train", first, "--out", work / "run1", "--base", base, "--lr", "3e-5", *train)),
        Step("v2: single-package batches", work / "run2" / "model",
             module("train", first, "--out", work / "run2", "--base", work / "run1" / "model",
                    "--batching", "source", "--lr", "2e-5", *train)),
        Step("v3: the second list's packages", work / "run3" / "model",
             module("train", stage3, "--out", work / "run3", "--base", work / "run2" / "model",
                    "--batching", "source", "--lr", "2e-5", *train)),
    ]
    last = work / "run3" / "model"
    if v4:
        stages.append(Step("v4: the third list's packages", work / "run5" / "model",
                           module("train", stage5, "--out", work / "run5", "--base", last,
                                  "--batching", "source", "--lr", "2e-5", *train)))
        last = work / "run5" / "model"
    return reading + stages + [
        Step("export", model / "model.safetensors", module("export", last, model, "--base", base)),
        Step("question encoder", question / "done",
             module("query_tower", questions, "--out", question, "--base", model, "--batch", 64,
                    "--lr", "1e-4", "--epochs", 2, "--validate-every", 139, "--threads", threads,
                    "--distractors", distractors, "--prose", prose, "--prose-weight", PROSE_WEIGHT,
                    "--device", device),
             marker=True),
        Step("question layers", model / "question_layers.safetensors",
             module("question_layers", question / "query-model", model)),
    ]


def pairs_of(pairs: Path, out: Path, sources: frozenset[str]) -> int:
    """The pairs of these packages, as mining their lists alone writes them.

    `mine.py` deduplicates in the order the lists name their packages, so an earlier
    list's pairs are the same whether a later list was mined after it or not."""
    kept = 0
    partial = out.with_suffix(".partial")
    with open(pairs, encoding="utf-8") as f, open(partial, "w", encoding="utf-8") as o:
        for line in f:
            if json.loads(line)["source"] in sources:
                o.write(line)
                kept += 1
    partial.rename(out)
    return kept


def join_questions(earlier: Path, new: Path, out: Path) -> int:
    """v3's question pairs, then the third list's training pairs (the validation
    records, the earlier packages', are v3's: the curve stays comparable)."""
    partial = out.with_suffix(".partial")
    kept = 0
    with open(partial, "w", encoding="utf-8") as o:
        for path, keep in ((earlier, lambda r: True), (new, lambda r: r["split"] == "train")):
            with open(path, encoding="utf-8") as f:
                for line in f:
                    if keep(json.loads(line)):
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
    parser.add_argument("--target", choices=sorted(MODEL_NAMES), default=SHIPPED,
                        help="the model to build: the shipped one by default")
    parser.add_argument("--first-list", nargs=2, type=Path, metavar=("PAIRS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--earlier-lists", nargs=2, type=Path, metavar=("PAIRS", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--join", nargs=3, type=Path, metavar=("EARLIER", "NEW", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_list:
        first = frozenset(f"{kind} {spec}" for kind, spec in parse_sources(FIRST_LIST))
        print(f"{pairs_of(*args.first_list, first)} pairs of {FIRST_LIST.name}")
        return 0
    if args.earlier_lists:
        print(f"{pairs_of(*args.earlier_lists, earlier_sources())} pairs of {FIRST_LIST.name} and {SECOND_LIST.name}")
        return 0
    if args.join:
        print(f"{join_questions(*args.join)} question pairs")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    times = args.work / "times.csv"
    new = not times.exists()
    with open(times, "a", newline="") as log:
        writer = csv.writer(log)
        if new:
            writer.writerow(["step", "seconds"])
        for step in recipe(args.work, args.threads, args.device, args.base, args.target):
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
    name = MODEL_NAMES[args.target]
    print(f"{args.work / name}: compare it with the shipped one by "
          f"`validate.py {args.work / 'pairs-question.jsonl'} {MODEL_NAME} {args.work / name}`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
