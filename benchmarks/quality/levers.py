"""Query-side levers of Fathom's search, measured on the docstring → code evals.

Reuses the stripped trees, the queries and the index that an eval run with
`--work DIR` left (`eval_python`, `eval_js`, `eval_lang`), embeds each query
once, then scores Fathom's `Searcher` with one `SearchOptions` lever changed at a time:

    python -m benchmarks.quality.levers /tmp/eval [--variants default,convex 0.7]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from fathom.search import SearchOptions

from benchmarks.quality.eval_python import Query, rank_of_hit, scores

VARIANTS: dict[str, SearchOptions] = {
    "default": SearchOptions(),
    "every window a hit": SearchOptions(one_hit_per_definition=False),
    "lexical only": SearchOptions(dense_weight=0.0),
    "dense only": SearchOptions(lexical_weight=0.0),
    "lexical weight 0.5": SearchOptions(lexical_weight=0.5),
    "no name boost": SearchOptions(name_boost_ranks=0.0),
    "no name-prefix match": SearchOptions(name_prefix_match=False),
    "shared name boost": SearchOptions(shared_name_boost=True),
    "type boost needs a lookup": SearchOptions(type_boost_needs_lookup=True),
    "containers x0.9": SearchOptions(container_weight=0.9),
    "containers x0.8": SearchOptions(container_weight=0.8),
    "convex 0.5": SearchOptions(fusion="convex", dense_share=0.5),
    "convex 0.6": SearchOptions(fusion="convex", dense_share=0.6),
    "convex 0.7": SearchOptions(fusion="convex", dense_share=0.7),
    "convex 0.8": SearchOptions(fusion="convex", dense_share=0.8),
    "convex 0.7, boost 0.1": SearchOptions(fusion="convex", dense_share=0.7, convex_name_boost=0.1),
    "convex 0.7, boost 0.3": SearchOptions(fusion="convex", dense_share=0.7, convex_name_boost=0.3),
}


def load_eval(work: Path, projects: list[Path] | None = None):
    """The eval's queries, a Workspace per project over `work`'s index, and
    each query's vector (embedded once, here)."""
    os.environ["FATHOM_CACHE_DIR"] = str(work / "cache")
    from fathom.config import Settings
    from fathom.embed.local import LocalEmbedder as Embedder
    from fathom.workspace import Workspace

    queries = [Query(**q) for q in json.loads((work / "queries.json").read_text())]
    names = sorted({q.project for q in queries})
    workspaces = {name: Workspace(work / "trees" / name, Settings.from_env()) for name in names}
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
    parser.add_argument("work", type=Path, help="the --work folder of a quality eval's run")
    parser.add_argument("projects", nargs="*", type=Path, help="(ignored: the queries come from WORK)")
    parser.add_argument("--variants", help="comma-separated names of VARIANTS (default: all)")
    return parser.parse_args()


def main() -> int:
    args = eval_arguments(__doc__)
    queries, workspaces, vectors = load_eval(args.work)
    chosen = args.variants.split(",") if args.variants else list(VARIANTS)
    print(f"{len(queries)} queries over {', '.join(workspaces)}")
    print("| variant | MRR@10 | Recall@10 | strict MRR@10 | strict Recall@10 |")
    print("| --- | --- | --- | --- | --- |")
    for name in chosen:
        s = score_search(queries, workspaces, vectors, VARIANTS[name])
        print(f"| {name} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | {s['strict_mrr@10']:.3f} | "
              f"{s['strict_recall@10']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
