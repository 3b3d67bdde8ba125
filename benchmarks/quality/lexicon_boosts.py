"""The lexicon's field weights (`SearchOptions.lexicon_weights`), chosen on held-out evals:
the lexical half of Fathom's search alone (no vectors) with FTS5 ranking, as on
every index below 250,000 chunks, against the lexicon with each set of weights
asked, on the stripped trees and queries a quality eval left in its `--work`
folder (`eval_python`, `eval_js`, `eval_lang`; `--methods bm25` is enough: the
index here is phase 1 only, made if the folder has none):

    .venv/bin/python -m benchmarks.quality.eval_lang go --methods bm25 --work /tmp/ev-go
    .venv/bin/python -m benchmarks.quality.lexicon_boosts /tmp/ev-go --boosts 1,0.3,1 8,3,1

The lexicon is forced on at this size; its weights apply at query time, so one
build serves every set.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path, help="the --work folder of a quality eval's run")
    parser.add_argument("--boosts", nargs="+", default=["1,0.3,1", "8,3,1", "1,1,1", "2,0.5,1", "0.5,0.3,1"],
                        help="name,path,body weights")
    args = parser.parse_args()
    os.environ["FATHOM_CACHE_DIR"] = str(args.work / "lexical-cache")
    from benchmarks.quality.eval_python import Query, rank_of_hit, scores
    from fathom.config import Settings
    from fathom.engine import Engine
    from fathom.search import Searcher, SearchOptions
    from fathom.search import lexicon as lexicon_module
    from fathom.workspace import Workspace

    queries = [Query(**q) for q in json.loads((args.work / "queries.json").read_text())]
    names = sorted({q.project for q in queries})
    with Engine(Settings.from_env()) as engine:
        for name in names:
            engine.index(args.work / "trees" / name, embed=False)
    workspaces = {name: Workspace(args.work / "trees" / name, Settings.from_env()) for name in names}
    lexicon_module.LEXICON_MIN_CHUNKS = 1
    for ws in workspaces.values():
        lexicon_module.lexicon_for(ws.reader).build_now(ws.reader)

    def scored(options: SearchOptions) -> dict:
        ranks, strict = [], []
        for q in queries:
            hits = Searcher(workspaces[q.project].reader, None, options).search(q.text, 10).hits
            results = [(f"{q.project}/{h.relpath}", h.range.start_line, h.range.end_line, h.name) for h in hits]
            ranks.append(rank_of_hit(results, q))
            strict.append(rank_of_hit(results, q, strict=True))
        return scores(ranks, strict)

    print(f"{len(queries)} queries over {', '.join(names)}; the lexical half alone")
    print("| full-text ranking | MRR@10 | Recall@10 | strict MRR@10 | strict Recall@10 |")
    print("| --- | --- | --- | --- | --- |")
    rows = [("FTS5, weights 8,3,1 (below 250,000 chunks)", SearchOptions(use_lexicon=False))]
    rows += [(f"lexicon, weights {b}", SearchOptions(lexicon_weights=tuple(map(float, b.split(","))))) for b in args.boosts]
    for label, options in rows:
        s = scored(options)
        print(f"| {label} | {s['mrr@10']:.3f} | {s['recall@10']:.3f} | {s['strict_mrr@10']:.3f} | "
              f"{s['strict_recall@10']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
