"""Train a reranker: a cross-encoder that reads a question and one candidate code together.

    .venv/bin/python -m benchmarks.model.reranker /tmp/rebuild/pairs-question.jsonl \\
        --out /tmp/fathom-rr/run1 --base fathom-code-minilm-v3 --group 8 --batch 8 --lr 3e-5 --bf16 --threads 2

The embedding model reads a question and a code apart, and Fathom fuses its
cosine with the words; a cross-encoder reads the two in one window, so each
word of the question attends to the code's. It costs a forward pass per
candidate at search time, so it can only reorder the top of a ranking. Its
training asks it exactly that: each question against its right code and the
wrong codes of its own package that the ranking it will reorder puts highest
(the base model's cosine fused with BM25 over the words at the shipped share,
`words.py`), a softmax over the group (listwise). The base's transformer starts
it (it already reads code); the score head is new. The validation reorders the
fused top CANDIDATES of each validation question within its package and reports
the fused ranking's MRR@10 beside the reordered one's.
"""
from __future__ import annotations

import argparse
import csv
import random
import time
from pathlib import Path

from benchmarks.model.train import (SEED, WORDS_DENSE_SHARE, encode_pairs, linear_schedule,
                                    load_pairs, step_on)

CANDIDATES = 20  # how much of the fused ranking the reranker reorders
PAIR_TOKENS = 256  # question and code together, as the embedding window


def ranked_candidates(questions, codes, pairs: list[tuple[str, str]], sources: list[str], depth: int,
                      dense_share: float = WORDS_DENSE_SHARE) -> list[list[int]]:
    """Each pair's package codes (as pair indexes) in the fused ranking's order,
    its first `depth`, with the pair's own code (and copies of it) left in place:
    what a search of that package shows for the question."""
    import torch

    from benchmarks.model.words import bm25_matrix, fused

    by_source: dict[str, list[int]] = {}
    for i, source in enumerate(sources):
        by_source.setdefault(source, []).append(i)
    ranked: list[list[int]] = [[] for _ in pairs]
    for members in by_source.values():
        # One entry per distinct code: copies of a code would otherwise fill the top.
        distinct: dict[str, int] = {}
        for i in members:
            distinct.setdefault(pairs[i][1], i)
        columns = list(distinct.values())
        index = torch.tensor(members)
        column_index = torch.tensor(columns)
        dense = questions[index] @ codes[column_index].T
        words = bm25_matrix([pairs[i][0] for i in members], [pairs[i][1] for i in columns])
        scores = fused(dense, words, dense_share)
        top = scores.topk(min(depth, len(columns)), dim=1).indices
        for row, i in enumerate(members):
            ranked[i] = [columns[c] for c in top[row].tolist()]
    return ranked


def score_pairs(model, tokenizer, questions: list[str], codes: list[str]):
    """The cross-encoder's score of each (question, code)."""
    features = tokenizer(questions, codes, padding=True, truncation="only_second", max_length=PAIR_TOKENS,
                         return_tensors="pt")
    return model(**features).logits.squeeze(-1)


