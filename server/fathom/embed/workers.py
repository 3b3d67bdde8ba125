"""Stage 5 on several local embedding processes: `EmbedderPool`, the local
provider when `embedding.workers` asks for more than one.

Each worker is a `LocalEmbedder` (one process, the model loaded once, a few
torch threads). Document requests wait in one queue and go to whichever worker
has room, so a worker that is slower (or still loading) simply takes fewer.
Queries go to the first worker, whose process answers them on a thread of their
own at normal priority: a search never waits behind document batches.

A worker that dies has its requests queued again for the others and is replaced
(a new process at its next request); deaths are counted per process, so a death
that failed two requests counts once. Past `MOST_DEATHS` the pool fails what it
holds, and the pipeline's own restart policy takes over. Workers beyond the first
stop after `idle_seconds` without work, as the chunk workers do.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field

from .interface import EmbedderError, EmbedderIdentity, EmbedderInputError
from .local import LocalEmbedder
from .modelspec import ModelSpec

log = logging.getLogger(__name__)

MOST_DEATHS = 3
# Requests a worker holds at once: one encoding, one waiting, so it never idles
# between them.
PER_WORKER = 2


@dataclass
class _Job:
    texts: list[str]
    future: Future = field(default_factory=Future)


@dataclass
class _Worker:
    index: int
    embedder: LocalEmbedder | None = None
    ready: bool = False
    starting: bool = False
    jobs: list[_Job] = field(default_factory=list)
    last_used: float = field(default_factory=time.monotonic)


class EmbedderPool:
    """`interface.Embedder` over several local embedding processes."""

    provider = "local"

    def __init__(self, spec: ModelSpec, device: str = "auto", workers: int = 2, threads: int = 1,
                 idle_seconds: float = 300.0, make_worker: Callable[[], LocalEmbedder] | None = None):
        self.spec = spec
        self.threads = threads
        self.idle_seconds = idle_seconds
        self._make_worker = make_worker or (lambda: LocalEmbedder(spec, device, threads))
        self._workers = [_Worker(i) for i in range(max(1, workers))]
        self._queue: deque[_Job] = deque()
        self._lock = threading.RLock()
        self._dead_pids: set[int] = set()
        self._gave_up = False  # too many deaths: what it held failed, until the next start
        self.texts_sent = 0  # to the workers, a request sent again after a death counted again
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None

    # -- what the pipeline reads -----------------------------------------------------

    @property
    def workers(self) -> int:
        return len(self._workers)

    @property
    def _first(self) -> LocalEmbedder:
        with self._lock:
            first = self._workers[0]
            if first.embedder is None:
                first.embedder = self._make_worker()
            return first.embedder

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def dim(self) -> int | None:
        return self._first.dim

    @property
    def device(self) -> str | None:
        return self._first.device

    @property
    def backend(self) -> str | None:
        return self._first.backend

    @property
    def batch_size(self) -> int:
        return self._first.batch_size

    @property
    def request_size(self) -> int:
        return self._first.request_size

    @property
    def requests_in_flight(self) -> int:
        return PER_WORKER * len(self._workers)

    @property
    def reads_questions_apart(self) -> bool:
        return self._first.reads_questions_apart  # the worker that answers queries

    @property
    def alive(self) -> bool:
        return self._first.alive

    @property
    def pid(self) -> int | None:
        return self._first.pid

    def pids(self) -> list[int]:
        """Every running worker's process."""
        with self._lock:
            return [w.embedder.pid for w in self._workers if w.embedder is not None and w.embedder.alive]

    @property
    def deaths(self) -> frozenset[int]:
        """The processes that stopped under a request since the pool (re)started."""
        with self._lock:
            return frozenset(self._dead_pids)

    def busy_workers(self) -> int:
        with self._lock:
            return sum(1 for w in self._workers if w.jobs)

    def identity(self) -> EmbedderIdentity:
        self.ensure_started()
        return EmbedderIdentity(self.model_id, self.dim or 0, self.provider)

    def ensure_started(self) -> None:
        """The first worker loaded (waited for). The others load when document work
        arrives: a server that only answers queries (an MCP server beside an
        indexing editor) holds one copy of the model."""
        if self._closed.is_set():
            raise EmbedderError("embedder is closed")
        with self._lock:
            if self._gave_up:  # the pipeline starts it again: its deaths count anew
                self._gave_up = False
                self._dead_pids.clear()
        self._first.ensure_started()
        with self._lock:
            self._workers[0].ready = True
            self._start_reaper()
        self._dispatch()

    # -- requests --------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> Future:
        job = _Job(list(texts))
        if not texts:
            job.future.set_result([])
            return job.future
        if self._closed.is_set():
            job.future.set_exception(EmbedderError("embedder is closed"))
            return job.future
        with self._lock:
            self._queue.append(job)
            for worker in self._workers:  # the first, and any stopped while idle
                self._warm(worker)
        self._dispatch()
        return job.future

    def embed_query(self, text: str, timeout: float = 30.0, *, as_code: bool = False) -> bytes:
        return self._first.embed_query(text, timeout, as_code=as_code)

    def _warm(self, worker: _Worker) -> None:
        """Start a worker's process in the background; it takes work once loaded. Lock held."""
        if worker.ready or worker.starting or self._closed.is_set():
            return
        worker.starting = True
        if worker.embedder is None:
            worker.embedder = self._make_worker()
        embedder = worker.embedder

        def start() -> None:
            try:
                embedder.ensure_started()
            except EmbedderError as exc:
                with self._lock:
                    worker.starting = False
                    if worker.index == 0:  # nothing can take the work: say why
                        self._fail_queue(exc)
                if not self._closed.is_set():  # closed meanwhile (a one-shot CLI run ended): nothing went wrong
                    log.warning("embedding worker %d did not start: %s", worker.index, exc)
                return
            with self._lock:
                worker.starting = False
                worker.ready = worker.embedder is embedder
            self._dispatch()

        threading.Thread(target=start, daemon=True, name=f"fathom-embed-worker-{worker.index}").start()

    def _dispatch(self) -> None:
        """Hand queued requests to ready workers with room, least loaded first."""
        sends = []
        with self._lock:
            while self._queue:
                ready = [w for w in self._workers if w.ready and len(w.jobs) < PER_WORKER]
                if not ready:
                    break
                worker = min(ready, key=lambda w: (len(w.jobs), w.index))
                job = self._queue.popleft()
                worker.jobs.append(job)
                worker.last_used = time.monotonic()
                self.texts_sent += len(job.texts)
                sends.append((worker, worker.embedder, job))
        for worker, embedder, job in sends:
            inner = embedder.embed_documents(job.texts)
            inner.add_done_callback(lambda f, w=worker, e=embedder, j=job: self._finished(w, e, j, f))

    def _finished(self, worker: _Worker, embedder: LocalEmbedder, job: _Job, inner: Future) -> None:
        error = inner.exception()
        with self._lock:
            if job in worker.jobs:
                worker.jobs.remove(job)
            worker.last_used = time.monotonic()
            if error is None or isinstance(error, EmbedderInputError) or self._closed.is_set():
                _settle(job.future, inner)
            else:
                self._on_death(worker, embedder, job, error)
        self._dispatch()

    def _on_death(self, worker: _Worker, embedder: LocalEmbedder, job: _Job, error: BaseException) -> None:
        """A worker's process stopped under a request: the request waits for another worker. Lock held."""
        pid = embedder.pid
        if pid is not None and pid not in self._dead_pids:
            self._dead_pids.add(pid)
            log.warning("embedding worker %d (pid %d) stopped: %s", worker.index, pid, error)
        if len(self._dead_pids) > MOST_DEATHS:
            self._gave_up = True
            _fail(job.future, EmbedderError(f"embedding workers keep stopping ({len(self._dead_pids)} so far): {error}"))
            self._fail_queue(EmbedderError(f"embedding workers keep stopping: {error}"))
            return
        self._queue.appendleft(job)
        if worker.embedder is embedder:
            # Replaced by a new process, loading in the background; the old one is
            # killed if it is not quite gone. Its other requests fail and come back here too.
            worker.embedder, worker.ready, worker.starting = None, False, False
            threading.Thread(target=embedder.close, daemon=True).start()
            self._warm(worker)

    def _fail_queue(self, error: EmbedderError) -> None:
        while self._queue:
            _fail(self._queue.popleft().future, error)

    # -- idle workers ------------------------------------------------------------------

    def _start_reaper(self) -> None:
        if self._reaper is None and len(self._workers) > 1:
            self._reaper = threading.Thread(target=self._stop_idle_workers, daemon=True, name="fathom-embed-idle")
            self._reaper.start()

    def _stop_idle_workers(self) -> None:
        while not self._closed.wait(min(30.0, max(0.5, self.idle_seconds / 4))):
            self.stop_idle(self.idle_seconds)

    def stop_idle(self, idle_seconds: float) -> int:
        """Stop the workers beyond the first that had no work for `idle_seconds`; returns how many."""
        stopping = []
        with self._lock:
            now = time.monotonic()
            for worker in self._workers[1:]:
                if worker.embedder is not None and not worker.jobs and not worker.starting \
                        and now - worker.last_used >= idle_seconds:
                    stopping.append(worker.embedder)
                    worker.embedder, worker.ready = None, False
        for embedder in stopping:
            embedder.close()
        if stopping:
            log.info("%d idle embedding workers stopped", len(stopping))
        return len(stopping)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            embedders = [w.embedder for w in self._workers if w.embedder is not None]
            for worker in self._workers:
                worker.embedder, worker.ready = None, False
            self._fail_queue(EmbedderError("embedder is closed"))
        for embedder in embedders:
            embedder.close()


