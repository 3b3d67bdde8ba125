"""Fine-tune all-MiniLM-L6-v2 on the mined pairs: Fathom's own code-search model.

    .venv/bin/python -m benchmarks.model.train /tmp/fathom-model/pairs.jsonl --out /tmp/fathom-model/run1 \\
        --epochs 1 --batch 64 --lr 3e-5 --bf16 [--max-steps N] [--resume]
    .venv/bin/python -m benchmarks.model.train /tmp/fathom-model/pairs.jsonl --out /tmp/fathom-model/run2 \\
        --base /tmp/fathom-model/run1/model --batching source --epochs 1 --batch 64 --lr 2e-5 --bf16

    .venv/bin/python -m benchmarks.model.train /tmp/fathom-model3/pairs-run5.jsonl --out /tmp/fathom-model3/run5 \
        --base /tmp/fathom-model/run2/model --batching source --epochs 1 --batch 64 --lr 2e-5 --bf16

(the recipe of the shipped fathom-code-minilm-v3: an epoch of mixed batches, then one
of batches from a single package, both over the pairs of `train_sources.txt` alone
(`mine.py train_sources.txt --work /tmp/fathom-model`); then one of single-package
batches over `sample.py`'s pick of the pairs of `train_sources_v3.txt`'s packages,
mined after the first list (`mine.py train_sources.txt train_sources_v3.txt --work
/tmp/fathom-model3`); `benchmarks/model/export.py` then writes it to the package).

In-batch negatives (multiple-negatives ranking loss: each question against every
code of its batch), AdamW with a linear warm-up and decay, seeded: the same pairs
and flags give the same model. Checkpoints (model, optimizer, step) go to OUT
every `--checkpoint-every` steps and `--resume` carries on from the last one, so
a run of hours on a 2-core CPU survives being stopped. The validation split's
MRR@10 (its questions against all its code, never the quality evals) is written
to OUT/curve.csv as it goes.

Batches are cut from pairs of similar code length (`--batching length`, the
default): every text of a batch is padded to its longest, and code runs from a
line to 256 tokens, so random batches spend most of their arithmetic on padding.
The batches' order is shuffled (seeded); which codes meet in a batch is then
chosen by length rather than by chance. `--batching source` cuts each batch from
one package's pairs (of similar length too) where the package has enough: the
negatives are then the functions a search of that project must tell apart, at no
extra cost, where random ones are mostly another language's. `--negatives` adds
the hard negatives mined by `negatives.py` (each batch's, as more codes to score).
`--bf16` runs the forward and backward passes in bfloat16 where the CPU has it.
`--device cuda` trains on the accelerator machine (`devkit.py` carries the run there).
`--words-weight` trains the cosine as one part of Fathom's fusion: each code's BM25
for the question is added to its score in the loss, so a pair the words already
rank right costs little and the steps go to what the model must carry alone.
The validation reports the package-wise MRR fused with the words too (`words.py`).
`--query-prefix` puts the same words before every question, in training and in
validation (E5's `query: `), so the model can tell a question from code.
`--question-model` trains the code side alone against a shipped model's question
layers (`query_tower.py`): every question is read once by them and stays fixed,
and the embeddings, which the question layers share, are frozen, so the layers
still fit the model that comes out.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
import time
from pathlib import Path

SEED = 20261129
SCALE = 20.0  # cosine similarities times this before the softmax, as sentence-transformers' MNRL
QUERY_TOKENS = 64
CODE_TOKENS = 256
WORDS_DENSE_SHARE = 0.7  # the shipped model's share of Fathom's fusion (search/hybrid.py)


def load_pairs(path: Path, split: str, question: str) -> tuple[list[tuple[str, str]], list[str]]:
    """The split's (question, code) pairs, and each pair's source package."""
    pairs, sources = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["split"] == split:
                pairs.append((record[question], record["code"]))
                sources.append(record["source"])
    return pairs, sources


def encode(model, texts: list[str], max_tokens: int):
    import torch

    features = (getattr(model, "preprocess", None) or model.tokenize)(texts)
    features = {k: v[:, :max_tokens].to(model.device) if isinstance(v, torch.Tensor) and v.dim() == 2 else v
                for k, v in features.items()}
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=1)


def code_lengths(model, codes: list[str]) -> list[int]:
    """Each code's length in the model's tokens, up to the training window."""
    tokenizer = model.tokenizer
    lengths = []
    for i in range(0, len(codes), 1024):
        encoded = tokenizer(codes[i:i + 1024], add_special_tokens=True, truncation=True, max_length=CODE_TOKENS)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return lengths


def epoch_batches(lengths: list[int], sources: list[str], batch: int, epoch: int, batching: str) -> list[list[int]]:
    """The batches of one epoch, as indexes into the training pairs: the same for
    the same epoch, so a resumed run sees what the stopped one would have."""
    order = list(range(len(lengths)))
    random.Random(SEED + epoch).shuffle(order)
    if batching == "random":
        return [order[i:i + batch] for i in range(0, len(order) - batch + 1, batch)]
    # Sorted by length (the shuffle breaks ties differently each epoch), cut, then the batches shuffled.
    order.sort(key=lambda i: lengths[i])
    batches: list[list[int]] = []
    if batching == "source":
        # Each package's pairs cut into batches of their own: the negatives are its other
        # functions, as in a search of one project; what is left over is pooled by length.
        by_source: dict[str, list[int]] = {}
        for i in order:
            by_source.setdefault(sources[i], []).append(i)
        order = []
        for members in by_source.values():
            whole = len(members) - len(members) % batch
            batches.extend(members[i:i + batch] for i in range(0, whole, batch))
            order.extend(members[whole:])
        order.sort(key=lambda i: lengths[i])
    batches.extend(order[i:i + batch] for i in range(0, len(order) - batch + 1, batch))
    random.Random(SEED + epoch).shuffle(batches)
    return batches


def load_negatives(path: Path, pairs: int, question: str) -> list[int]:
    """The mined negatives, checked against the pairs they are for."""
    mined = json.loads(path.read_text())
    if len(mined["negatives"]) != pairs or mined["question"] != question:
        raise SystemExit(f"{path} was mined for {len(mined['negatives'])} pairs asked by their "
                         f"{mined['question']}, not these {pairs} by their {question}")
    return mined["negatives"]


def batch_negatives(members: list[int], negatives: list[int]) -> list[int]:
    """The batch's hard negatives, once each, leaving out any that is already a
    right answer in the batch (it would count as wrong for its own question)."""
    inside = set(members)
    return list(dict.fromkeys(n for n in (negatives[i] for i in members) if n >= 0 and n not in inside))


def encode_pairs(model, pairs: list[tuple[str, str]], batch: int = 64, query_prefix: str = ""):
    """Every pair's question (after `query_prefix`) and code embedded (float32 tensors, one row per pair)."""
    import torch

    with torch.inference_mode():
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][1]))  # less padding
        queries = codes = None
        for start in range(0, len(order), batch):
            part = order[start:start + batch]
            asked = encode(model, [query_prefix + pairs[i][0] for i in part], QUERY_TOKENS).float().cpu()
            if queries is None:
                queries, codes = torch.empty(len(pairs), asked.shape[1]), torch.empty(len(pairs), asked.shape[1])
            queries[part] = asked
            codes[part] = encode(model, [pairs[i][1] for i in part], CODE_TOKENS).float().cpu()
    return queries, codes


