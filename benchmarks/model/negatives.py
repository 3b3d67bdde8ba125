"""Hard negatives for the training pairs, mined with a trained model or by the words.

For each training question: the code of its own package that the model ranks
highest among the wrong answers, and that is not a likely second right one. A
wrong code scoring at least MARGIN times the right one's cosine is passed over
(it is often an overload, a wrapper or a copy: a false negative teaches the model
to pull apart what belongs together), as are codes or questions identical to the
pair's own. `train.py --negatives FILE` then adds each batch's negatives as
extra codes every question of the batch is scored against.

`--by words` ranks the wrong codes by BM25 over their words instead (`words.py`):
the codes Fathom's words half pushes up for the question, which the model's
cosine must then keep below the right one. Codes of the right one's name are
passed over there, as likely second right answers.

    .venv/bin/python -m benchmarks.model.negatives /tmp/fathom-model/pairs.jsonl \\
        --model /tmp/fathom-model/run2/model --out /tmp/fathom-model/negatives.json
    .venv/bin/python -m benchmarks.model.negatives /tmp/fathom-model3/pairs-run6.jsonl \\
        --by words --out /tmp/fathom-model5/negatives-words.json
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

    def package_scores(index):
        scores = questions[index] @ codes[index].T
        right = scores.diagonal()
        # Under MARGIN times the right code's cosine (under the right one's itself where that is negative).
        ceiling = torch.where(right > 0, margin * right, right).unsqueeze(1)
        return scores, scores >= ceiling

    return _best_wrong(package_scores, pairs, sources)


def words_negatives(pairs: list[tuple[str, str]], sources: list[str]) -> list[int]:
    """For each pair, the code of its package that BM25 over the words ranks
    highest among the wrong ones (what Fathom's words half pushes up), or -1
    where no wrong code shares a word with the question. Codes of the same name
    as the right one (overloads, an interface and its implementation) are
    passed over: likely second right answers."""
    import torch

    from benchmarks.model.words import bm25_matrix

    names = [code.split("\n", 1)[0] for _, code in pairs]

    def package_scores(index):
        members = index.tolist()
        scores = bm25_matrix([pairs[i][0] for i in members], [pairs[i][1] for i in members])
        named = [names[i] for i in members]
        same_name = torch.tensor([[a == b for b in named] for a in named])
        return scores, same_name | (scores <= 0)

    return _best_wrong(package_scores, pairs, sources)


def _best_wrong(package_scores, pairs: list[tuple[str, str]], sources: list[str]) -> list[int]:
    """Each pair's highest-scoring code of its own package, passing over its own
    code or question (and their copies) and whatever `package_scores` passes over:
    `package_scores(index)` gives the package's question × code scores and a mask."""
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
        scores, also_passed_over = package_scores(index)
        c, q = code_ids[index], question_ids[index]
        passed_over = (c.unsqueeze(1) == c.unsqueeze(0)) | (q.unsqueeze(1) == q.unsqueeze(0)) | also_passed_over
        best = scores.masked_fill(passed_over, float("-inf")).max(dim=1)
        for row, i in enumerate(members):
            if best.values[row] > float("-inf"):
                negatives[i] = members[int(best.indices[row])]
    return negatives


def main() -> int:
    from benchmarks.model.train import encode_pairs, load_pairs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("--by", choices=["model", "words"], default="model",
                        help="rank the wrong codes by a trained model's cosine, or by BM25 over their words")
    parser.add_argument("--model", help="the trained model that ranks the codes (--by model)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--question", choices=["query", "summary"], default="query")
    parser.add_argument("--margin", type=float, default=MARGIN)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    pairs, sources = load_pairs(args.pairs, "train", args.question)
    started = time.monotonic()
    if args.by == "words":
        negatives = words_negatives(pairs, sources)
    else:
        if not args.model:
            parser.error("--by model needs --model")
        import torch
        from sentence_transformers import SentenceTransformer

        from fathom.embed.modelspec import resolve_model

        if args.threads:
            torch.set_num_threads(args.threads)
        model = SentenceTransformer(resolve_model(args.model).load_path, device="cpu",
                                    model_kwargs={"dtype": torch.float32})
        model.eval()
        questions, codes = encode_pairs(model, pairs)
        negatives = hardest_negatives(questions, codes, pairs, sources, args.margin)
    args.out.write_text(json.dumps({"by": args.by, "model": args.model, "margin": args.margin,
                                    "question": args.question, "negatives": negatives}))
    found = sum(n >= 0 for n in negatives)
    print(f"{found} of {len(pairs)} pairs have a hard negative ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
