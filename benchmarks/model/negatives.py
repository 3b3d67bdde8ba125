"""Hard negatives for the training pairs, mined with a trained model.

For each training question: the code of its own package that the model ranks
highest among the wrong answers, and that is not a likely second right one. A
wrong code scoring at least MARGIN times the right one's cosine is passed over
(it is often an overload, a wrapper or a copy: a false negative teaches the model
to pull apart what belongs together), as are codes or questions identical to the
pair's own. `train.py --negatives FILE` then adds each batch's negatives as
extra codes every question of the batch is scored against.

    .venv/bin/python -m benchmarks.model.negatives /tmp/fathom-model/pairs.jsonl \\
        --model /tmp/fathom-model/run2/model --out /tmp/fathom-model/negatives.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

MARGIN = 0.95


def hardest_negatives(questions, codes, pairs: list[tuple[str, str]], sources: list[str],
                      margin: float = MARGIN) -> list[int]:
    """For each pair, the index of its hardest negative among its package's
    other pairs' codes, or -1. `questions`, `codes`: normalised embeddings
    (torch tensors, one row per pair)."""
    import torch

    negatives = [-1] * len(pairs)
    by_source: dict[str, list[int]] = {}
    for i, source in enumerate(sources):
        by_source.setdefault(source, []).append(i)
    same_code: dict[str, int] = {}
    same_question: dict[str, int] = {}
    code_ids = torch.tensor([same_code.setdefault(code, len(same_code)) for _, code in pairs])
    question_ids = torch.tensor([same_question.setdefault(asked, len(same_question)) for asked, _ in pairs])
    for members in by_source.values():
        index = torch.tensor(members)
        scores = questions[index] @ codes[index].T
        right = scores.diagonal()
        # Under MARGIN times the right code's cosine (under the right one's itself where that is negative).
        ceiling = torch.where(right > 0, margin * right, right).unsqueeze(1)
        c, q = code_ids[index], question_ids[index]
        passed_over = (c.unsqueeze(1) == c.unsqueeze(0)) | (q.unsqueeze(1) == q.unsqueeze(0)) | (scores >= ceiling)
        best = scores.masked_fill(passed_over, float("-inf")).max(dim=1)
        for row, i in enumerate(members):
            if best.values[row] > float("-inf"):
                negatives[i] = members[int(best.indices[row])]
    return negatives


def main() -> int:
    from benchmarks.model.train import encode_pairs, load_pairs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--model", required=True, help="the trained model that ranks the codes")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--question", choices=["query", "summary"], default="query")
    parser.add_argument("--margin", type=float, default=MARGIN)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from fathom.embed.modelspec import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    pairs, sources = load_pairs(args.pairs, "train", args.question)
    model = SentenceTransformer(resolve_model(args.model).load_path, device="cpu",
                                model_kwargs={"dtype": torch.float32})
    model.eval()
    started = time.monotonic()
    questions, codes = encode_pairs(model, pairs)
    negatives = hardest_negatives(questions, codes, pairs, sources, args.margin)
    args.out.write_text(json.dumps({"model": args.model, "margin": args.margin, "question": args.question,
                                    "negatives": negatives}))
    found = sum(n >= 0 for n in negatives)
    print(f"{found} of {len(pairs)} pairs have a hard negative ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
