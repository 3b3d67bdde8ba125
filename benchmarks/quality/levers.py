"""Query-side levers of Fathom's search, measured on the docstring → code evals.

Reuses the stripped trees, the queries and the index that an eval run with
`--work DIR` left (`eval_python`, `eval_js`, `eval_lang`), embeds each query
once, then scores Fathom's `Searcher` with one `SearchOptions` lever changed at a time:

    python -m benchmarks.quality.levers /tmp/eval [--variants default,convex 0.7]

`--breakdown` instead splits the fused ranking's strict figure by its halves:
each half alone, the questions each half ranks first and the fusion does not,
and the ceiling of a per-question choice between the fusion and the dense half.
`--any-answer` asks a sentence that documents several definitions once, and
counts a hit on any of them (either way of scoring reads the same index).
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace
from pathlib import Path

from fathom.index.policy import is_release_notes
from fathom.search import SearchOptions
from fathom.search.hybrid import levers_for

from benchmarks.quality.eval_python import Query, rank_of_any, same_questions, scores, test_share

VARIANTS: dict[str, SearchOptions] = {
    # Each is the default with one lever moved (the last ones: the ranking as it was).
    "default": SearchOptions(),
    "every window a hit": SearchOptions(one_hit_per_definition=False),
    "lexical only": SearchOptions(dense_weight=0.0),
    "dense only": SearchOptions(lexical_weight=0.0),
    "rrf": SearchOptions(fusion="rrf"),
    "convex 0.4": SearchOptions(dense_share=0.4),
    "convex 0.6": SearchOptions(dense_share=0.6),
    "convex 0.7": SearchOptions(dense_share=0.7),
    "convex 0.8": SearchOptions(dense_share=0.8),
    "lexical scores min-max": SearchOptions(lexical_from_zero=False),
    "no name boost": SearchOptions(name_boost_ranks=0.0),
    "name boost 0.1": SearchOptions(convex_name_boost=0.1),
    "name boost 0.3": SearchOptions(convex_name_boost=0.3),
    "no name-prefix match": SearchOptions(name_prefix_match=False),
    "every type boosted by name": SearchOptions(type_boost_needs_lookup=False),
    "every name boosted only on lookups": SearchOptions(name_boost_needs_lookup=True),
    "shared name boost": SearchOptions(shared_name_boost=True),
    "containers as members": SearchOptions(container_weight=1.0),
    "containers x0.7": SearchOptions(container_weight=0.7),
    "test code x1": SearchOptions(test_code_weight=1.0),
    "test code x0.3": SearchOptions(test_code_weight=0.3),
    "test code x0.5": SearchOptions(test_code_weight=0.5),
    "test code x0.1": SearchOptions(test_code_weight=0.1),
    "release notes x1": SearchOptions(release_notes_weight=1.0),
    "release notes x0.3": SearchOptions(release_notes_weight=0.3),
    "release notes x0.2": SearchOptions(release_notes_weight=0.2),
    "sentences boost names x1": SearchOptions(sentence_name_boost=1.0),
    "sentences boost names x0.5": SearchOptions(sentence_name_boost=0.5),
    "sentences boost no names": SearchOptions(sentence_name_boost=0.0),
    "prose shift +0.05": SearchOptions(prose_shift=0.05),
    "prose shift +0.1": SearchOptions(prose_shift=0.1),
    "session 13's ranking (rrf, every name boosted, containers and tests as any code)": SearchOptions(
        fusion="rrf", type_boost_needs_lookup=False, container_weight=1.0, test_code_weight=1.0),
    "session 13's ranking, rrf k=60 lexical 0.5": SearchOptions(
        fusion="rrf", type_boost_needs_lookup=False, container_weight=1.0, test_code_weight=1.0, lexical_weight=0.5),
}


def load_eval(work: Path, projects: list[Path] | None = None, phrase=None, query_model: str | None = None):
    """The eval's queries (each reworded by `phrase`, when given), a Workspace
    per project over `work`'s index, and each query's vector (embedded once, here,
    by `query_model` when given: a query encoder trained against the index's model)."""
    os.environ["FATHOM_CACHE_DIR"] = str(work / "cache")
    from fathom.config import Settings
    from fathom.embed.local import LocalEmbedder as Embedder
    from fathom.workspace import Workspace

    queries = [Query(**q) for q in json.loads((work / "queries.json").read_text())]
    if phrase is not None:
        queries = [replace(q, text=phrase(q.text)) for q in queries]
    names = sorted({q.project for q in queries})
    workspaces = {name: Workspace(work / "trees" / name, Settings.from_env()) for name in names}
    from fathom.embed.modelspec import resolve_model

    spec = resolve_model(query_model) if query_model else next(iter(workspaces.values())).spec
    embedder = Embedder(spec, "cpu")
    vectors = QueryVectors({q.text: embedder.embed_query(q.text, timeout=60) for q in queries})
    if embedder.reads_questions_apart:  # as the server asks: prose against the model's own reading
        vectors.as_text = {q.text: embedder.embed_query(q.text, timeout=60, as_code=True) for q in queries}.get
    embedder.close()
    return queries, workspaces, vectors


class QueryVectors(dict):
    """Each query's vector (its question encoder's, where the model has one),
    and `as_text`: the model's own reading of it, which the server ranks
    Markdown and plain text against, where the model has a question encoder."""

    as_text = None


def search_ranks(queries, workspaces, vectors, options: SearchOptions = SearchOptions(),
                 paths: list[str] | None = None, any_answer: bool = False) -> tuple[list, list, list]:
    """Each query's loose and strict rank of its function under these options
    (and only the files `paths` match, as a user scoping a search would), and
    the results shown. With `any_answer`, a sentence asked of several definitions
    is one question that any of them answers (`eval_python.same_questions`)."""
    from fathom.search import Searcher

    asked = same_questions(queries) if any_answer else [[q] for q in queries]
    ranks, strict, shown = [], [], []
    for answers in asked:
        q = answers[0]
        hits = Searcher(workspaces[q.project].reader, vectors.__getitem__, options,
                        embed_as_text=getattr(vectors, "as_text", None)).search(q.text, 10, paths).hits
        results = [(f"{q.project}/{h.relpath}", h.range.start_line, h.range.end_line, h.name) for h in hits]
        ranks.append(rank_of_any(results, answers))
        strict.append(rank_of_any(results, answers, strict=True))
        shown.append(results)
    return ranks, strict, shown


def score_search(queries, workspaces, vectors, options: SearchOptions = SearchOptions(),
                 paths: list[str] | None = None, any_answer: bool = False) -> dict:
    """eval_python's scores for Fathom's Searcher with these options."""
    ranks, strict, shown = search_ranks(queries, workspaces, vectors, options, paths, any_answer)
    with_notes = sum(any(is_release_notes(path.split("/", 1)[1]) for path, *_ in results[:5]) for results in shown)
    return {**scores(ranks, strict), "tests@5": test_share(shown), "notes@5": with_notes / max(1, len(shown))}


def fusion_breakdown(fused: list[int | None], dense: list[int | None], lexical: list[int | None]) -> dict:
    """Where the fusion of the two halves wins and loses, from each query's
    strict rank under the fusion and under each half alone."""
    def mrr(ranks):
        return scores(ranks, ranks)["mrr@10"]

    return {
        "fused": mrr(fused), "dense": mrr(dense), "lexical": mrr(lexical),
        # A per-query oracle choosing the fusion or the dense half: what any
        # query-adaptive dense share could at most reach.
        "best of fused and dense": mrr([min((r for r in pair if r is not None), default=None)
                                        for pair in zip(fused, dense)]),
        "dense first, fused not": sum(1 for f, d in zip(fused, dense) if d == 0 and f != 0),
        "lexical first, fused not": sum(1 for f, w in zip(fused, lexical) if w == 0 and f != 0),
        "fused first, neither half": sum(1 for f, d, w in zip(fused, dense, lexical) if f == 0 and d != 0 and w != 0),
        "missed by all three": sum(1 for trio in zip(fused, dense, lexical) if all(r is None for r in trio)),
    }


def eval_arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="the --work folder of a quality eval's run")
    parser.add_argument("projects", nargs="*", type=Path, help="(ignored: the queries come from WORK)")
    parser.add_argument("--variants", help="names of VARIANTS separated by semicolons (default: all)")
    parser.add_argument("--paths", action="append",
                        help="search only the files this glob matches (repeatable): `**/*.md` asks "
                             "eval_docs' questions of the documentation alone, as its dense baseline does")
    parser.add_argument("--dense-share", type=float,
                        help="the dense share of every variant that does not set its own (default: "
                             "GENERAL_MODEL_LEVERS' share, what a model other than Fathom's own gets)")
    parser.add_argument("--candidates", type=int,
                        help="each half's candidate pool in every variant (default: SearchOptions.candidates)")
    parser.add_argument("--query-model",
                        help="embed the questions with this model (a query encoder, benchmarks/model/query_tower.py) "
                             "against the index's vectors of the model it was trained with")
    parser.add_argument("--model-levers",
                        help="each lever a variant leaves open set as for this model id (search/hybrid.py "
                             "levers_for), as the server sets it: fathom-code-minilm-v3 for the shipped model")
    parser.add_argument("--breakdown", action="store_true",
                        help="the default ranking (at --dense-share) against its dense and lexical halves")
    parser.add_argument("--any-answer", action="store_true",
                        help="ask a sentence that documents several definitions once, any of them a right answer")
    return parser.parse_args()


