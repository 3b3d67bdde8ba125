"""A running server's answers for one-shot callers: `fathom search` from a shell
asks the editor's (or agent's) server that holds the workspace open, instead of
loading the model itself.

Each workspace a long-running engine opens gets a Unix socket in its private
cache directory (`server.sock`, no group or other permission, in a 0700 directory: only its user can
connect); a caller sends one JSON line and reads one back. A socket nobody
answers is left from a server that died: the next server replaces it, and a
caller that finds it dead simply answers itself.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from ..config import make_private_dir
from ..models import Range, SearchHit, SymbolHit, SymbolKind
from ..search import SearchFilters, SearchResult

log = logging.getLogger(__name__)

SOCKET_NAME = "server.sock"
MOST_REQUEST_BYTES = 1 << 16
# Unix socket addresses are limited to about 108 bytes; a longer cache path is
# reached through its folder's descriptor (below).
MOST_PATH_BYTES = 100
ASK_TIMEOUT_S = 30.0
# The longest a caller may ask the server to wait to answer whole (its first index's words, its model)
# (below ASK_TIMEOUT_S, so the answer still comes through the door).
MOST_WAIT_FOR_ANSWER_S = 20.0


def socket_path(index_dir: Path) -> Path:
    return Path(index_dir) / SOCKET_NAME


@contextmanager
def socket_address(path: Path) -> Iterator[str | None]:
    """An address that names the socket at `path`, valid inside the block; None
    where none can. A deep cache folder (a long home, a custom cache root) would
    overflow the address, so on Linux it goes through /proc/self/fd/N, a short
    name for the folder that the kernel resolves to the same file."""
    if not hasattr(socket, "AF_UNIX"):
        yield None
        return
    if len(os.fsencode(str(path))) <= MOST_PATH_BYTES:
        yield str(path)
        return
    if not (hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd")):
        yield None
        return
    try:
        folder = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    except OSError:
        yield None
        return
    try:
        yield f"/proc/self/fd/{folder}/{path.name}"
    finally:
        os.close(folder)


class Door:
    """Serves one workspace's queries on its socket until closed."""

    def __init__(self, index_dir: Path, service):
        self.path = socket_path(index_dir)
        self.service = service
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._thread: threading.Thread | None = None

    def open(self) -> bool:
        """Start serving; False when another live server already answers for the
        workspace, or the platform or path allows no socket."""
        if not hasattr(socket, "AF_UNIX"):
            return False
        try:
            make_private_dir(self.path.parent)
        except OSError:
            return False
        if self.path.exists():
            if _answers(self.path):
                return False
            self.path.unlink(missing_ok=True)  # left by a server that died
        door = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                door._handle(self.rfile, self.wfile)

        old_umask = os.umask(0o077)
        try:
            with socket_address(self.path) as address:
                if address is None:
                    log.info("no query socket for %s: its path is too long for this platform", self.path.parent)
                    return False
                self._server = socketserver.ThreadingUnixStreamServer(address, Handler)
        except OSError as exc:
            log.info("no query socket for %s: %s", self.path.parent, exc)
            return False
        finally:
            os.umask(old_umask)
        # The umask is the process's: another thread (an index opening) can restore
        # it between the two calls above. The folder is private; the socket is made so too.
        os.chmod(self.path, 0o600)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="fathom-door")
        self._thread.start()
        return True

    def _handle(self, rfile, wfile) -> None:
        try:
            line = rfile.readline(MOST_REQUEST_BYTES + 1)
            if len(line) > MOST_REQUEST_BYTES:
                raise ValueError("request too large")
            answer = {"ok": True, "result": self._answer(json.loads(line))}
        except Exception as exc:  # noqa: BLE001 - the caller answers itself instead; the server goes on
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            wfile.write(json.dumps(answer).encode() + b"\n")
        except OSError:
            pass  # the caller gave up

    def _answer(self, request: dict):
        op = request.get("op")
        if op in ("search", "symbols"):
            wait = float(request.get("wait_for_words") or 0.0)
            self.service.wait_answerable(min(max(wait, 0.0), MOST_WAIT_FOR_ANSWER_S), by_meaning=op == "search")
        if op == "search":
            filters = request.get("filters") or {}
            result = self.service.search(
                str(request["query"]), int(request["limit"]), request.get("paths"), request.get("include_tests"),
                SearchFilters(frozenset(filters.get("languages", ())),
                              frozenset(SymbolKind(k) for k in filters.get("kinds", ())),
                              tuple(filters.get("paths", ())), tuple(filters.get("exclude", ()))))
            return {"hits": [_hit_dict(h) for h in result.hits], "partial": result.partial,
                    "words_only": result.words_only}
        if op == "symbols":
            return [_hit_dict(h) for h in self.service.symbols(str(request["query"]), int(request["limit"]))]
        if op == "ping":
            return "pong"
        raise ValueError(f"unknown op {op!r}")

    def close(self) -> None:
        """The socket is gone at once (no caller reaches this server again); the
        serving thread notices within its poll interval, off the caller's thread."""
        server, self._server = self._server, None
        if server is not None:
            self.path.unlink(missing_ok=True)

            def stop() -> None:
                server.shutdown()
                server.server_close()

            threading.Thread(target=stop, daemon=True, name="fathom-door-close").start()


