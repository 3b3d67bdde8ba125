"""How good search is while the first index is still embedding.

Embedding is the slow stage (minutes on a laptop CPU for a mid-sized project),
and search answers throughout: lexically for every chunk, semantically for the
chunks that have a vector so far. This replays the docstring → code eval of
`quality/eval_python.py` on copies of its index from which every vector past a given
share of the embedding work (model tokens) was removed, once per order the
indexer could embed in, and with and without search imputing a dense rank
for the chunks that have no vector yet:

  as chunked             texts in the order the chunk pool delivered them
  definition heads first the first window of every definition, then the
                         windows that continue long ones (what the indexer does)

    python -m benchmarks.quality.embedding_order /tmp/eval /tmp/proj/flask-3.1.0/src/flask /tmp/proj/rich-13.9.4/rich

(run `quality/eval_python.py --work /tmp/eval ...` first; it builds the index.)
"""
from __future__ import annotations

import os
import shutil
import tempfile

from benchmarks.quality.levers import eval_arguments, load_eval, score_search

SHARES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def embedding_work(store, tokens) -> list[tuple[str, bool, int]]:
    """(text hash, continues a definition, model tokens) of every embedded
    text, in the order the chunks were written."""
    return [(t.text_hash, t.continues_a_definition, tokens(t.embed_text)) for t in store.distinct_texts()]


def as_chunked(work):
    return work


def heads_first(work):
    return sorted(work, key=lambda w: w[1])  # stable: each tier keeps its order


# name -> (embedding order, whether search imputes the dense rank of chunks without a vector)
VARIANTS = {
    "as chunked, dense ranks only for chunks with a vector": (as_chunked, False),
    "as chunked, missing dense rank imputed": (as_chunked, True),
    "definition heads first, missing dense rank imputed (default)": (heads_first, True),
}


def first_share(work: list[tuple[str, bool, int]], share: float) -> set[str]:
    budget = share * sum(t for _, _, t in work)
    kept, spent = set(), 0
    for h, _, t in work:
        if spent + t > budget:
            break
        spent += t
        kept.add(h)
    return kept




def main() -> int:
    args = eval_arguments(__doc__)
    queries, workspaces, vectors = load_eval(args.work, args.projects)
    from fathom.index.tokens import TokenCounter
    from fathom.config import Settings
    from fathom.workspace import Workspace

    spec = next(iter(workspaces.values())).spec
    counter = TokenCounter(spec.tokenizer_json)
    work = {name: embedding_work(ws.reader, counter.count) for name, ws in workspaces.items()}
    for name, ws in workspaces.items():
        ws.close()
        total = sum(t for _, _, t in work[name])
        tail = sum(t for _, cont, t in work[name] if cont)
        print(f"{name}: {len(work[name])} texts, {total} tokens, {tail / total:.0%} of them in continuation windows")

    from fathom.search import SearchOptions

    print("| variant | share of embedding done | MRR@10 | Recall@10 | strict MRR@10 |")
    print("| --- | --- | --- | --- | --- |")
    for variant, (order, impute) in VARIANTS.items():
        for share in SHARES:
            with tempfile.TemporaryDirectory() as cache:
                shutil.copytree(args.work / "cache", cache, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("*.lock"))
                os.environ["FATHOM_CACHE_DIR"] = cache
                partial = {name: Workspace(ws.root, Settings.from_env()) for name, ws in workspaces.items()}
                for name, ws in partial.items():
                    ws.writer.keep_vectors_of(first_share(order(work[name]), share))
                s = score_search(queries, partial, vectors, SearchOptions(impute_dense_rank=impute))
                for ws in partial.values():
                    ws.close()
            print(f"| {variant} | {share:.0%} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | "
                  f"{s['strict_mrr@10']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
