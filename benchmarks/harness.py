"""What every benchmark shares: a stdio client for `fathom serve` (the tests use
it too), fresh caches, timing, and reading an index through the store.

Benchmarks run from the repository root as modules, `python -m benchmarks.KIND.NAME`,
with the project installed in the virtualenv (`pip install -e '.[bench]'`).
The client times requests the way an editor sees them: it talks to the real
server process through pipes and knows nothing of Fathom's internals.
"""
from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any


class RpcError(Exception):
    def __init__(self, error: dict):
        super().__init__(error.get("message", "error"))
        self.code = error.get("code")


class LspClient:
    def __init__(self, command: list[str], env: dict[str, str], stderr=subprocess.DEVNULL):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=stderr, env=env)
        self._ids = itertools.count(1)
        self._pending: dict[int, Future] = {}
        self._write_lock = threading.Lock()
        self.notifications: list[tuple[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            message = json.loads(stream.read(length))
            if "method" in message and "id" in message:  # a request from the server: accept it
                self._send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                if message["method"] == "workspace/configuration":
                    continue
            if "method" in message:
                self.notifications.append((message["method"], message.get("params")))
                continue
            future = self._pending.pop(message.get("id"), None)
            if future is None:
                continue
            if "error" in message:
                future.set_exception(RpcError(message["error"]))
            else:
                future.set_result(message.get("result"))

    def _send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        with self._write_lock:
            self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.process.stdin.flush()

    def request(self, method: str, params: Any, timeout: float = 60.0) -> Any:
        request_id = next(self._ids)
        future: Future = Future()
        self._pending[request_id] = future
        self._send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return future.result(timeout)

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def initialize(self, root_uri: str, process_id: int) -> None:
        self.request("initialize", {
            "processId": process_id, "rootUri": root_uri,
            "capabilities": {"window": {"workDoneProgress": True}},
        }, timeout=120)
        self.notify("initialized", {})

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=30)
            self.notify("exit", None)
            self.process.wait(timeout=30)
        except Exception:  # noqa: BLE001 - a benchmark must not hang on a broken server
            self.process.kill()


# -- setup, server launch, timing ------------------------------------------------------

SERVE = [sys.executable, "-m", "fathom", "serve"]


def fresh_cache(prefix: str = "fathom-bench-") -> Path:
    """An empty index cache of the benchmark's own (`FATHOM_CACHE_DIR`)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def fathom_env(cache: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "FATHOM_CACHE_DIR": str(cache), **extra}


def serve(env: dict[str, str], stderr=subprocess.DEVNULL) -> LspClient:
    """`fathom serve` on stdio, not yet initialized (a caller may watch its process first)."""
    return LspClient(SERVE, env, stderr=stderr)


def start_server(root: Path, env: dict[str, str], stderr=subprocess.DEVNULL) -> LspClient:
    """`fathom serve` on stdio, initialized with one workspace folder."""
    client = serve(env, stderr)
    client.initialize(Path(root).resolve().as_uri(), os.getpid())
    return client


def wait_until_idle(client: LspClient, timeout: float = 3600.0, poll: float = 0.5) -> dict:
    """The first workspace's status once it is idle with nothing pending."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.request("fathom/status", {})["workspaces"][0]
        if status["state"] == "idle" and status["pending"] == 0:
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"not idle after {timeout:.0f} s: {status}")
        time.sleep(poll)


def run_cli(env: dict[str, str], *args: str) -> tuple[float, str]:
    """Run `fathom ARGS` to completion: (seconds, stdout)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "fathom", *args], env=env, check=True, capture_output=True, text=True)
    return time.monotonic() - started, done.stdout


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The fastest of `repeat` runs (seconds, its result): the least disturbed by other work."""
    runs = [timed(fn) for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def open_index(root: Path, settings=None):
    """A workspace's index, read through the store (never raw SQL): `.reader`, `.writer`, `.spec`."""
    from fathom.config import Settings
    from fathom.workspace import Workspace

    return Workspace(Path(root), settings or Settings.from_env())
