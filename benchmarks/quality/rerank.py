"""A reranker over Fathom's ranking, measured on a docstring → code eval.

Reuses an eval run's `--work` folder as `levers.py` does. For each question,
Fathom's top DEPTH hits (its Searcher, at `--dense-share`, the questions read by
`--query-model` when given), each hit's chunk as the index holds it (header and
text), scored with the question by a cross-encoder (`benchmarks/model/reranker.py`);
then strict and loose MRR@10 of Fathom's order, of the reranker's order of its
top N, and of the two orders blended by reciprocal rank:

    FATHOM_MODEL=/tmp/models/fathom-code-minilm-v3 .venv/bin/python -m benchmarks.quality.rerank \\
        /tmp/evals/shipped-py --dense-share 0.7 --reranker /tmp/fathom-rr/run1/model --threads 2
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from fathom.search import SearchOptions

from benchmarks.quality.eval_python import rank_of_hit, scores
from benchmarks.quality.levers import load_eval

DEPTH = 20
RRF_K = 5  # a small k: the blend's top follows whichever order is confident near its own top


def candidates(queries, workspaces, vectors, options: SearchOptions, depth: int):
    """Each query's top `depth` results (as rank_of_hit reads them) and the text
    the reranker reads for each: the chunk's header and text, as the model embedded it."""
    from fathom.search import Searcher

    shown, texts = [], []
    for q in queries:
        reader = workspaces[q.project].reader
        hits = Searcher(reader, vectors.__getitem__, options,
                        embed_as_text=getattr(vectors, "as_text", None)).search(q.text, depth).hits
        shown.append([(f"{q.project}/{h.relpath}", h.range.start_line, h.range.end_line, h.name) for h in hits])
        row = []
        for h in hits:
            chunks = [c for _, c in reader.chunks_at(h.relpath, h.range.start_line)
                      if c.name == h.name and c.range.start_line == h.range.start_line]
            chunk = chunks[0] if chunks else None
            row.append(f"{chunk.header}\n{chunk.text}" if chunk and chunk.header else (chunk.text if chunk else h.snippet))
        texts.append(row)
    return shown, texts


def cross_scores(model_path: str, queries, texts, bf16: bool) -> list[list[float]]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from benchmarks.model.reranker import score_pairs

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, dtype=torch.float32)
    model.eval()
    out = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for q, row in zip(queries, texts):
            out.append(score_pairs(model, tokenizer, [q.text] * len(row), row).float().tolist() if row else [])
    return out


def reordered(shown, cross, top: int, blend: bool):
    """The first `top` results put in the reranker's order (or blended with
    Fathom's by reciprocal rank), the rest after them as they were."""
    head = list(range(min(top, len(shown))))
    by_cross = sorted(head, key=lambda i: -cross[i])
    if blend:
        place = {i: r for r, i in enumerate(by_cross)}
        head.sort(key=lambda i: -(1 / (RRF_K + i) + 1 / (RRF_K + place[i])))
    else:
        head = by_cross
    return [shown[i] for i in head] + shown[len(head):]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--reranker", required=True)
    parser.add_argument("--dense-share", type=float)
    parser.add_argument("--query-model")
    parser.add_argument("--depth", type=int, default=DEPTH)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    queries, workspaces, vectors = load_eval(args.work, query_model=args.query_model)
    shown, texts = candidates(queries, workspaces, vectors, SearchOptions(dense_share=args.dense_share), args.depth)
    started = time.monotonic()
    cross = cross_scores(args.reranker, queries, texts, args.bf16)
    seconds = time.monotonic() - started
    print(f"{len(queries)} queries, top {args.depth} scored in {seconds:.0f} s "
          f"({1000 * seconds / len(queries):.0f} ms a query)")
    print("| order | MRR@10 | Recall@10 | strict MRR@10 | strict Recall@10 |")
    print("| --- | --- | --- | --- | --- |")
    variants = [("Fathom", None, False)] + [(f"reranked top {n}", n, False) for n in (10, args.depth)] + \
               [(f"blended top {n}", n, True) for n in (10, args.depth)]
    for name, top, blend in variants:
        orders = shown if top is None else [reordered(s, c, top, blend) for s, c in zip(shown, cross)]
        s = scores([rank_of_hit(o, q) for o, q in zip(orders, queries)],
                   [rank_of_hit(o, q, strict=True) for o, q in zip(orders, queries)])
        print(f"| {name} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | {s['strict_mrr@10']:.3f} | "
              f"{s['strict_recall@10']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