def _hit_dict(hit) -> dict:
    d = asdict(hit)
    d["kind"] = int(hit.kind)
    return d


def _answers(path: Path) -> bool:
    try:
        return _exchange(path, {"op": "ping"}, 2.0) == "pong"
    except (OSError, ValueError):
        return False


def _exchange(path: Path, request: dict, timeout: float):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        with socket_address(path) as address:
            if address is None:
                raise OSError(f"no address reaches {path}")
            conn.connect(address)
        conn.sendall(json.dumps(request).encode() + b"\n")
        with conn.makefile("rb") as answers:
            answer = json.loads(answers.readline() or b"null")
    if not isinstance(answer, dict) or not answer.get("ok"):
        raise ValueError(answer.get("error") if isinstance(answer, dict) else "no answer")
    return answer["result"]


def ask_search(index_dir: Path, query: str, limit: int, paths: list[str] | None, include_tests: bool | None,
               filters: SearchFilters | None, wait_for_answer: float = 0.0) -> SearchResult | None:
    """A running server's search of its workspace, or None: no server answers (ask nobody else).
    `wait_for_answer`: as `Engine.search`'s, on the server's side (the request's key,
    `wait_for_words`, is what servers of every version read)."""
    path = socket_path(index_dir)
    if not hasattr(socket, "AF_UNIX") or not path.exists():
        return None
    f = filters or SearchFilters()
    request = {"op": "search", "query": query, "limit": limit, "paths": paths, "include_tests": include_tests,
               "wait_for_words": wait_for_answer,
               "filters": {"languages": sorted(f.languages), "kinds": sorted(int(k) for k in f.kinds),
                           "paths": list(f.paths), "exclude": list(f.exclude)}}
    try:
        result = _exchange(path, request, ASK_TIMEOUT_S)
        return SearchResult([_search_hit(h) for h in result["hits"]], bool(result["partial"]),
                            bool(result.get("words_only")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("the server's socket did not answer (%s): answering here", exc)
        return None


def ask_symbols(index_dir: Path, query: str, limit: int, wait_for_answer: float = 0.0) -> list[SymbolHit] | None:
    path = socket_path(index_dir)
    if not hasattr(socket, "AF_UNIX") or not path.exists():
        return None
    try:
        return [SymbolHit(h["name"], SymbolKind(h["kind"]), h["container"], h["relpath"], Range(**h["range"]))
                for h in _exchange(path, {"op": "symbols", "query": query, "limit": limit,
                                          "wait_for_words": wait_for_answer}, ASK_TIMEOUT_S)]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.info("the server's socket did not answer (%s): answering here", exc)
        return None


def _search_hit(h: dict) -> SearchHit:
    return SearchHit(h["relpath"], Range(**h["range"]), h["name"], SymbolKind(h["kind"]), float(h["score"]),
                     h["snippet"], h.get("container", ""))
