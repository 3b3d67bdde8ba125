"""Tune the question side alone: a query encoder against a fixed code encoder's vectors.

    .venv/bin/python -m benchmarks.model.query_tower /tmp/fathom-model3/pairs-run6.jsonl \\
        --out /tmp/fathom-qt/run1 --base fathom-code-minilm-v3 --batch 64 --lr 2e-5 --epochs 1 --threads 2

Every code of the pairs is embedded once by the base model (the index's vectors
stay exactly as they are: nothing to embed again), and a copy of the base is
then trained to ask: each question of a batch is scored against every code of
its package, not only the batch's, so each step sees the package's whole set of
wrong answers at the cost of encoding short questions alone. The validation is
`train.py`'s (same split, same figures) with the codes' vectors fixed. What
ships of it is its transformer layers, put beside the base model by
`question_layers.py`.

`--distractors FILE` (`distractors.py`) adds each package's other chunks, the
class around a method, undocumented neighbours, module lines, to the codes its
questions are scored against, as a search of the project ranks them; the
validation then also reports each question against its package's codes and
distractors.

`--prose FILE` (`prose_pairs.py`) adds a term for Markdown: a search ranks a
section by the base model's own reading of the question and code by this
encoder's, merged by value, so each step also asks `--prose-batch` headings and
scores each one's section (and its package's other sections) by the base's fixed
cosines against its package's codes and distractors by the encoder's: the
encoder learns to keep its cosines with code below the section a heading asks for.

`--seed` draws another run of the same recipe (the validation split stays the
same), and `--keep-snapshots` keeps each validation's encoder: what
`question_layers.py` averages when given several.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

from benchmarks.model.train import (CODE_TOKENS, QUERY_TOKENS, SCALE, SEED, Validation, add_device_option, encode,
                                    encode_pairs, linear_schedule, load_pairs, model_folder, reciprocal_ranks, step_on)


def package_codes(pairs: list[tuple[str, str]], sources: list[str]) -> tuple[dict[str, list[str]], list[int]]:
    """Each package's distinct codes, and each pair's code's place among its package's."""
    codes: dict[str, list[str]] = {}
    places: dict[tuple[str, str], int] = {}
    answer = []
    for (_, code), source in zip(pairs, sources):
        key = (source, code)
        if key not in places:
            places[key] = len(codes.setdefault(source, []))
            codes[source].append(code)
        answer.append(places[key])
    return codes, answer


def embed_codes(model, codes: list[str], batch: int = 64):
    import torch

    order = sorted(range(len(codes)), key=lambda i: len(codes[i]))
    out = None
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            part = order[start:start + batch]
            vectors = encode(model, [codes[i] for i in part], CODE_TOKENS).float().cpu()
            if out is None:
                out = torch.empty(len(codes), vectors.shape[1])
            out[part] = vectors
    return out


def batch_candidates(members: list[int], sources: list[str], answers: list[int], code_vectors: dict, others: dict):
    """What a batch's questions are scored against: the codes of every package in
    the batch, each followed by its distractors (if any), and each question's
    right code's row among them."""
    import torch

    offsets, candidates = {}, []
    for source in sorted({sources[i] for i in members}):
        offsets[source] = sum(len(c) for c in candidates)
        candidates.append(code_vectors[source])
        if source in others:  # after the codes, so each answer keeps its place
            candidates.append(others[source])
    return torch.cat(candidates), torch.tensor([offsets[sources[i]] + answers[i] for i in members])


