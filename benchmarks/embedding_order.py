"""How good search is while the first index is still embedding.

Embedding is the slow stage (minutes on a laptop CPU for a mid-sized project),
and search answers throughout: lexically for every chunk, semantically for the
chunks that have a vector so far. This replays the docstring → code eval of
`quality_eval.py` on copies of its index from which every vector past a given
share of the embedding work (model tokens) was removed, once per order the
indexer could embed in, and with and without search imputing a dense rank
for the chunks that have no vector yet:

  as chunked             texts in the order the chunk pool delivered them
  definition heads first the first window of every definition, then the
                         windows that continue long ones (what the indexer does)

    python benchmarks/embedding_order.py /tmp/eval /tmp/proj/flask-3.1.0/src/flask /tmp/proj/rich-13.9.4/rich

(run `quality_eval.py --work /tmp/eval ...` first; it builds the index.)
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_levers import eval_arguments, load_eval, score_search  # noqa: E402

SHARES = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)


def embedding_work(store, tokens) -> list[tuple[str, bool, int]]:
    """(text hash, continues a definition, model tokens) of every embedded
    text, in the order the chunks were written."""
    from fathom.models import CONTINUED

    rows = store.conn.execute(
        "SELECT c.text_hash, c.header, c.text FROM chunks c"
        " GROUP BY c.text_hash ORDER BY min(c.id)"
    ).fetchall()
    return [
        (h, header.endswith(CONTINUED), tokens(f"{header}\n{text}" if header else text))
        for h, header, text in rows
    ]


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


def keep_only(store, hashes: set[str]) -> None:
    conn = store.conn
    with conn:
        for h, vid in conn.execute("SELECT text_hash, vector_id FROM embedded").fetchall():
            if h not in hashes:
                conn.execute("DELETE FROM vectors WHERE rowid=?", (vid,))
                conn.execute("DELETE FROM embedded WHERE text_hash=?", (h,))


def main() -> int:
    args = eval_arguments(__doc__)
    queries, workspaces, vectors = load_eval(args.work, args.projects)
    from fathom.chunker import TokenCounter
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

    from fathom import search as search_module

    print("| variant | share of embedding done | MRR@10 | Recall@10 | strict MRR@10 |")
    print("| --- | --- | --- | --- | --- |")
    for variant, (order, impute) in VARIANTS.items():
        search_module.IMPUTE_DENSE_RANK = impute
        for share in SHARES:
            with tempfile.TemporaryDirectory() as cache:
                shutil.copytree(args.work / "cache", cache, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("*.lock"))
                os.environ["FATHOM_CACHE_DIR"] = cache
                partial = {name: Workspace(ws.root, Settings.from_env()) for name, ws in workspaces.items()}
                for name, ws in partial.items():
                    keep_only(ws.writer, first_share(order(work[name]), share))
                s = score_search(queries, partial, vectors)
                for ws in partial.values():
                    ws.close()
            print(f"| {variant} | {share:.0%} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | "
                  f"{s['strict_mrr@10']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
