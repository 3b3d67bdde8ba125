"""Whether two models' figures on one eval differ by more than the questions' draw.

Two runs of the same eval (the same stripped trees and questions), each with its own
`--work` folder and model: each question's strict reciprocal rank under each, and a
paired bootstrap of the strict MRR@10 difference (B − A) over the questions:

    python -m benchmarks.quality.paired /tmp/w-v3-python /tmp/w-v4-python

A candidate that moves an eval by less than the interval's half-width moved it by
what another draw of questions would undo; the figure says how much an eval's
"−0.004" means. Each folder's index is read with its own model (`levers.load_eval`),
so the figures are the server's (`levers.py` reproduces them exactly).
"""
from __future__ import annotations

import argparse
import os
import json
import random
from dataclasses import dataclass
from pathlib import Path

from fathom.search import SearchOptions


@dataclass(frozen=True)
class PairedDifference:
    questions: int
    mrr_a: float
    mrr_b: float
    low: float  # the bootstrap interval of mrr_b − mrr_a
    high: float
    better: int  # questions B ranks higher than A
    worse: int

    @property
    def difference(self) -> float:
        return self.mrr_b - self.mrr_a

    @property
    def settled(self) -> bool:
        """The interval leaves out zero: the draw of questions does not explain it."""
        return self.low > 0 or self.high < 0


def reciprocal(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / (rank + 1)


def paired_difference(a: list[float], b: list[float], resamples: int = 10_000, seed: int = 22,
                      level: float = 0.95) -> PairedDifference:
    """The mean of b − a over paired questions, with a percentile bootstrap interval
    (questions drawn with replacement, seeded: the same input gives the same interval)."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired scores of one eval's questions needed: {len(a)} against {len(b)}")
    n = len(a)
    deltas = [y - x for x, y in zip(a, b)]
    draw = random.Random(seed)
    means = sorted(sum(deltas[draw.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    tail = (1 - level) / 2
    return PairedDifference(
        questions=n, mrr_a=sum(a) / n, mrr_b=sum(b) / n,
        low=means[int(tail * resamples)], high=means[min(resamples - 1, int((1 - tail) * resamples))],
        better=sum(1 for d in deltas if d > 0), worse=sum(1 for d in deltas if d < 0))


def index_model(work: Path) -> str:
    """The model whose vectors `work`'s index holds (the eval's run chose it)."""
    os.environ["FATHOM_CACHE_DIR"] = str(work / "cache")
    from fathom.config import Settings
    from fathom.workspace import Workspace

    tree = next(p for p in sorted((work / "trees").iterdir()) if p.is_dir())
    workspace = Workspace(tree, Settings.from_env())
    try:
        model_id, _ = workspace.reader.vector_model()
    finally:
        workspace.close()
    if model_id is None:
        raise SystemExit(f"{work}: its index holds no vectors")
    return model_id


def strict_scores(work: Path) -> dict[tuple, float]:
    """Each question's strict reciprocal rank through Fathom's ranking over `work`'s index,
    read with the index's own model and that model's levers, as the server ranks;
    keyed by what identifies the question in either run."""
    from benchmarks.quality.levers import load_eval, search_ranks
    from fathom.search.hybrid import levers_for

    model_id = index_model(work)
    os.environ["FATHOM_MODEL"] = model_id
    queries, workspaces, vectors = load_eval(work)
    _, strict, _ = search_ranks(queries, workspaces, vectors, levers_for(SearchOptions(), model_id))
    for workspace in workspaces.values():
        workspace.close()
    return {(q.project, q.text, q.path, q.line, q.name): reciprocal(r) for q, r in zip(queries, strict)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="the --work folder of the eval's run with model A")
    parser.add_argument("b", type=Path, help="the same eval's --work folder with model B")
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    scores_a, scores_b = strict_scores(args.a), strict_scores(args.b)
    shared = sorted(scores_a.keys() & scores_b.keys())
    if len(shared) < max(len(scores_a), len(scores_b)):
        print(f"{len(scores_a)} and {len(scores_b)} questions; {len(shared)} asked of both are compared")
    result = paired_difference([scores_a[k] for k in shared], [scores_b[k] for k in shared], args.resamples)
    print(json.dumps({**result.__dict__, "difference": round(result.difference, 4), "settled": result.settled}))


if __name__ == "__main__":
    main()
