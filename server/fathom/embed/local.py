"""Stage 5, parent side: the local provider, a handle on the one dedicated
embedding process (`process.main`).

The process is started lazily (a no-change reindex never pays for loading torch),
loads the model once, and is shared by everything in this process: the indexer's
document batches and the searches' query embeddings. If it dies it is started
again on the next request; requests in flight fail with `EmbedderError` and their
texts stay pending in the index, so nothing is lost.
"""
from __future__ import annotations

import itertools
import logging
import multiprocessing
import threading
import time
from concurrent.futures import Future, InvalidStateError

from ..config import usable_cores
from . import process as embed_process
from .interface import EmbedderClosed, EmbedderError, EmbedderIdentity, EmbedderInputError
from ..signals import ctrl_c_held
from .messages import EmbedRequest, Failed, LoadFailed, Ready, Stop, Vectors
from .modelspec import ModelSpec

__all__ = ["EmbedderError", "LocalEmbedder"]

log = logging.getLogger(__name__)

# Only a load that is stuck should hit this. The model loads at background
# priority, and beside a busy CPU that takes minutes, not seconds (127 s beside
# four busy processes on 2 cores, against 5 s on a quiet machine).
LOAD_TIMEOUT_SECONDS = 1800.0
REQUEST_BATCHES = 8


class LocalEmbedder:
    """`interface.Embedder` on this machine's CPU or GPU."""

    provider = "local"

    def __init__(self, spec: ModelSpec, device: str = "auto", threads: int = 0):
        self.spec = spec
        self.device_preference = device
        self.threads = threads or usable_cores()
        self.device: str | None = None
        self.dim: int | None = None
        self.backend: str | None = None  # what runs the model: "torch" alone or "sentence-transformers"
        self.reads_questions_apart = False
        self._batch_size: int | None = None
        # Guards the process and its connection: starting, replacing and closing
        # them, and every request's read of them.
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

    @property
    def batch_size(self) -> int:
        return self._batch_size or embed_process.batch_texts(self.device or "cpu")

    @property
    def request_size(self) -> int:
        # A few of the process's batches per request: it sorts a request by
        # length as a whole, and vectors still come back steadily.
        return REQUEST_BATCHES * self.batch_size

    @property
    def requests_in_flight(self) -> int:
        return 2

    def identity(self) -> EmbedderIdentity:
        self.ensure_started()
        return EmbedderIdentity(self.model_id, self.dim or 0, self.provider)

    def ensure_started(self, timeout: float = LOAD_TIMEOUT_SECONDS) -> None:
        """Start the process (if it is not running) and wait until the model is loaded."""
        with self._lock:
            self._start_locked(timeout)

    def _start_locked(self, timeout: float = LOAD_TIMEOUT_SECONDS):
        """The connection to a running process, started if need be; the lock is held."""
        if self._closed.is_set():
            raise EmbedderClosed("embedder is closed")
        if self._process is not None and self._process.is_alive():
            return self._conn
        if self.spec.unavailable:
            raise EmbedderError(f"cannot load model {self.spec.name}: {self.spec.unavailable}")
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=embed_process.main,
            args=(child, self.spec.load_path, self.device_preference, self.threads),
            name="fathom-embedder",
            daemon=True,
        )
        with ctrl_c_held():  # until the process ignores Ctrl-C itself
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
                    raise EmbedderClosed("embedder is closed")
                raise EmbedderError(f"model {self.spec.name} did not load within {timeout:.0f} s")
        try:
            message = parent.recv()
        except EOFError:
            process.join(5)
            raise EmbedderError(f"embedding process exited while loading {self.spec.name}") from None
        if isinstance(message, LoadFailed):
            process.join(5)
            raise EmbedderError(f"cannot load model {self.spec.name}: {message.error}")
        assert isinstance(message, Ready), message
        self.dim, self.device, self.backend, self._batch_size = (
            message.dim, message.device, message.backend, message.batch_size)
        self.reads_questions_apart = message.questions
        if message.warning:
            log.warning("%s: %s", self.spec.model_id, message.warning)
        self._process, self._conn = process, parent
        threading.Thread(target=self._receive, args=(process, parent), daemon=True,
                         name="fathom-embedder-results").start()
        return parent

    def _receive(self, process, conn) -> None:
        while True:
            try:
                message: Vectors | Failed = conn.recv()
            except (EOFError, OSError):
                break
            entry = self._pending.pop(message.request_id, None)
            if entry is not None and isinstance(message, Failed):
                _fail(entry[0], EmbedderInputError(f"the model could not encode this input: {message.error}"))
            elif entry is not None:
                future, count = entry
                width = len(message.raw) // count if count else 0
                future.set_result([message.raw[i * width:(i + 1) * width] for i in range(count)])
        with self._lock:
            for rid in list(self._pending):
                entry = self._pending.pop(rid, None)
                if entry is not None:
                    _fail(entry[0], EmbedderError("embedding process stopped"))

    def _submit(self, texts: list[str], query: bool, question: bool = False) -> Future:
        future: Future = Future()
        request_id = next(self._ids)
        try:
            # The connection is read under the lock that close() holds to clear it.
            with self._lock:
                conn = self._start_locked()
                self._pending[request_id] = (future, len(texts))
            with self._send_lock:
                conn.send(EmbedRequest(request_id, texts, query, question))
        except EmbedderError as exc:
            _fail(self._pending.pop(request_id, (future,))[0], exc)
        except (OSError, ValueError) as exc:
            _fail(self._pending.pop(request_id, (future,))[0], EmbedderError(f"embedding process unreachable: {exc}"))
        return future

    def embed_documents(self, texts: list[str]) -> Future:
        """Future of one float32 vector (bytes) per text, in order."""
        if not texts:
            done: Future = Future()
            done.set_result([])
            return done
        return self._submit(texts, query=False)

    def embed_query(self, text: str, timeout: float = 30.0, *, as_code: bool = False) -> bytes:
        return self._submit([text], query=True, question=not as_code).result(timeout)[0]

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
                conn.send(Stop())
        except (OSError, ValueError):
            pass
        process.join(5)
        if process.is_alive():
            process.kill()
            process.join(5)
        conn.close()


def _fail(future: Future, error: EmbedderError) -> None:
    """Fail a request once: the receiving thread may have failed it already."""
    try:
        future.set_exception(error)
    except InvalidStateError:
        pass