def load_prose(cache: Path, path: Path, base, known: set[str]) -> dict:
    """The training packages' headings read by the base model, their sections'
    vectors, and each question as (package, row, its section's place)."""
    import torch

    if cache.exists():
        return torch.load(cache)
    started = time.monotonic()
    found = {"texts": {}, "questions": {}, "sections": {}, "asked": [], "held_out": []}
    with torch.inference_mode():
        for source, package in json.loads(path.read_text()).items():
            if source not in known:  # a package with no code to rank its sections against
                continue
            asked = package["questions"]
            texts = found["texts"][source] = [a["question"] for a in asked]
            found["questions"][source] = encode(base, texts, QUERY_TOKENS).float().cpu()
            found["sections"][source] = embed_codes(base, package["sections"])
            places = [(source, row, a["section"]) for row, a in enumerate(asked)]
            found["asked" if package["split"] == "train" else "held_out"].extend(places)
    torch.save(found, cache)
    print(f"{len(found['asked'])} training and {len(found['held_out'])} held-out headings of "
          f"{len(found['questions'])} packages embedded in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return found


def package_candidates(source: str, code_vectors: dict, others: dict):
    """A package's codes, then its distractors where it has any (each code keeps its row)."""
    import torch

    found = [vectors[source] for vectors in (code_vectors, others) if source in vectors]
    return torch.cat(found)


def prose_logits(query, prose: dict, source: str, row: int, code_vectors: dict, others: dict):
    """A heading's package's sections (the base's fixed cosines), then its codes
    and distractors (the encoder's), as the search merges them."""
    import torch

    fixed = prose["questions"][source][row] @ prose["sections"][source].T
    codes = package_candidates(source, code_vectors, others).to(query.device)
    return torch.cat([fixed.to(query.device), query @ codes.T])


def prose_loss(model, prose: dict, asked: list[tuple[str, int, int]], code_vectors: dict, others: dict, scale: float):
    """Each heading's section against its package's other sections (the base's
    fixed cosines) and its package's codes and distractors (the encoder's)."""
    import torch

    queries = encode(model, [prose["texts"][source][row] for source, row, _ in asked], QUERY_TOKENS)
    losses = []
    for query, (source, row, section) in zip(queries, asked):
        logits = scale * prose_logits(query, prose, source, row, code_vectors, others)
        losses.append(torch.nn.functional.cross_entropy(logits[None], torch.tensor([section], device=query.device)))
    return torch.stack(losses).mean()


def epoch_batches(sources: list[str], batch: int, epoch: int, seed: int = SEED) -> list[list[int]]:
    """One package's questions to a batch where it has enough; the rest pooled."""
    rng = random.Random(seed + epoch)
    by_source: dict[str, list[int]] = {}
    for i, source in enumerate(sources):
        by_source.setdefault(source, []).append(i)
    batches, rest = [], []
    for members in by_source.values():
        rng.shuffle(members)
        whole = len(members) - len(members) % batch
        batches.extend(members[i:i + batch] for i in range(0, whole, batch))
        rest.extend(members[whole:])
    rng.shuffle(rest)
    batches.extend(rest[i:i + batch] for i in range(0, len(rest) - batch + 1, batch))
    rng.shuffle(batches)
    return batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", default="fathom-code-minilm-v3")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--validate-every", type=int, default=100)
    parser.add_argument("--validation-size", type=int, default=400)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--distractors", type=Path, help="each package's other chunks (distractors.py's JSON)")
    parser.add_argument("--scale", type=float, default=SCALE, help="cosines times this before the softmax")
    parser.add_argument("--prose", type=Path, help="heading → section pairs of the packages (prose_pairs.py's JSON)")
    parser.add_argument("--prose-batch", type=int, default=16)
    parser.add_argument("--prose-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=SEED,
                        help="the training's order, dropout and headings drawn (the validation split stays fixed)")
    parser.add_argument("--keep-snapshots", action="store_true",
                        help="keep the encoder of every validation as query-model-stepN (for averaging)")
    add_device_option(parser)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, train_sources = load_pairs(args.pairs, "train", "query")
    validation, validation_sources = load_pairs(args.pairs, "validation", "query")
    shuffled = list(range(len(validation)))
    random.Random(SEED).shuffle(shuffled)
    validation = [validation[i] for i in shuffled]
    validation_sources = [validation_sources[i] for i in shuffled]
    validation_set = Validation(validation, validation_sources, min(args.validation_size, len(validation)))

    args.out.mkdir(parents=True, exist_ok=True)
    base = SentenceTransformer(model_folder(args.base), device=args.device, model_kwargs={"dtype": torch.float32})
    base.eval()
    codes_by_source, answers = package_codes(train, train_sources)
    cache = args.out / "codes.pt"
    if cache.exists():
        saved = torch.load(cache)
        code_vectors, validation_queries, validation_codes = saved["train"], saved["vq"], saved["vc"]
    else:
        started = time.monotonic()
        code_vectors = {s: embed_codes(base, c) for s, c in codes_by_source.items()}
        validation_queries, validation_codes = encode_pairs(base, validation)
        torch.save({"train": code_vectors, "vq": validation_queries, "vc": validation_codes}, cache)
        print(f"codes embedded in {time.monotonic() - started:.0f} s", flush=True)
    others: dict = {}
    if args.distractors:
        cache = args.out / "distractors.pt"
        if cache.exists():
            others = torch.load(cache)
        else:
            started = time.monotonic()
            texts = json.loads(args.distractors.read_text())
            wanted = set(codes_by_source) | set(validation_sources)
            others = {s: embed_codes(base, t) for s, t in texts.items() if s in wanted and t}
            torch.save(others, cache)
            print(f"{sum(len(v) for v in others.values())} distractors embedded in "
                  f"{time.monotonic() - started:.0f} s", flush=True)

    validation_by_source = {validation_sources[m[0]]: validation_codes[torch.tensor(m)]
                            for m in validation_set.packages}
    prose = load_prose(args.out / "prose.pt", args.prose, base, set(code_vectors) | set(validation_by_source)) \
        if args.prose else None
    prose_rng = random.Random(args.seed)

    def figures(queries) -> list[str]:
        """The validation's figures, and with distractors each question against its package's codes and them."""
        found = validation_set.figures(queries, validation_codes, 0.7)
        if others:
            found = (*found, among_distractors(queries))
        if prose and prose["held_out"]:
            found = (*found, sections_among_code())
        return [f"{m:.4f}" for m in found]

    def read(texts: list[str]):
        """Questions as the encoder reads them at search time (no dropout)."""
        training = model.training
        model.eval()
        with torch.inference_mode():
            vectors = torch.cat([encode(model, texts[i:i + 128], QUERY_TOKENS).float().cpu()
                                 for i in range(0, len(texts), 128)])
        model.train(training)
        return vectors

    def sections_among_code() -> float:
        """MRR@10 of each held-out heading's section among its package's sections and code."""
        held_out = prose["held_out"]
        queries = read([prose["texts"][s][row] for s, row, _ in held_out])
        total = 0.0
        for query, (source, row, section) in zip(queries, held_out):
            logits = prose_logits(query, prose, source, row, validation_by_source, others)
            rank = int((logits > logits[section]).sum()) + 1
            total += 1.0 / rank if rank <= 10 else 0.0
        return total / len(held_out)

    def among_distractors(queries) -> float:
        total = 0.0
        for members in validation_set.packages:
            candidates = package_candidates(validation_sources[members[0]], validation_by_source, others)
            total += reciprocal_ranks(queries[torch.tensor(members)] @ candidates.T)
        return total / len(validation)

    model = base
    model.train()
    steps_per_epoch = len(train) // args.batch
    total = int(steps_per_epoch * args.epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = linear_schedule(optimizer, total)

    def validate() -> list[str]:
        return figures(read([q for q, _ in validation]))

    curve = open(args.out / "curve.csv", "w", newline="")
    writer = csv.writer(curve)
    writer.writerow(["step", "seconds", "loss", "mixed", "in_package", "in_package_with_words",
                     *(["in_package_with_distractors"] if others else []),
                     *(["sections_among_code"] if prose and prose["held_out"] else [])])
    start_figures = figures(validation_queries)
    writer.writerow([0, 0, "", *start_figures])
    print(f"{len(train)} pairs in {len(codes_by_source)} packages; {total} steps; start {start_figures}", flush=True)
    started = time.monotonic()
    losses: list[float] = []
    batches: dict[int, list[list[int]]] = {}
    for step in range(total):
        epoch = step // steps_per_epoch
        if epoch not in batches:
            batches = {epoch: epoch_batches(train_sources, args.batch, epoch, args.seed)}
        members = batches[epoch][step % steps_per_epoch]
        candidates, target = batch_candidates(members, train_sources, answers, code_vectors, others)
        candidates, target = candidates.to(model.device), target.to(model.device)
        queries = encode(model, [train[i][0] for i in members], QUERY_TOKENS)
        loss = torch.nn.functional.cross_entropy(args.scale * queries @ candidates.T, target)
        if prose and prose["asked"]:
            asked = prose_rng.sample(prose["asked"], min(args.prose_batch, len(prose["asked"])))
            loss = loss + args.prose_weight * prose_loss(model, prose, asked, code_vectors, others, args.scale)
        losses.append(step_on(loss, model, optimizer, schedule))
        done = step + 1
        if done % args.validate_every == 0 or done == total:
            found = validate()
            elapsed = time.monotonic() - started
            writer.writerow([done, f"{elapsed:.0f}", f"{sum(losses) / len(losses):.4f}", *found])
            curve.flush()  # a run stopped part-way keeps its curve so far
            print(f"step {done}/{total}: loss {sum(losses) / len(losses):.4f}, validation {found}, {elapsed:.0f} s",
                  flush=True)
            losses.clear()
            model.save(str(args.out / "query-model"))  # a run stopped part-way keeps its latest encoder
            if args.keep_snapshots:
                model.save(str(args.out / f"query-model-step{done}"))
    curve.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