def _settle(future: Future, inner: Future) -> None:
    try:
        error = inner.exception()
        if error is None:
            future.set_result(inner.result())
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


def _fail(future: Future, error: BaseException) -> None:
    try:
        future.set_exception(error)
    except InvalidStateError:
        pass


# -- how many workers ------------------------------------------------------------------

# Resident memory of one embedding process with the default model after a few
# batches: 299-320 MB measured (benchmarks/throughput/embed_workers.py); `auto`
# counts this, with room for longer batches' activations.
WORKER_MEMORY_BYTES = 400 << 20
# `auto` runs one process per physical core, up to this many (then each gets more
# torch threads). On 2 cores two one-thread processes embedded a cold index of
# flask 1.2-1.3x as fast as one two-thread process (RESULTS 15): on small batches
# torch's threads within one process lose to processes even at two.
MOST_AUTO_WORKERS = 8


def worker_plan(asked: int, device: str) -> tuple[int, int]:
    """(workers, torch threads each) for the `embedding.workers` setting (0: auto)."""
    from ..config import usable_cores

    if asked > 0:
        return asked, max(1, usable_cores() // asked)
    if device in ("cuda", "mps") or (device == "auto" and os.path.exists("/dev/nvidia0")):
        return 1, usable_cores()  # one model fills an accelerator: more would only copy it
    return auto_workers(physical_cores(), available_memory())


def auto_workers(physical_cores: int, available_bytes: int | None) -> tuple[int, int]:
    """(workers, torch threads each) for `embedding.workers = auto`."""
    workers = max(1, min(MOST_AUTO_WORKERS, physical_cores))
    if available_bytes is not None:
        # Half the free memory at most: the editor, the build and the index need the rest.
        workers = max(1, min(workers, available_bytes // 2 // WORKER_MEMORY_BYTES))
    return workers, max(1, physical_cores // workers)


def physical_cores() -> int:
    """Cores this process may use, counting each physical core once (hyperthreads
    add little to matrix multiplication)."""
    from ..config import usable_cores

    logical = usable_cores()
    try:
        siblings = open("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read().strip()
        per_core = len(_cpu_list(siblings))
    except (OSError, ValueError):
        per_core = 1
    return max(1, logical // max(1, per_core))


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_list(text: str) -> list[int]:
    cpus = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
