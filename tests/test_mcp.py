"""`fathom mcp` through the official MCP SDK's own client over stdio, with the real
model, sqlite-vec and tree-sitter on a real corpus; and `fathom similar`."""
import asyncio
import signal
import inspect
import json
import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from conftest import copy_corpus
from fathom.config import DEFAULT_MODEL

pytestmark = pytest.mark.slow

RENAMES = {"normalize_file": "clean_path", "norm_file": "result", "separators": "seps", "file": "raw", "sep": "s"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    import pathspec.util

    root = copy_corpus(tmp_path_factory.mktemp("mcp") / "ws")
    source = inspect.getsource(pathspec.util.normalize_file)
    renamed = re.sub(r"\b(" + "|".join(RENAMES) + r")\b", lambda m: RENAMES[m.group(1)], source)
    (root / "tidy.py").write_text("import os\nimport posixpath\n\nNORMALIZE_PATH_SEPS = ['\\\\']\n\n\n" + renamed)
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    return root, env


def text_of(result) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


async def session_run(root, env, steps):
    params = StdioServerParameters(command=sys.executable, args=["-m", "fathom", "mcp", str(root)], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await steps(session)


async def wait_until_embedded(session, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = json.loads(text_of(await session.call_tool("index_status", {})).split("\n", 1)[1])
        if status.get("state") == "idle" and status["files"] and status["pending"] == 0:
            return status
        await asyncio.sleep(1)
    raise AssertionError(f"not embedded within {timeout} s: {status}")


def test_the_tools_answer_agents_through_the_sdk_client(workspace):
    root, env = workspace

    async def steps(session):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == {"search_code", "find_symbol", "similar_code", "index_status"}
        assert all(len(t.description or "") > 100 for t in tools.values())  # written for an agent
        # Answers while the first index runs: at least names and words, said to be partial when so.
        early = await session.call_tool("find_symbol", {"name": "user_cache_dir"})
        status = await wait_until_embedded(session)
        assert status["model"] == DEFAULT_MODEL and status["provider"] == "local"

        found = await session.call_tool("search_code", {"query": "directory where the user's cache files are stored",
                                                        "limit": 5})
        assert not found.is_error
        answer = text_of(found)
        assert "user_cache_dir" in answer and "platformdirs/" in answer and "```" in answer
        assert "partial" not in answer.splitlines()[0]

        symbols = text_of(await session.call_tool("find_symbol", {"name": "match_file"}))
        assert "pathspec/" in symbols and "match_file" in symbols.splitlines()[1]

        # A function copied into another file with its identifiers renamed comes first.
        util = (root / "pathspec" / "util.py").read_text().split("\n")
        line = next(i for i, text in enumerate(util, 1) if text.startswith("def normalize_file("))
        similar = text_of(await session.call_tool("similar_code", {"path": "pathspec/util.py", "line": line + 3}))
        first = similar.splitlines()[1]
        assert first.startswith("1. tidy.py:") and "clean_path" in first, similar
        pasted = text_of(await session.call_tool("similar_code", {"code": "\n".join(util[line - 1:line + 30])}))
        assert "normalize_file" in pasted.splitlines()[1] or "clean_path" in pasted.splitlines()[1]

        narrowed = text_of(await session.call_tool("search_code", {
            "query": "directory where the user's cache files are stored", "limit": 5,
            "language": ["python"], "kind": ["method"], "exclude": ["platformdirs/api.py"]}))
        heads = [line for line in narrowed.splitlines() if re.match(r"\d+\. ", line)]
        assert heads and all("method" in h and "platformdirs/api.py" not in h for h in heads), narrowed
        bad_kind = await session.call_tool("search_code", {"query": "cache", "kind": ["gizmo"]})
        assert bad_kind.is_error and "unknown kind gizmo" in text_of(bad_kind)

        # A small budget trims bodies, never drops hits.
        wide = text_of(await session.call_tool("search_code", {"query": "match files against patterns", "limit": 8}))
        tight = text_of(await session.call_tool("search_code", {"query": "match files against patterns", "limit": 8,
                                                                "max_chars": 1500}))
        assert len(tight) <= 1500 < len(wide)
        heads = [line for line in tight.splitlines() if re.match(r"\d+\. ", line)]
        assert len(heads) == len([line for line in wide.splitlines() if re.match(r"\d+\. ", line)])
        assert "trimmed" in tight

        # Bad arguments: a tool error that says what to do; the server stays up.
        for tool, args, says in [
            ("search_code", {"query": "  "}, "query is empty"),
            ("search_code", {"query": "?."}, "has no words"),
            ("search_code", {"query": "cache", "limit": -1}, "limit must be"),
            ("search_code", {"query": "cache", "paths": ["../outside/**"]}, "climbs out of the workspace"),
            ("search_code", {"query": "cache", "paths": ["/etc"]}, "outside the workspace"),
            ("similar_code", {"path": "../../etc/passwd", "line": 1}, "outside the workspace"),
            ("similar_code", {"path": "pathspec/util.py", "line": 100000}, "no indexed definition"),
            ("similar_code", {}, "give code"),
            ("find_symbol", {"name": ""}, "name is empty"),
        ]:
            bad = await session.call_tool(tool, args)
            assert bad.is_error and says in text_of(bad), (tool, args, text_of(bad))
        again = await session.call_tool("search_code", {"query": "gitignore pattern", "limit": 3})
        assert not again.is_error and "results for" in text_of(again)
        return early

    early = asyncio.run(session_run(root, env, steps))
    assert not early.is_error


def test_fathom_similar_from_the_command_line(workspace):
    root, env = workspace
    util = (root / "pathspec" / "util.py").read_text().split("\n")
    line = next(i for i, text in enumerate(util, 1) if text.startswith("def normalize_file("))
    proc = subprocess.run([sys.executable, "-m", "fathom", "similar", f"{root}/pathspec/util.py:{line + 1}",
                           "--path", str(root), "--json"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert hits[0]["path"] == "tidy.py" and hits[0]["name"] == "clean_path"
    assert all(h["name"] != "normalize_file" or h["path"] != "pathspec/util.py" for h in hits)
    bad = subprocess.run([sys.executable, "-m", "fathom", "similar", "nowhere.py:x"], capture_output=True,
                         text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "FILE:LINE" in bad.stderr


INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "probe", "version": "1"}}}


def test_an_agent_over_http_gets_the_tools_and_a_web_page_does_not(workspace):
    root, env = workspace
    proc = subprocess.Popen([sys.executable, "-m", "fathom", "mcp", str(root), "--http", "0"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for line in proc.stderr:  # port 0: the one it took is said at start
            served = re.fullmatch(r"fathom: MCP over streamable HTTP at (http://127\.0\.0\.1:(\d+)/mcp)\n", line)
            if served:
                break
        assert served, "no URL said"
        url, port = served.group(1), served.group(2)

        async def ask():
            async with streamable_http_client(url) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    names = {t.name for t in (await session.list_tools()).tools}
                    found = await session.call_tool("search_code", {"query": "directory where the user's cache "
                                                                    "files are stored", "limit": 5})
                    return names, found

        names, found = asyncio.run(ask())
        assert names == {"search_code", "find_symbol", "similar_code", "index_status"}
        assert not found.is_error and "user_cache_dir" in text_of(found)

        # A page in the user's browser can post to 127.0.0.1, or reach it through a
        # name it rebinds there: the Host and Origin it sends are refused.
        headers = {"Accept": "application/json, text/event-stream"}
        rebound = httpx.post(url, json=INITIALIZE, headers={**headers, "Host": "attacker.example"}, timeout=30)
        cross_site = httpx.post(url, json=INITIALIZE, headers={**headers, "Origin": "http://attacker.example"},
                                timeout=30)
        assert (rebound.status_code, cross_site.status_code) == (421, 403)

        taken = subprocess.run([sys.executable, "-m", "fathom", "mcp", str(root), "--http", port],
                               capture_output=True, text=True, env=env, timeout=120)
        assert taken.returncode == 1
        assert taken.stderr == f"fathom: cannot listen on 127.0.0.1:{port}: Address already in use\n"

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
        assert proc.stderr.read().strip().splitlines()[-1] == "fathom: terminated"
    finally:
        if proc.poll() is None:
            proc.kill()
