"""Stage 5, parent side: a handle on the one dedicated embedding process.

The process is started lazily (a no-change reindex never pays for loading torch),
loads the model once, and is shared by everything in this process: the indexer's
document batches and the searches' query embeddings. If it dies it is started
again on the next request; requests in flight fail with `EmbedderError` and their
texts stay pending in the index, so nothing is lost.
"""
from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from concurrent.futures import Future

from . import embed_process
from .config import usable_cores
from .modelspec import ModelSpec


class EmbedderError(RuntimeError):
    pass


# Only a load that is stuck should hit this. The model loads at background
# priority, and beside a busy CPU that takes minutes, not seconds (127 s beside
# four busy processes on 2 cores, against 5 s on a quiet machine).
LOAD_TIMEOUT_SECONDS = 1800.0


class Embedder:
    def __init__(self, spec: ModelSpec, device: str = "auto", threads: int = 0):
        self.spec = spec
        self.device_preference = device
        self.threads = threads or usable_cores()
        self.device: str | None = None
        self.dim: int | None = None
        self.backend: str | None = None  # what runs the model: "torch" alone or "sentence-transformers"
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._process = None
        self._conn = None
        self._pending: dict[int, tuple[Future, int]] = {}
        self._ids = itertools.count(1)
        self._closed = threading.Event()

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    def ensure_started(self, timeout: float = LOAD_TIMEOUT_SECONDS) -> None:
        """Start the process (if it is not running) and wait until the model is loaded."""
        with self._lock:
            if self._closed.is_set():
                raise EmbedderError("embedder is closed")
            if self._process is not None and self._process.is_alive():
                return
            ctx = multiprocessing.get_context("spawn")
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=embed_process.main,
                args=(child, self.spec.load_path, self.device_preference, self.threads),
                name="fathom-embedder",
                daemon=True,
            )
            process.start()
            child.close()
            deadline = time.monotonic() + timeout
            # Polled, so that closing (a CLI run that found nothing to embed) need
            # not wait for a load it no longer wants.
            while not parent.poll(0.1):
                if self._closed.is_set() or time.monotonic() > deadline:
                    process.kill()
                    process.join(5)
                    if self._closed.is_set():
                        raise EmbedderError("embedder is closed")
                    raise EmbedderError(f"model {self.spec.name} did not load within {timeout:.0f} s")
            try:
                message = parent.recv()
            except EOFError:
                process.join(5)
                raise EmbedderError(f"embedding process exited while loading {self.spec.name}") from None
            if message[0] == "failed":
                process.join(5)
                raise EmbedderError(f"cannot load model {self.spec.name}: {message[1]}")
            _, self.dim, self.device, self.backend = message
            self._process, self._conn = process, parent
            threading.Thread(target=self._receive, args=(process, parent), daemon=True,
                             name="fathom-embedder-results").start()

    def _receive(self, process, conn) -> None:
        while True:
            try:
                _, request_id, raw = conn.recv()
            except (EOFError, OSError):
                break
            entry = self._pending.pop(request_id, None)
            if entry is not None:
                future, count = entry
                width = len(raw) // count if count else 0
                future.set_result([raw[i * width:(i + 1) * width] for i in range(count)])
        with self._lock:
            dead = [rid for rid in list(self._pending)]
            for rid in dead:
                future, _ = self._pending.pop(rid)
                future.set_exception(EmbedderError("embedding process stopped"))

    def _submit(self, kind: str, texts: list[str]) -> Future:
        self.ensure_started()
        future: Future = Future()
        request_id = next(self._ids)
        self._pending[request_id] = (future, len(texts))
        try:
            with self._send_lock:
                self._conn.send((kind, request_id, texts))
        except (OSError, ValueError) as exc:
            self._pending.pop(request_id, None)
            future.set_exception(EmbedderError(f"embedding process unreachable: {exc}"))
        return future

    def embed_documents(self, texts: list[str]) -> Future:
        """Future of one float32 vector (bytes) per text, in order."""
        if not texts:
            done: Future = Future()
            done.set_result([])
            return done
        return self._submit("documents", texts)

    def embed_query(self, text: str, timeout: float = 30.0) -> bytes:
        return self._submit("query", [text]).result(timeout)[0]

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if process is None:
            return
        try:
            with self._send_lock:
                conn.send(("stop",))
        except (OSError, ValueError):
            pass
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
        conn.close()
