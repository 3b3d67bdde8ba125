"""The same search through every door: `fathom/search`, plain `workspace/symbol`
asked in words, and the MCP tool `search_code`; then the MCP server beside an
editor's server that is still embedding.

    .venv/bin/python -m benchmarks.server.doors WORK [--busy-project NAME]

WORK is what a docstring eval left with `--work` (`quality/eval_python.py`,
`eval_js.py`, `eval_lang.py`): the stripped trees, their index (WORK/cache) and
the queries. Part 1 asks every query through the three doors over that index and
prints MRR@10 (and strict) for each, with the MCP calls' latency. Part 2 copies
one project to a fresh cache, starts `fathom serve` on it (it indexes and
embeds), starts `fathom mcp` on the same folder once the editor's server is
embedding, and times `search_code` calls until the embedding is done, sampling
the memory (RSS) of both processes with their embedding processes.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import psutil
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from benchmarks.harness import fathom_env, serve
from benchmarks.quality.eval_python import K, Query, rank_of_hit, scores

HEAD = re.compile(r"^\d+\. (\S+):(\d+)-(\d+)  \w+ (\S+)  score ")


def lsp_answers(root: Path, env: dict, queries: list[Query]) -> tuple[list, list]:
    """(fathom/search results, workspace/symbol results) per query, as the eval scores them."""
    client = serve(env)
    try:
        import os

        client.initialize(root.as_uri(), os.getpid())
        while True:
            ws = client.request("fathom/status", {})["workspaces"]
            if ws and ws[0]["state"] in ("idle", "error") and ws[0]["pending"] == 0 and ws[0].get("embedder_pid"):
                break
            if ws and ws[0]["state"] == "idle" and not ws[0].get("embedder_pid"):
                client.request("fathom/search", {"query": "start the model", "limit": 1})  # loads it
            time.sleep(0.5)
        searched, symbols = [], []
        for q in queries:
            answer = client.request("fathom/search", {"query": q.text, "limit": K})
            searched.append([(f"{root.name}/{r['path']}", r["range"]["start"]["line"], r["range"]["end"]["line"],
                              r["name"]) for r in answer["results"]])
            found = client.request("workspace/symbol", {"query": q.text})[:K]
            symbols.append([(f"{root.name}/{_relpath(root, s['location']['uri'])}",
                             s["location"]["range"]["start"]["line"], s["location"]["range"]["end"]["line"],
                             s["name"]) for s in found])
        return searched, symbols
    finally:
        client.close()


def _relpath(root: Path, uri: str) -> str:
    return Path(unquote(urlparse(uri).path)).relative_to(root.resolve()).as_posix()


def parse_tool_answer(root: Path, text: str) -> list[tuple[str, int, int, str]]:
    """The hits of a search_code answer; a module's name (`cli.py`) is kept whole."""
    results = []
    for line in text.splitlines():
        m = HEAD.match(line)
        if m:
            path, start, end, qualified = m.groups()
            name = qualified if line.split("  ")[1].startswith("module ") else qualified.rsplit(".", 1)[-1]
            results.append((f"{root.name}/{path}", int(start) - 1, int(end) - 1, name))
    return results


async def mcp_answers(root: Path, env: dict, queries: list[Query]) -> tuple[list, list[float]]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "fathom", "mcp", str(root)], env=env)
    answers, seconds = [], []
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            await _until_idle(session)
            # The first search loads the query model (an agent's question waits for it: section 13b).
            await session.call_tool("search_code", {"query": "start the model", "limit": 1})
            while (await _until_idle(session)).get("embedder") != "running":
                await asyncio.sleep(0.5)
            for q in queries:
                started = time.perf_counter()
                result = await session.call_tool("search_code", {"query": q.text, "limit": K, "max_chars": 200000})
                seconds.append(time.perf_counter() - started)
                answers.append(parse_tool_answer(root, tool_text(result)))
    return answers, seconds


async def _until_idle(session) -> dict:
    while True:
        status = json.loads(tool_text(await session.call_tool("index_status", {})).split("\n", 1)[1])
        if status.get("state") in ("idle", "error") and status["pending"] == 0:
            return status
        await asyncio.sleep(0.5)


