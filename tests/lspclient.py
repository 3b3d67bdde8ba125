"""A minimal synchronous JSON-RPC client for `fathom serve` over stdio, shared by
the tests that need raw access and by benchmarks/latency.py.

The benchmarks time requests the way an editor sees them, so they talk to the
real server process through pipes; nothing here knows Fathom's internals.
"""
from __future__ import annotations

import itertools
import json
import subprocess
import threading
from concurrent.futures import Future
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
