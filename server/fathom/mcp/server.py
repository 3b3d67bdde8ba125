"""`fathom mcp [PATH]`: the workspace's index as MCP tools, over stdio (the
official SDK's `MCPServer`), or streamable HTTP bound to 127.0.0.1 only.

The process opens the workspace in an `Engine` as an editor's server does: the
index is brought up to date in the background (one writer per workspace at a
time: when an editor's `fathom serve` is indexing it, this one waits for it and
then finds nothing to do) and kept current by a watcher; tools answer meanwhile
from what is indexed, and say when the answer is partial (a call that comes before
the first run has written every file waits for that first, a bounded time). Queries are embedded
by this process's one embedder, loaded once.
"""
from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ..config import Settings
from ..engine import Engine, serve_until_signalled
from .tools import DEFAULT_MAX_CHARS, FathomTools, ToolArgumentError

log = logging.getLogger(__name__)

# How long an interrupted HTTP server waits for open requests and streams (an
# agent's SSE stream stays open for good) before it closes them.
GRACEFUL_SHUTDOWN_S = 3

INSTRUCTIONS = """\
Fathom indexes this workspace's code (functions, methods, classes) for search by meaning and by
name. Use search_code for questions in words ("where do we retry failed uploads"): it finds the
definition even when it shares no word with the question, which grep cannot. Use find_symbol when
you know (part of) a name. Use similar_code to find code like a given function (duplicates,
other implementations of one idea). Results give path:line ranges and the definitions' code."""

SEARCH_CODE = """\
Search the workspace's code by meaning and words: a question or description in plain language
("strip the Authorization header when redirected to another host") finds the functions, methods and
classes that do it, even with none of the words in common; identifiers work too. Prefer it to grep
for "where/how is X done" questions; use grep for exact strings. Returns up to `limit` definitions,
best first, each as path:start-end, kind, qualified name, score, and its code (long bodies trimmed
with a marker to keep the whole answer under max_chars). Test code ranks below the project's own
unless the query mentions tests or include_tests is true (false leaves it out). `paths`: glob
patterns relative to the workspace to search only there (e.g. ["src/**"]), `exclude` to leave out
(e.g. ["vendor/**"]); `language` (e.g.
["python"]) and `kind` (e.g. ["function", "method"]) narrow it further."""

FIND_SYMBOL = """\
Find definitions by name, fuzzily: exact names first, then prefixes, camelCase/snake_case humps
("RA" finds rebuild_auth), then subsequences. Qualify a name to look within a class or type
("Session.send", "Vec::push"); "Session." lists its members. Returns path:line, kind, qualified name
and signature for each. Cheap and instant: use it when you know or half-know a name."""

SIMILAR_CODE = """\
Find definitions most like a given one: pass path and line (1-based, any line inside a function,
method or class) to compare with that definition (it is left out of the answer), or pass code (a
snippet) to compare with it. Finds near-duplicates and other implementations of the same idea,
renamed or not. Returns the same shape as search_code."""

INDEX_STATUS = """\
How complete the index is: files, chunks, how many wait for vectors, the model and who embeds,
whether indexing is running, and the last run's figures. Search answers while indexing; call this
when results look thin."""


def build_server(tools: FathomTools) -> MCPServer:
    server = MCPServer("fathom", instructions=INSTRUCTIONS)

    async def call(fn, *args):
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args))
        except ToolArgumentError as bad:
            raise ToolError(str(bad)) from None

    @server.tool(description=SEARCH_CODE)
    async def search_code(query: str, limit: int = 10, paths: list[str] | None = None,
                          include_tests: bool | None = None, max_chars: int = DEFAULT_MAX_CHARS,
                          language: list[str] | None = None, kind: list[str] | None = None,
                          exclude: list[str] | None = None) -> str:
        return await call(tools.search_code, query, limit, paths, include_tests, max_chars, language, kind, exclude)

    @server.tool(description=FIND_SYMBOL)
    async def find_symbol(name: str, limit: int = 20) -> str:
        return await call(tools.find_symbol, name, limit)

    @server.tool(description=SIMILAR_CODE)
    async def similar_code(path: str | None = None, line: int | None = None, code: str | None = None,
                           limit: int = 10, max_chars: int = DEFAULT_MAX_CHARS) -> str:
        return await call(tools.similar_code, path, line, code, limit, max_chars)

    @server.tool(description=INDEX_STATUS)
    async def index_status() -> str:
        return await call(tools.index_status)

    return server


class PortUnavailable(OSError):
    """The HTTP port cannot be listened on (in use, or not the user's to take)."""


def serve(root: Path, settings: Settings, http_port: int | None = None) -> int:
    """Serve until the client closes stdin (or, over HTTP, until interrupted).
    Ctrl-C and SIGTERM (as `Terminated`) leave through the engine's close, which
    stops its helper processes; nothing written to the index is lost."""
    # The port is taken before anything starts, so one in use is a clear error
    # at once, not a traceback after the index has started.
    listener = _listen(http_port) if http_port is not None else None
    with Engine(settings) as engine:
        engine.open(root, watch=True)
        server = build_server(FathomTools(engine, root))
        if listener is None:
            # Its stdin reader, blocked in a worker thread, is abandoned at a signal:
            # the loop's thread and its workers are daemons.
            serve_until_signalled(lambda: server.run("stdio"), "mcp-stdio")
        else:
            _serve_http(server, listener)
    return 0


def _listen(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as exc:
        listener.close()
        raise PortUnavailable(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from None
    # Listening from here on: a client told the URL may connect before the
    # server's loop has started, and waits in the backlog instead of being refused.
    listener.listen(socket.SOMAXCONN)
    return listener


def _serve_http(server: MCPServer, listener: socket.socket) -> None:
    import uvicorn

    host, port = listener.getsockname()[:2]
    # Bound to loopback, the SDK checks every request's Host and Origin, so a web
    # page the user visits cannot reach the tools by DNS rebinding.
    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S)
    print(f"fathom: MCP over streamable HTTP at http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    uvicorn.Server(config).run(sockets=[listener])