def tool_text(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def tree_rss(pid: int) -> int:
    try:
        process = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    except psutil.Error:
        return 0


def beside_an_embedding_editor(work: Path, project: str, queries: list[Query]) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="fathom-doors-"))
    root = scratch / project
    shutil.copytree(work / "trees" / project, root)
    env = fathom_env(scratch / "cache")
    editor = serve(env)
    import os

    editor.initialize(root.as_uri(), os.getpid())
    try:
        while editor.request("fathom/status", {})["workspaces"][0]["state"] != "embedding":
            time.sleep(0.2)
        state = {"editor_embedding": True}
        samples: dict[str, list[int]] = {"editor": [], "mcp": []}

        def watch_editor():
            while state["editor_embedding"]:
                ws = editor.request("fathom/status", {})["workspaces"][0]
                state["editor_embedding"] = not (ws["state"] == "idle" and ws["pending"] == 0)
                samples["editor"].append(tree_rss(editor.process.pid))
                time.sleep(0.5)

        threading.Thread(target=watch_editor, daemon=True).start()

        async def ask():
            params = StdioServerParameters(command=sys.executable, args=["-m", "fathom", "mcp", str(root)], env=env)
            seconds, partial = [], 0
            async with stdio_client(params) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    mcp_pid = _mcp_pid(root)
                    i = 0
                    while state["editor_embedding"]:
                        q = queries[i % len(queries)]
                        i += 1
                        started = time.perf_counter()
                        text = tool_text(await session.call_tool("search_code", {"query": q.text, "limit": K}))
                        seconds.append(time.perf_counter() - started)
                        partial += "partial" in text.split("\n", 1)[0]
                        samples["mcp"].append(tree_rss(mcp_pid) if mcp_pid else 0)
                        await asyncio.sleep(0.2)
            return seconds, partial

        seconds, partial = asyncio.run(ask())
        return {
            "calls": len(seconds), "partial answers": partial,
            "p50 ms": round(1000 * statistics.median(seconds), 1) if seconds else None,
            "p95 ms": round(1000 * percentile(seconds, 95), 1) if seconds else None,
            "editor server peak MB": round(max(samples["editor"] or [0]) / 2**20),
            "mcp server peak MB": round(max(samples["mcp"] or [0]) / 2**20),
        }
    finally:
        editor.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _mcp_pid(root: Path) -> int | None:
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        if "mcp" in cmd and str(root) in cmd and "fathom" in " ".join(cmd):
            return p.info["pid"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--busy-project", help="the project of part 2 (default: the first)")
    parser.add_argument("--skip-parity", action="store_true")
    args = parser.parse_args()
    work = args.work.resolve()
    queries = [Query(**q) for q in json.loads((work / "queries.json").read_text())]
    projects = sorted({q.project for q in queries})
    env = fathom_env(work / "cache")
    if not args.skip_parity:
        doors: dict[str, list] = {"fathom/search": [], "workspace/symbol": [], "mcp search_code": []}
        ordered: list[Query] = []
        latencies: list[float] = []
        for project in projects:
            root = work / "trees" / project
            mine = [q for q in queries if q.project == project]
            searched, symbols = lsp_answers(root, env, mine)
            answers, seconds = asyncio.run(mcp_answers(root, env, mine))
            doors["fathom/search"] += searched
            doors["workspace/symbol"] += symbols
            doors["mcp search_code"] += answers
            latencies += seconds
            ordered += mine
        print(f"{len(ordered)} queries over {', '.join(projects)}")
        for door, results in doors.items():
            ranks = [rank_of_hit(r, q) for r, q in zip(results, ordered)]
            strict = [rank_of_hit(r, q, strict=True) for r, q in zip(results, ordered)]
            print(f"  {door:<18} {scores(ranks, strict)}")
        print(f"  mcp search_code latency, index idle: p50 {1000 * statistics.median(latencies):.1f} ms, "
              f"p95 {1000 * percentile(latencies, 95):.1f} ms")
    busy = args.busy_project or projects[0]
    print(f"beside an editor's server embedding {busy}:",
          beside_an_embedding_editor(work, busy, [q for q in queries if q.project == busy]))


if __name__ == "__main__":
    main()
