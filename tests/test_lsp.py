"""The language server over stdio, driven by pytest-lsp, with the real model."""
import asyncio
import json
import os
import subprocess
import sys
import time

import psutil
import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from conftest import copy_corpus

pytestmark = pytest.mark.slow

ROOT = None


def _root(tmp_path_factory):
    global ROOT
    if ROOT is None:
        ROOT = copy_corpus(tmp_path_factory.mktemp("lsp") / "corpus")
    return ROOT


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=[sys.executable, "-m", "fathom", "serve", "--log-file", "/tmp/fathom-test.log", "--log-level", "DEBUG"]),
)
async def client(lsp_client: LanguageClient, tmp_path_factory):
    root = _root(tmp_path_factory)
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)),
            root_uri=root.as_uri(),
            process_id=os.getpid(),
        )
    )
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


async def wait_idle(client, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await client.protocol.send_request_async("fathom/status", {})
        ws = status.workspaces[0] if status.workspaces else None
        if ws is not None and ws.state == "idle" and ws.pending == 0:
            return ws
        await asyncio.sleep(0.5)
    raise AssertionError("index did not become idle")


async def test_symbols_during_indexing_then_search_and_save(client: LanguageClient):
    started = time.monotonic()
    symbols = []
    while time.monotonic() - started < 60 and not symbols:
        symbols = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="user_cache_dir"))
        await asyncio.sleep(0.1)
    assert symbols and symbols[0].name == "user_cache_dir"
    assert symbols[0].location.uri.startswith(client.root.as_uri())

    await wait_idle(client)
    result = await client.protocol.send_request_async(
        "fathom/search", {"query": "match a file path against gitignore patterns", "limit": 5})
    assert result.partial is False
    assert "match_file" in [r.name for r in result.results]
    assert result.results[0].uri.startswith("file://")

    # Any LSP client's symbol picker: words with spaces are answered by meaning, names fuzzily.
    asked = await client.workspace_symbol_async(types.WorkspaceSymbolParams(
        query="match a file path against gitignore patterns"))
    assert "match_file" in [s.name for s in asked[:5]]
    assert asked[0].location.uri.startswith(client.root.as_uri())

    util = client.root / "pathspec" / "util.py"
    line = next(i for i, text in enumerate(util.read_text().split("\n")) if text.startswith("def normalize_file("))
    similar = await client.protocol.send_request_async("fathom/similar", {
        "textDocument": {"uri": util.as_uri()}, "position": {"line": line + 2, "character": 0}, "limit": 5})
    assert similar.results and all((r.name, r.path) != ("normalize_file", "pathspec/util.py") for r in similar.results)
    pasted = await client.protocol.send_request_async("fathom/similar", {
        "text": "def normalize(path):\n    return path.replace('\\\\', '/').lstrip('/')", "limit": 5})
    assert pasted.results

    target = client.root / "pathspec" / "util.py"
    target.write_text(target.read_text() + "\n\ndef reticulate_splines_quickly(count):\n    return count * 2\n")
    saved = time.monotonic()
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=target.as_uri())))
    found_symbol = found_search = None
    while time.monotonic() - saved < 10 and not (found_symbol and found_search):
        if not found_symbol:
            s = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query="reticulate_splines"))
            if s:
                found_symbol = time.monotonic() - saved
        if not found_search:
            r = await client.protocol.send_request_async("fathom/search", {"query": "reticulate splines", "limit": 5})
            if any(x.name == "reticulate_splines_quickly" for x in r.results):
                found_search = time.monotonic() - saved
        await asyncio.sleep(0.05)
    # Functional only: the 1 s save-to-searchable target is measured by benchmarks/server/latency.py.
    assert found_symbol is not None, "saved function never reached workspace/symbol"
    assert found_search is not None, "saved function never reached fathom/search"


async def test_invalid_params_get_32602_and_server_stays_up(client: LanguageClient):
    for params in ({}, {"query": ""}, {"query": 5}, {"query": "x", "limit": 0}, {"query": "x", "limit": "3"},
                   {"query": "x", "workspace": "file:///nowhere"}, {"query": "x", "paths": "*.py"},
                   {"query": "x", "language": ["cobol"]}, {"query": "x", "kind": "function"}):
        with pytest.raises(Exception) as info:
            await client.protocol.send_request_async("fathom/search", params)
        assert getattr(info.value, "code", None) == -32602, (params, info.value)
    for params in ({}, {"text": " "}, {"textDocument": {"uri": 5}, "position": {"line": 1}},
                   {"textDocument": {"uri": "file:///elsewhere/x.py"}, "position": {"line": 1}},
                   {"text": "x", "limit": 500}):
        with pytest.raises(Exception) as info:
            await client.protocol.send_request_async("fathom/similar", params)
        assert getattr(info.value, "code", None) == -32602, (params, info.value)
    ok = await client.protocol.send_request_async("fathom/search", {"query": "gitignore", "limit": 2})
    assert len(ok.results) <= 2


def _frame(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def _parse_frames(data: bytes) -> list[dict]:
    """Every byte of stdout must belong to a JSON-RPC frame."""
    messages = []
    while data:
        header, sep, rest = data.partition(b"\r\n\r\n")
        fields = dict(line.split(b": ", 1) for line in header.split(b"\r\n"))
        assert sep and b"Content-Length" in fields, data[:200]
        length = int(fields[b"Content-Length"])
        messages.append(json.loads(rest[:length]))
        data = rest[length:]
    return messages


def _start_raw_server(tmp_path) -> subprocess.Popen:
    """A server on plain pipes, initialized on a small corpus, for checks pytest-lsp hides."""
    root = copy_corpus(tmp_path / "small")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "fathom", "serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    server.stdin.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}}}))
    server.stdin.write(_frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    server.stdin.flush()
    return server


def test_exit_leaves_no_process_and_stdout_is_only_jsonrpc(tmp_path):
    server = _start_raw_server(tmp_path)
    me = psutil.Process(server.pid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any("fathom" in " ".join(c.cmdline()) or c.name().startswith("python")
                                                   for c in me.children(recursive=True)):
        time.sleep(0.2)
    time.sleep(3)  # let the embedding process and pool workers start
    children = me.children(recursive=True)
    assert children, "the server starts helper processes"
    server.stdin.write(_frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None}))
    server.stdin.write(_frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
    server.stdin.flush()
    out, _ = server.communicate(timeout=60)
    messages = _parse_frames(out)
    assert any(m.get("id") == 2 for m in messages)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [p.cmdline() for p in alive]


def test_client_death_without_shutdown_stops_the_server(tmp_path):
    server = _start_raw_server(tmp_path)
    time.sleep(5)
    children = psutil.Process(server.pid).children(recursive=True)
    server.stdin.close()  # the editor is gone: stdin hits EOF
    server.wait(timeout=60)
    gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive
