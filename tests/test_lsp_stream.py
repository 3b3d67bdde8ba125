"""The JSON-RPC stream under load, read by a client that checks every byte:
answers written from several threads at once must never interleave."""
import json
import os
import re
import select
import subprocess
import sys
import threading
import time

import pytest

from conftest import copy_corpus

pytestmark = pytest.mark.slow

HEADER = re.compile(rb"Content-Length: (\d+)\r\n(?:Content-Type: [^\r\n]*\r\n)?\r\n")
IN_FLIGHT = 64


def frame(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class StrictReader:
    """Reads frames off the server's stdout; any byte that is not part of a
    well-formed frame is counted as corruption."""

    def __init__(self, stream, silence: float = 60.0):
        self.stream = stream
        self.buffer = b""
        self.corrupt = 0
        self.silence = silence

    def _fill(self) -> bool:
        # A frame whose header was cut into by another lies about its length:
        # the bytes it waits for never come.
        ready, _, _ = select.select([self.stream.fileno()], [], [], self.silence)
        if not ready:
            raise AssertionError(f"no complete frame for {self.silence:.0f} s ({self.corrupt} corrupt so far)")
        chunk = os.read(self.stream.fileno(), 65536)
        self.buffer += chunk
        return bool(chunk)

    def next(self) -> dict | None:
        while True:
            match = HEADER.match(self.buffer)
            if match is not None:
                end = match.end() + int(match.group(1))
                while len(self.buffer) < end:
                    if not self._fill():
                        return None
                body, self.buffer = self.buffer[match.end():end], self.buffer[end:]
                try:
                    message = json.loads(body)
                except ValueError:
                    self.corrupt += 1
                    continue
                if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
                    self.corrupt += 1
                    continue
                return message
            if len(self.buffer) >= 64 and not self.buffer.startswith(b"Content-Length: "):
                self.corrupt += 1  # garbage where a header should start: skip to the next one
                at = self.buffer.find(b"Content-Length: ", 1)
                self.buffer = self.buffer[at:] if at > 0 else b""
                continue
            if not self._fill():
                return None


def test_concurrent_requests_get_whole_frames(tmp_path):
    root = copy_corpus(tmp_path / "ws")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "fathom", "serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    reader = StrictReader(server.stdout)
    write_lock = threading.Lock()

    def send(payload: dict) -> None:
        with write_lock:
            server.stdin.write(frame(payload))
            server.stdin.flush()

    def answer(request_id: int, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = reader.next()
            assert message is not None, "the server closed its stdout"
            if "method" in message and "id" in message:  # a request from the server
                send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif message.get("id") == request_id:
                return message
        raise AssertionError(f"no answer to {request_id}")

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}}})
        answer(1)
        send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        probe = 2
        while True:  # the corpus is searchable by name and words
            send({"jsonrpc": "2.0", "id": probe, "method": "workspace/symbol", "params": {"query": "user_cache"}})
            if answer(probe)["result"]:
                break
            probe += 1
            time.sleep(0.2)
        first = probe + 1
        requests = []
        for i in range(IN_FLIGHT):
            method, params = [
                ("fathom/search", {"query": "match a path against gitignore patterns", "limit": 50}),
                ("workspace/symbol", {"query": "p"}),
                ("fathom/status", {}),
            ][i % 3]
            requests.append({"jsonrpc": "2.0", "id": first + i, "method": method, "params": params})
        with write_lock:  # all of them in flight at once
            server.stdin.write(b"".join(frame(r) for r in requests))
            server.stdin.flush()
        # A client busy elsewhere (an editor drawing) reads late: the pipe fills,
        # and every thread answering blocks part-way through its write.
        time.sleep(3)
        answered: dict[int, dict] = {}
        deadline = time.monotonic() + 300
        while len(answered) < IN_FLIGHT and time.monotonic() < deadline:
            message = reader.next()
            assert message is not None, "the server closed its stdout"
            if "method" in message and "id" in message:
                send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif "id" in message:
                answered[message["id"]] = message
        assert reader.corrupt == 0, f"{reader.corrupt} corrupt frames"
        assert sorted(answered) == list(range(first, first + IN_FLIGHT))
        assert all("result" in m for m in answered.values()), [m for m in answered.values() if "error" in m][:2]
        assert max(len(json.dumps(m)) for m in answered.values()) > 8192  # frames long enough to interleave
    finally:
        server.kill()
        server.wait(30)


