"""Fine-tune all-MiniLM-L6-v2 on the mined pairs: Fathom's own code-search model.

    .venv/bin/python -m benchmarks.model.train /tmp/fathom-model/pairs.jsonl --out /tmp/fathom-model/run \\
        [--epochs 1] [--batch 32] [--max-steps N] [--resume]

In-batch negatives (multiple-negatives ranking loss: each question against every
code of its batch), AdamW with a linear warm-up and decay, seeded: the same pairs
and flags give the same model. Checkpoints (model, optimizer, step) go to OUT
every `--checkpoint-every` steps and `--resume` carries on from the last one, so
a run of hours on a 2-core CPU survives being stopped. The validation split's
MRR@10 (its questions against all its code, never the quality evals) is written
to OUT/curve.csv as it goes.
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


def load_pairs(path: Path, split: str, question: str) -> list[tuple[str, str]]:
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            if record["split"] == split:
                pairs.append((record[question], record["code"]))
    return pairs


def encode(model, texts: list[str], max_tokens: int):
    import torch

    features = (getattr(model, "preprocess", None) or model.tokenize)(texts)
    features = {k: v[:, :max_tokens] if isinstance(v, torch.Tensor) and v.dim() == 2 else v
                for k, v in features.items()}
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=1)


def validation_mrr(model, pairs: list[tuple[str, str]], batch: int = 64) -> float:
    """MRR@10 of each validation question against every validation code."""
    import torch

    if not pairs:
        return float("nan")
    model.eval()
    with torch.inference_mode():
        queries = torch.cat([encode(model, [q for q, _ in pairs[i:i + batch]], QUERY_TOKENS)
                             for i in range(0, len(pairs), batch)])
        codes = torch.cat([encode(model, [c for _, c in pairs[i:i + batch]], CODE_TOKENS)
                           for i in range(0, len(pairs), batch)])
        scores = queries @ codes.T
        right = scores.diagonal().unsqueeze(1)
        ranks = (scores > right).sum(dim=1) + 1
    model.train()
    return float(torch.where(ranks <= 10, 1.0 / ranks, torch.zeros_like(ranks, dtype=torch.float)).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--base", default="all-MiniLM-L6-v2", help="the model to start from (name or directory)")
    parser.add_argument("--question", choices=["query", "summary"], default="query",
                        help="which form of the doc is the question: its first sentence, or its first paragraph")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: the epochs')")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument("--validation-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from fathom.embed.modelspec import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(SEED)
    torch.manual_seed(SEED)
    train = load_pairs(args.pairs, "train", args.question)
    validation = load_pairs(args.pairs, "validation", args.question)
    random.Random(SEED).shuffle(validation)
    validation = validation[: args.validation_size]
    order = list(range(len(train)))
    random.Random(SEED).shuffle(order)
    steps_per_epoch = len(train) // args.batch
    total = args.max_steps or int(steps_per_epoch * args.epochs)
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoint = args.out / "checkpoint"
    start_step = 0
    if args.resume and (checkpoint / "state.pt").exists():
        model = SentenceTransformer(str(checkpoint), device="cpu")
        state = torch.load(checkpoint / "state.pt")
        start_step = state["step"]
    else:
        model = SentenceTransformer(resolve_model(args.base).load_path, device="cpu")
        state = None
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup))))
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
    curve = open(args.out / "curve.csv", "a", newline="")
    writer = csv.writer(curve)
    if start_step == 0:
        writer.writerow(["step", "seconds", "loss", "validation_mrr@10"])
        writer.writerow([0, 0, "", f"{validation_mrr(model, validation):.4f}"])
        curve.flush()
    print(f"{len(train)} training pairs, {len(validation)} for validation; steps {start_step} -> {total}", flush=True)
    started = time.monotonic()
    losses: list[float] = []
    for step in range(start_step, total):
        offset = (step % steps_per_epoch) * args.batch
        epoch_order = order if step // steps_per_epoch == 0 else \
            random.Random(SEED + step // steps_per_epoch).sample(order, len(order))
        batch = [train[i] for i in epoch_order[offset:offset + args.batch]]
        queries = encode(model, [q for q, _ in batch], QUERY_TOKENS)
        codes = encode(model, [c for _, c in batch], CODE_TOKENS)
        loss = torch.nn.functional.cross_entropy(SCALE * queries @ codes.T, torch.arange(len(batch)))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % args.validate_every == 0 or done == total:
            mrr = validation_mrr(model, validation)
            elapsed = time.monotonic() - started
            writer.writerow([done, f"{elapsed:.0f}", f"{sum(losses) / len(losses):.4f}", f"{mrr:.4f}"])
            curve.flush()
            print(f"step {done}/{total}: loss {sum(losses) / len(losses):.4f}, validation MRR@10 {mrr:.4f}, "
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