def rerank_mrr(model, tokenizer, pairs, ranked: list[list[int]], members: list[int], bf16: bool) -> tuple[float, float]:
    """MRR@10 of `members`' questions under the fused ranking and under the
    reranker's order of its top CANDIDATES (a right code outside them stays missed)."""
    import torch

    fused_total = reranked_total = 0.0
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in members:
            candidates = ranked[i][:CANDIDATES]
            right = [c for c, j in enumerate(candidates) if pairs[j][1] == pairs[i][1]]
            if not right:
                continue
            if right[0] < 10:
                fused_total += 1 / (right[0] + 1)
            scores = score_pairs(model, tokenizer, [pairs[i][0]] * len(candidates),
                                 [pairs[j][1] for j in candidates]).float()
            rank = int((scores > scores[right[0]]).sum())
            if rank < 10:
                reranked_total += 1 / (rank + 1)
    model.train()
    return fused_total / len(members), reranked_total / len(members)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", default="fathom-code-minilm-v3")
    parser.add_argument("--group", type=int, default=8, help="codes a question is scored against: its own and the hardest wrong ones")
    parser.add_argument("--hard-pool", type=int, default=15, help="the wrong codes are drawn from this much of the fused ranking")
    parser.add_argument("--batch", type=int, default=8, help="questions a step")
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument("--validation-size", type=int, default=300)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from fathom.embed.modelspec import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    args.out.mkdir(parents=True, exist_ok=True)
    train, train_sources = load_pairs(args.pairs, "train", "query")
    validation, validation_sources = load_pairs(args.pairs, "validation", "query")
    base_path = resolve_model(args.base).load_path

    cache = args.out / "candidates.pt"
    if cache.exists():
        saved = torch.load(cache)
        train_ranked, validation_ranked = saved["train"], saved["validation"]
    else:
        started = time.monotonic()
        embedder = SentenceTransformer(base_path, device="cpu", model_kwargs={"dtype": torch.float32})
        embedder.eval()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            train_ranked = ranked_candidates(*encode_pairs(embedder, train), train, train_sources, args.hard_pool + 1)
            validation_ranked = ranked_candidates(*encode_pairs(embedder, validation), validation, validation_sources,
                                                  CANDIDATES)
        torch.save({"train": train_ranked, "validation": validation_ranked}, cache)
        print(f"candidates ranked in {time.monotonic() - started:.0f} s", flush=True)
        del embedder

    tokenizer = AutoTokenizer.from_pretrained(base_path)
    # No dropout on the attention weights: with it the attention is computed unfused,
    # its weights kept whole for the backward pass (2.7 times the step's time here).
    model = AutoModelForSequenceClassification.from_pretrained(base_path, num_labels=1, dtype=torch.float32,
                                                               attention_probs_dropout_prob=0.0)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    schedule = linear_schedule(optimizer, args.max_steps)
    checked = list(range(len(validation)))
    rng.shuffle(checked)
    checked = checked[:args.validation_size]

    def wrong_codes(i: int) -> list[int]:
        return [j for j in train_ranked[i] if train[j][1] != train[i][1]]

    usable = [i for i in range(len(train)) if len(wrong_codes(i)) >= args.group - 1]
    rng.shuffle(usable)
    curve = open(args.out / "curve.csv", "w", newline="")
    writer = csv.writer(curve)
    writer.writerow(["step", "seconds", "loss", "fused_mrr@10", "reranked_mrr@10"])
    print(f"{len(usable)} of {len(train)} training questions have {args.group - 1} wrong candidates; "
          f"{args.max_steps} steps of {args.batch}", flush=True)
    started = time.monotonic()
    losses: list[float] = []
    for step in range(args.max_steps):
        members = [usable[(step * args.batch + k) % len(usable)] for k in range(args.batch)]
        questions, codes = [], []
        for i in members:
            wrong = wrong_codes(i)[:args.hard_pool]
            picked = rng.sample(wrong, args.group - 1)
            questions.extend([train[i][0]] * args.group)
            codes.extend([train[i][1]] + [train[j][1] for j in picked])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            scores = score_pairs(model, tokenizer, questions, codes).float().view(args.batch, args.group)
        loss = torch.nn.functional.cross_entropy(scores, torch.zeros(args.batch, dtype=torch.long))
        losses.append(step_on(loss, model, optimizer, schedule))
        done = step + 1
        if done % 25 == 0:
            print(f"step {done}: loss {sum(losses[-25:]) / 25:.4f}, {time.monotonic() - started:.0f} s", flush=True)
        if done % args.validate_every == 0 or done == args.max_steps:
            fused_mrr, reranked = rerank_mrr(model, tokenizer, validation, validation_ranked, checked, args.bf16)
            elapsed = time.monotonic() - started
            writer.writerow([done, f"{elapsed:.0f}", f"{sum(losses) / len(losses):.4f}", f"{fused_mrr:.4f}",
                             f"{reranked:.4f}"])
            curve.flush()
            print(f"step {done}: loss {sum(losses) / len(losses):.4f}, validation MRR@10 fused {fused_mrr:.4f}, "
                  f"reranked {reranked:.4f}, {elapsed:.0f} s", flush=True)
            losses.clear()
            model.save_pretrained(args.out / "model")
            tokenizer.save_pretrained(args.out / "model")
    curve.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