def fixed_questions(folder: str, questions: list[str], batch: int = 256):
    """Each question read by the question layers of the model in `folder`, as a
    search reads it (normalised float32 rows)."""
    import torch

    from fathom.embed.bert import load

    encoder = load(folder)
    asking = encoder.for_questions() if encoder is not None else None
    if asking is None:
        raise SystemExit(f"{folder} has no question layers to train against")
    rows = []
    with torch.inference_mode():
        for start in range(0, len(questions), batch):
            rows.append(asking.embed(asking.tokenize(questions[start:start + batch])))
    return torch.nn.functional.normalize(torch.cat(rows).float(), dim=1)


class Validation:
    """The validation split's questions, and BM25 of each against its package's
    code (computed once: it does not change as the model trains)."""

    def __init__(self, pairs: list[tuple[str, str]], sources: list[str], sample: int,
                 dense_share: float = WORDS_DENSE_SHARE, query_prefix: str = ""):
        from benchmarks.model.words import bm25_matrix

        self.pairs, self.sample, self.dense_share, self.query_prefix = pairs, sample, dense_share, query_prefix
        self.packages = [[i for i, s in enumerate(sources) if s == source] for source in sorted(set(sources))]
        self.words = [bm25_matrix([pairs[i][0] for i in members], [pairs[i][1] for i in members])
                      for members in self.packages]
        self.questions = None  # fixed question vectors, where a question model reads them

    def mrr(self, model, batch: int = 64) -> tuple[float, float, float]:
        """MRR@10 of the first `sample` questions against those questions' codes;
        of every question against all the code of its own package (a search of
        one project, as the quality evals are); and the same ranked by the
        cosine fused with the words, as Fathom ranks (`words.py`)."""
        if not self.pairs:
            return float("nan"), float("nan"), float("nan")
        model.eval()
        queries, codes = encode_pairs(model, self.pairs, batch, self.query_prefix)
        model.train()
        if self.questions is not None:
            queries = self.questions
        return self.figures(queries, codes, self.dense_share)

    def figures(self, queries, codes, dense_share: float) -> tuple[float, float, float]:
        """`mrr`'s figures from the questions' and codes' embeddings."""
        import torch

        from benchmarks.model.words import fused

        mixed = reciprocal_ranks(queries[:self.sample] @ codes[:self.sample].T)
        alone = with_words = 0.0
        for members, words in zip(self.packages, self.words):
            index = torch.tensor(members)
            dense = queries[index] @ codes[index].T
            alone += reciprocal_ranks(dense)
            with_words += reciprocal_ranks(fused(dense, words, dense_share))
        return mixed / min(self.sample, len(self.pairs)), alone / len(self.pairs), with_words / len(self.pairs)