def main() -> int:
    args = eval_arguments(__doc__)
    queries, workspaces, vectors = load_eval(args.work, query_model=args.query_model)
    if args.breakdown:
        fused, dense, lexical = (
            search_ranks(queries, workspaces, vectors, replace(options, dense_share=args.dense_share), args.paths,
                         args.any_answer)[1]
            for options in (SearchOptions(), VARIANTS["dense only"], VARIANTS["lexical only"]))
        for name, value in fusion_breakdown(fused, dense, lexical).items():
            print(f"{name}: {value}")
        return 0
    chosen = args.variants.split(";") if args.variants else list(VARIANTS)
    asked = len(same_questions(queries)) if args.any_answer else len(queries)
    print(f"{asked} questions over {', '.join(workspaces)}")
    print("| variant | MRR@10 | Recall@10 | strict MRR@10 | strict Recall@10 | test code in top 5 "
          "| questions with release notes in the top 5 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in chosen:
        options = VARIANTS[name]
        if args.dense_share is not None and options.dense_share is None:
            options = replace(options, dense_share=args.dense_share)
        if args.candidates is not None:
            options = replace(options, candidates=args.candidates)
        if args.model_levers:
            options = levers_for(options, args.model_levers)
        s = score_search(queries, workspaces, vectors, options, args.paths, args.any_answer)
        print(f"| {name} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | {s['strict_mrr@10']:.3f} | "
              f"{s['strict_recall@10']:.3f} | {s['tests@5']:.1%} | {s['notes@5']:.1%} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
