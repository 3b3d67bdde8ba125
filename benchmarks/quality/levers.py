"""Query-side levers of Fathom's search, measured on the docstring → code eval.

Reuses the stripped trees and the index that `benchmarks.quality.eval_python --work DIR`
built (run that first), embeds each query once, then scores Fathom's `Searcher`
with one `SearchOptions` lever changed at a time:

    python -m benchmarks.quality.levers /tmp/eval /tmp/proj/flask-3.1.0/src/flask /tmp/proj/rich-13.9.4/rich
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from fathom.search import SearchOptions

from benchmarks.quality.eval_python import prepare, rank_of_hit, scores

VARIANTS: dict[str, SearchOptions] = {
    "default": SearchOptions(),
    "every window a hit": SearchOptions(one_hit_per_definition=False),
    "lexical only": SearchOptions(dense_weight=0.0),
    "dense only": SearchOptions(lexical_weight=0.0),
    "lexical weight 0.5": SearchOptions(lexical_weight=0.5),
    "lexical weight 0.3": SearchOptions(lexical_weight=0.3),
    "no name boost": SearchOptions(name_boost_ranks=0.0),
    "lexical 0.5, no name boost": SearchOptions(lexical_weight=0.5, name_boost_ranks=0.0),
    "no name-prefix match": SearchOptions(name_prefix_match=False),
    "name-prefix match from 3 characters": SearchOptions(name_prefix_min_chars=3),
    "name-prefix match from 5 characters": SearchOptions(name_prefix_min_chars=5),
}


def load_eval(work: Path, projects: list[Path]):
    """The eval's queries, a Workspace per project over `work`'s index, and
    each query's vector (embedded once, here)."""
    os.environ["FATHOM_CACHE_DIR"] = str(work / "cache")
    from fathom.config import Settings
    from fathom.embed.local import LocalEmbedder as Embedder
    from fathom.workspace import Workspace

    queries, _, _ = prepare([p.resolve() for p in projects], Path(tempfile.mkdtemp()))
    roots = {p.resolve().name: work / "trees" / p.resolve().name for p in projects}
    workspaces = {name: Workspace(root, Settings.from_env()) for name, root in roots.items()}
    embedder = Embedder(next(iter(workspaces.values())).spec, "cpu")
    vectors = {q.text: embedder.embed_query(q.text, timeout=60) for q in queries}
    embedder.close()
    return queries, workspaces, vectors


def score_search(queries, workspaces, vectors, options: SearchOptions = SearchOptions()) -> dict:
    """eval_python's scores for Fathom's Searcher with these options."""
    from fathom.search import Searcher

    ranks, strict = [], []
    for q in queries:
        hits = Searcher(workspaces[q.project].reader, vectors.__getitem__, options).search(q.text, 10).hits
        results = [(f"{q.project}/{h.relpath}", h.range.start_line, h.range.end_line, h.name) for h in hits]
        ranks.append(rank_of_hit(results, q))
        strict.append(rank_of_hit(results, q, strict=True))
    return scores(ranks, strict)


def eval_arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="the --work folder of a benchmarks.quality.eval_python run")
    parser.add_argument("projects", nargs="+", type=Path)
    return parser.parse_args()


def main() -> int:
    args = eval_arguments(__doc__)
    queries, workspaces, vectors = load_eval(args.work, args.projects)
    print("| variant | MRR@10 | Recall@10 | strict MRR@10 | strict Recall@10 |")
    print("| --- | --- | --- | --- | --- |")
    for name, options in VARIANTS.items():
        s = score_search(queries, workspaces, vectors, options)
        print(f"| {name} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | {s['strict_mrr@10']:.3f} | "
              f"{s['strict_recall@10']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