def test_shutdown_right_after_initialized_then_requests_get_errors(tmp_path):
    """`shutdown` straight after `initialized` answered -32603 ("cannot join thread
    before it is started"), and requests after it were never answered."""
    root = copy_corpus(tmp_path / "ws")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "fathom", "serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    reader = StrictReader(server.stdout)
    try:
        server.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                  "params": {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}}})
                           + frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})
                           + frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None})
                           + frame({"jsonrpc": "2.0", "id": 3, "method": "workspace/symbol", "params": {"query": "x"}}))
        server.stdin.flush()
        answers = {}
        while len(answers) < 3:
            message = reader.next()
            assert message is not None, "the server closed its stdout"
            if "id" in message and "method" not in message:
                answers[message["id"]] = message
        assert "result" in answers[2], answers[2]
        assert answers[3]["error"]["code"] == -32600
        server.stdin.write(frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
        server.stdin.flush()
        assert server.wait(60) == 0
    finally:
        server.kill()
        server.wait(30)


HOSTILE = [
    ("a body far over the size limit", b"Content-Length: 100000000000\r\n\r\n{}", -32700),
    ("a negative length", b"Content-Length: -5\r\n\r\n{}", -32700),
    ("no length at all", b"Content-Type: application/json\r\n\r\n{}", -32700),
    ("not JSON", None, -32700),
    ("a batch", None, -32600),
    ("JSON nested 100,000 deep", None, -32700),
    ("no jsonrpc member", None, -32600),
]


def raw_frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


HOSTILE_BODIES = {
    "not JSON": raw_frame(b"{this is not json"),
    "a batch": raw_frame(b'[{"jsonrpc": "2.0", "id": 99, "method": "fathom/status"}]'),
    "JSON nested 100,000 deep": raw_frame(b"[" * 100_000 + b"]" * 100_000),
    "no jsonrpc member": raw_frame(b'{"id": 98, "method": "fathom/status"}'),
}


def test_hostile_frames_get_errors_and_the_stream_stays_in_step(tmp_path):
    """A 100 GB Content-Length crashed the server; a missing or negative one put
    the stream out of step for good; invalid JSON, batches and deep nesting were
    never answered."""
    root = copy_corpus(tmp_path / "ws")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "fathom", "serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    reader = StrictReader(server.stdout)

    def exchange(data: bytes, until_id: int) -> list[dict]:
        server.stdin.write(data)
        server.stdin.flush()
        seen = []
        while True:
            message = reader.next()
            assert message is not None, "the server closed its stdout"
            if "method" in message:
                if "id" in message:
                    server.stdin.write(frame({"jsonrpc": "2.0", "id": message["id"], "result": None}))
                    server.stdin.flush()
                continue
            seen.append(message)
            if message.get("id") == until_id:
                return seen

    try:
        exchange(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                        "params": {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {}}}), 1)
        server.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        for n, (what, data, code) in enumerate(HOSTILE, start=10):
            data = HOSTILE_BODIES.get(what, data)
            answers = exchange(data + frame({"jsonrpc": "2.0", "id": n, "method": "fathom/status", "params": {}}), n)
            errors = [a for a in answers if "error" in a]
            assert [e["error"]["code"] for e in errors] == [code], (what, answers)
            assert "result" in answers[-1], (what, answers[-1])  # the next message is answered as usual
        assert reader.corrupt == 0 and server.poll() is None
    finally:
        server.kill()
        server.wait(30)