def words_scaled(questions: list[str], codes: list[str]):
    """BM25 of each question against each code (the batch's own statistics),
    scaled to [0, 1] by the question's best, as Fathom scales the words' ranking."""
    from benchmarks.model.words import bm25_matrix

    scores = bm25_matrix(questions, codes)
    return scores / scores.max(dim=1, keepdim=True).values.clamp_min(1e-12)


def linear_schedule(optimizer, total: int):
    """A tenth of the steps' linear warm-up, then a linear decay to zero."""
    import torch

    warmup = max(1, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))))


def step_on(loss, model, optimizer, schedule) -> float:
    """One optimizer step on `loss` (gradients clipped to norm 1); the loss's value."""
    import torch

    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    schedule.step()
    return float(loss.detach())


def reciprocal_ranks(scores) -> float:
    """The sum of each row's reciprocal rank of its diagonal within the first 10 (0 beyond)."""
    import torch

    ranks = (scores > scores.diagonal().unsqueeze(1)).sum(dim=1) + 1
    return float(torch.where(ranks <= 10, 1.0 / ranks, torch.zeros_like(ranks, dtype=torch.float)).sum())


def model_folder(name: str) -> str:
    """A model's folder: a directory as given, else the name resolved as Fathom
    resolves it (its packaged original, its shipped models)."""
    if Path(name).is_dir():
        return name
    from fathom.embed.modelspec import resolve_model

    return resolve_model(name).load_path


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="where to train: cpu, or cuda on the accelerator machine")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", default="all-MiniLM-L6-v2", help="the model to start from (name or directory)")
    parser.add_argument("--question", choices=["query", "summary"], default="query",
                        help="which form of the doc is the question in training: its first sentence, or its first "
                             "paragraph (validation always asks the first sentence, as the evals do)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: the epochs')")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument("--validation-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batching", choices=["length", "source", "random"], default="length",
                        help="cut batches from pairs of similar code length, from one package's pairs "
                             "of similar length, or at random")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast for the training passes")
    parser.add_argument("--freeze-embeddings", action="store_true",
                        help="leave the word embeddings as they are (half the parameters)")
    parser.add_argument("--negatives", type=Path,
                        help="hard negatives mined for these pairs (benchmarks/model/negatives.py): "
                             "each batch's are scored as extra codes")
    parser.add_argument("--words-weight", type=float, default=0.0,
                        help="add this weight of each code's BM25 (scaled to the question's best in the batch) "
                             "to its cosine in the loss: the model learns what the words get wrong, as "
                             "Fathom's fusion will use it")
    parser.add_argument("--query-prefix", default="",
                        help="words put before every question, in training and validation (the model "
                             "then needs them before every search query)")
    parser.add_argument("--question-model",
                        help="a model folder with question layers: train the code side alone against their "
                             "reading of each question (the base must be the model they were trained against)")
    parser.add_argument("--resume", action="store_true")
    add_device_option(parser)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(SEED)
    torch.manual_seed(SEED)
    train, train_sources = load_pairs(args.pairs, "train", args.question)
    # Validated on first sentences whatever the training questions: the quality evals ask those.
    validation, validation_sources = load_pairs(args.pairs, "validation", "query")
    shuffled = list(range(len(validation)))
    random.Random(SEED).shuffle(shuffled)
    validation = [validation[i] for i in shuffled]
    validation_sources = [validation_sources[i] for i in shuffled]
    sample = min(args.validation_size, len(validation))
    negatives = load_negatives(args.negatives, len(train), args.question) if args.negatives else None

    validation_set = Validation(validation, validation_sources, sample, query_prefix=args.query_prefix)
    asked = None
    if args.question_model:
        if args.query_prefix:
            raise SystemExit("--query-prefix and --question-model: the question layers read questions as asked")
        validation_set.questions = fixed_questions(args.question_model, [q for q, _ in validation])
        asked = fixed_questions(args.question_model, [q for q, _ in train]).to(args.device)

    def validate() -> list[str]:
        """Validation MRR@10: mixed, within each package, within each package with the words."""
        return [f"{mrr:.4f}" for mrr in validation_set.mrr(model)]
    steps_per_epoch = len(train) // args.batch
    total = args.max_steps or int(steps_per_epoch * args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "checkpoint"
    # A shipped model's weights are float16; training updates them in float32.
    float32 = {"dtype": torch.float32}
    start_step = 0
    if args.resume and (checkpoint / "state.pt").exists():
        model = SentenceTransformer(str(checkpoint), device=args.device, model_kwargs=float32)
        state = torch.load(checkpoint / "state.pt", map_location=args.device)
        start_step = state["step"]
    else:
        model = SentenceTransformer(model_folder(args.base), device=args.device, model_kwargs=float32)
        state = None
    model.train()
    if args.freeze_embeddings or asked is not None:
        frozen = "embeddings." if asked is not None else "word_embeddings"  # the question layers share them all
        for name, parameter in model.named_parameters():
            if frozen in name and "encoder.layer" not in name:
                parameter.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    schedule = linear_schedule(optimizer, total)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
    curve = open(args.out / "curve.csv", "a", newline="")
    writer = csv.writer(curve)
    if start_step == 0:
        writer.writerow(["step", "seconds", "loss", "validation_mrr@10", "validation_in_package_mrr@10",
                         "validation_in_package_with_words_mrr@10"])
        writer.writerow([0, 0, "", *validate()])
        curve.flush()
    print(f"{len(train)} training pairs, {len(validation)} for validation ({sample} mixed); steps {start_step} -> {total}", flush=True)
    lengths = code_lengths(model, [c for _, c in train])
    batches: dict[int, list[list[int]]] = {}
    started = time.monotonic()
    losses: list[float] = []
    for step in range(start_step, total):
        epoch = step // steps_per_epoch
        if epoch not in batches:
            batches = {epoch: epoch_batches(lengths, train_sources, args.batch, epoch, args.batching)}
        members = batches[epoch][step % steps_per_epoch]
        batch = [train[i] for i in members]
        hard = [train[j][1] for j in batch_negatives(members, negatives)] if negatives else []
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=args.bf16):
            queries = (asked[members] if asked is not None
                       else encode(model, [args.query_prefix + q for q, _ in batch], QUERY_TOKENS))
            codes = encode(model, [c for _, c in batch] + hard, CODE_TOKENS)
            scores = SCALE * queries.float() @ codes.float().T
        if args.words_weight:
            scores = scores + SCALE * args.words_weight * words_scaled(
                [q for q, _ in batch], [c for _, c in batch] + hard).to(scores.device)
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch), device=scores.device))
        losses.append(step_on(loss, model, optimizer, schedule))
        done = step + 1
        if done % args.validate_every == 0 or done == total:
            mrr = validate()
            elapsed = time.monotonic() - started
            writer.writerow([done, f"{elapsed:.0f}", f"{sum(losses) / len(losses):.4f}", *mrr])
            curve.flush()
            print(f"step {done}/{total}: loss {sum(losses) / len(losses):.4f}, validation MRR@10 "
                  f"(mixed, in package, with words) {', '.join(mrr)}, "
                  f"{elapsed:.0f} s ({(done - start_step) * args.batch / max(elapsed, 1e-9):.1f} pairs/s)",
                  flush=True)
            losses.clear()
        if done % args.checkpoint_every == 0 or done == total:
            model.save(str(checkpoint))
            torch.save({"step": done, "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()},
                       checkpoint / "state.pt")
    model.save(str(args.out / "model"))
    curve.close()
    return 0 if not math.isnan(sum(losses) if losses else 0.0) else 1


if __name__ == "__main__":
    raise SystemExit(main())
