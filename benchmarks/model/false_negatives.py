"""How often a training batch holds a second right answer: what masking false
negatives in the loss (GISTEmbed's lever) could change.

    .venv/bin/python -m benchmarks.model.false_negatives /tmp/fathom-model3/pairs-run6.jsonl \\
        --model fathom-code-minilm-v3 --batches 30 --batching source

For the first `--batches` batches `train.py` would cut (same seed, size and
batching): questions asked twice in one batch, codes with a near copy in their
batch (the model's cosine at or above `--near`), and questions for which some
other code of the batch already scores above their own (the loss's signal).
"""
from __future__ import annotations

import argparse
from pathlib import Path


def main() -> int:
    from benchmarks.model.train import CODE_TOKENS, QUERY_TOKENS, code_lengths, encode, epoch_batches, load_pairs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--model", default="fathom-code-minilm-v3")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batching", choices=["length", "source", "random"], default="source")
    parser.add_argument("--near", type=float, default=0.95)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from fathom.embed.modelspec import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    pairs, sources = load_pairs(args.pairs, "train", "query")
    model = SentenceTransformer(resolve_model(args.model).load_path, device="cpu",
                                model_kwargs={"dtype": torch.float32})
    model.eval()
    lengths = code_lengths(model, [c for _, c in pairs])
    batches = epoch_batches(lengths, sources, args.batch, 0, args.batching)[:args.batches]
    seen = asked_twice = near_copies = beaten = 0
    with torch.inference_mode():
        for members in batches:
            questions, codes = [pairs[i][0] for i in members], [pairs[i][1] for i in members]
            asked_twice += len(questions) - len(set(questions))
            q, c = encode(model, questions, QUERY_TOKENS), encode(model, codes, CODE_TOKENS)
            alike = c @ c.T
            alike.fill_diagonal_(-1.0)
            near_copies += int((alike.max(dim=1).values >= args.near).sum())
            scores = q @ c.T
            beaten += int((scores > scores.diagonal().unsqueeze(1)).any(dim=1).sum())
            seen += len(members)
    print(f"{seen} pairs in {len(batches)} batches of {args.batch} ({args.batching}): "
          f"questions asked twice in their batch {asked_twice}, codes with a near copy "
          f"(cosine >= {args.near}) in their batch {near_copies}, questions with another code "
          f"of their batch above their own {beaten}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
