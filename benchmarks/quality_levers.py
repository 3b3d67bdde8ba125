"""Query-side levers of Fathom's search, measured on the docstring → code eval.

Reuses the stripped trees and the index that `quality_eval.py --work DIR` built
(run that first), embeds each query once, then scores Fathom's `Searcher` with
one setting changed at a time:

    python benchmarks/quality_levers.py /tmp/eval /tmp/proj/flask-3.1.0/src/flask /tmp/proj/rich-13.9.4/rich
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_eval import prepare, rank_of_hit, scores  # noqa: E402

# name -> overrides of fathom.search's module constants
VARIANTS: dict[str, dict] = {
    "default": {},
    "every window a hit": {"ONE_HIT_PER_DEFINITION": False},
    "lexical only": {"DENSE_WEIGHT": 0.0},
    "dense only": {"LEXICAL_WEIGHT": 0.0},
    "lexical weight 0.5": {"LEXICAL_WEIGHT": 0.5},
    "lexical weight 0.3": {"LEXICAL_WEIGHT": 0.3},
    "no name boost": {"NAME_BOOST": 0.0},
    "lexical 0.5, no name boost": {"LEXICAL_WEIGHT": 0.5, "NAME_BOOST": 0.0},
    "no name-prefix match": {"NAME_PREFIX_MATCH": False},
    "name-prefix match from 3 characters": {"NAME_PREFIX_MIN_CHARS": 3},
    "name-prefix match from 5 characters": {"NAME_PREFIX_MIN_CHARS": 5},
}


def load_eval(work: Path, projects: list[Path]):
    """The eval's queries, a Workspace per project over `work`'s index, and
    each query's vector (embedded once, here)."""
    os.environ["FATHOM_CACHE_DIR"] = str(work / "cache")
    from fathom.config import Settings
    from fathom.embedder import Embedder
    from fathom.workspace import Workspace

    queries, _, _ = prepare([p.resolve() for p in projects], Path(tempfile.mkdtemp()))
    roots = {p.resolve().name: work / "trees" / p.resolve().name for p in projects}
    workspaces = {name: Workspace(root, Settings.from_env()) for name, root in roots.items()}
    embedder = Embedder(next(iter(workspaces.values())).spec, "cpu")
    vectors = {q.text: embedder.embed_query(q.text, timeout=60) for q in queries}
    embedder.close()
    return queries, workspaces, vectors


def score_search(queries, workspaces, vectors) -> dict:
    """quality_eval's scores for Fathom's Searcher as the module stands now."""
    from fathom.search import Searcher

    ranks, strict = [], []
    for q in queries:
        hits = Searcher(workspaces[q.project].reader, vectors.__getitem__).search(q.text, 10).hits
        results = [(f"{q.project}/{h.relpath}", h.range.start_line, h.range.end_line) for h in hits]
        ranks.append(rank_of_hit(results, q))
        strict.append(rank_of_hit(results, q, strict=True))
    return scores(ranks, strict)


def eval_arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="the --work folder of a quality_eval.py run")
    parser.add_argument("projects", nargs="+", type=Path)
    return parser.parse_args()


def main() -> int:
    args = eval_arguments(__doc__)
    from fathom import search as search_module

    queries, workspaces, vectors = load_eval(args.work, args.projects)
    defaults = {k: getattr(search_module, k) for v in VARIANTS.values() for k in v}
    print("| variant | MRR@10 | Recall@10 | strict MRR@10 | strict Recall@10 |")
    print("| --- | --- | --- | --- | --- |")
    for name, overrides in VARIANTS.items():
        for key, value in {**defaults, **overrides}.items():
            setattr(search_module, key, value)
        s = score_search(queries, workspaces, vectors)
        print(f"| {name} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | {s['strict_mrr@10']:.3f} | "
              f"{s['strict_recall@10']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
