"""The process pool that reads, hashes and chunks changed files in parallel.

Each worker loads its tokenizer once, in the pool initializer, and builds each
language's parser at its first file of that language (tree-sitter parsers do not
pickle). A worker that dies (a grammar segfault, the OOM killer) breaks the whole
`ProcessPoolExecutor`; the pool is then rebuilt and the files that were in flight
are retried one at a time, so only the file that kills a worker again is lost,
and reported.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import stat as stat_module
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from ..models import ChunkedFile, ChunkStatus, ChunkTask, content_hash
from ..signals import ctrl_c_held, ignore_ctrl_c
from .lexical import with_lexical
from .policy import holds_certificate, holds_key_material, is_generated, is_sql_dump, minified_reason

BINARY_PROBE = 8192

_chunker = None


class _CtrlCHeldPool(ProcessPoolExecutor):
    """Workers are spawned inside `submit`: Ctrl-C is held back while they start."""

    def submit(self, fn, /, *args, **kwargs):
        with ctrl_c_held():
            return super().submit(fn, *args, **kwargs)


def _init_worker(tokenizer_json: str | None, max_tokens: int, max_file_size: int) -> None:
    # Workers inherit the parent's stdout, which may be an LSP stream.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    ignore_ctrl_c()  # the parent decides what Ctrl-C means and stops its workers itself
    try:
        os.nice(5)  # the editor's own processes come first
    except OSError:
        pass
    _exit_with_parent()
    global _chunker, _max_file_size
    from .chunker import Chunker
    from .tokens import TokenCounter

    _chunker = Chunker(TokenCounter(tokenizer_json), max_tokens)
    _max_file_size = max_file_size


_max_file_size = 1 << 20


def _exit_with_parent() -> None:
    """A worker whose server or CLI was killed outright would otherwise wait on
    its task queue forever, holding its memory."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="fathom-parent-watch").start()


def read_regular_file(task: ChunkTask, limit: int) -> bytes | str:
    """The file's first `limit` bytes, or why it is not read. Only a regular file
    inside the workspace is read, however it changed since the walk: a FIFO or a
    device put in its place would block the worker forever, a directory swapped for
    a link to elsewhere would let outside files in."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(task.abspath, flags)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    try:
        if not stat_module.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file"
        if not _inside_workspace(task, fd):
            return "outside the workspace (a link changed since the walk)"
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError as exc:  # EAGAIN from a file that is not what it says, EIO...
        return f"unreadable: {exc.strerror or exc}"
    finally:
        os.close(fd)


def _inside_workspace(task: ChunkTask, fd: int) -> bool:
    root = task.abspath[: len(task.abspath) - len(task.relpath)].rstrip(os.sep) or os.sep
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")  # what was really opened (Linux)
    except OSError:
        opened = os.path.realpath(task.abspath)
    real_root = os.path.realpath(root)
    return opened == real_root or opened.startswith(real_root.rstrip(os.sep) + os.sep)


def chunk_file(task: ChunkTask) -> ChunkedFile:
    """Read, hash and chunk one file. Never raises for a bad file: it reports."""
    data = read_regular_file(task, _max_file_size + 1)
    if isinstance(data, str):
        return skipped(task, data)
    if len(data) > _max_file_size:
        return skipped(task, f"larger than {_max_file_size} bytes")
    digest = content_hash(data)
    if digest == task.known_hash:
        return ChunkedFile(task.relpath, task.stat, digest, "", ChunkStatus.UNCHANGED)
    if b"\0" in data[:BINARY_PROBE]:
        return skipped(task, "binary", digest)
    text = data.decode("utf-8", errors="replace")
    if holds_key_material(text):
        return skipped(task, "holds a private key: never indexed")
    minified = minified_reason(text)
    if minified:
        return skipped(task, minified, digest)
    lang, symbols, chunks = _chunker.chunk_source(task.relpath, text)
    embed = task.embed and not is_generated(text) and not holds_certificate(text) and not is_sql_dump(task.relpath, text)
    return with_lexical(ChunkedFile(task.relpath, task.stat, digest, lang, ChunkStatus.INDEXED, "", symbols, chunks, embed))


def skipped(task: ChunkTask, reason: str, digest: str = "", status: ChunkStatus = ChunkStatus.SKIPPED) -> ChunkedFile:
    return ChunkedFile(task.relpath, task.stat, digest, "", status, reason)


def _started() -> bool:
    return True


# A worker that finishes nothing for this long is stuck (a read from a hung
# network mount, a pathological file): its files are retried alone and the one
# that stalls again is reported. Generous: a 1 MB file on a loaded machine takes seconds.
STALL_SECONDS = 120.0
# How often a chunking call looks up from its wait, to see whether it should stop.
POLL_SECONDS = 0.5


class ChunkPool:
    def __init__(self, workers: int, tokenizer_json: str | None, max_tokens: int, max_file_size: int,
                 work: Callable[[ChunkTask], ChunkedFile] = chunk_file, stall_seconds: float = STALL_SECONDS):
        self.workers = workers
        self.stall_seconds = stall_seconds
        self._work = work  # a module-level function: workers are spawned and import it by name
        self._initargs = (tokenizer_json, max_tokens, max_file_size)
        self._executor: ProcessPoolExecutor | None = None
        self._retired: list[threading.Thread] = []  # manager threads of executors let go without waiting
        self._retired_lock = threading.Lock()
        self._up = False  # whether this executor's workers are known to have started
        self._lock = threading.Lock()
        self._active = 0  # chunk() calls running, from any thread
        self._last_used = time.monotonic()

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._up = False
            # spawn: the server has threads, and forking a threaded process is unsafe.
            self._executor = _CtrlCHeldPool(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=self._initargs,
            )
        return self._executor

    def chunk(self, tasks: Iterable[ChunkTask], on_result: Callable[[ChunkedFile], None],
              should_stop: Callable[[], bool] = lambda: False, between: Callable[[], bool] | None = None) -> None:
        """Chunk every task, calling `on_result` in this thread as each finishes.
        `between` is called between results, in this thread: it may chunk other
        tasks (a nested `chunk`), which go before the rest of these, and says
        whether it did."""
        with self._lock:
            self._active += 1
        try:
            self._chunk(tasks, on_result, should_stop, between)
        finally:
            with self._lock:
                self._active -= 1
                self._last_used = time.monotonic()

    def prestart(self) -> None:
        """Start the workers now, so that they import and build their parsers
        while the caller is still walking the tree."""
        with self._lock:
            self._last_used = time.monotonic()
            try:
                for _ in range(self.workers):
                    self._pool().submit(_started)
            except BrokenProcessPool:
                self._discard_pool()

    def release_if_idle(self, idle_seconds: float) -> bool:
        """Stop the workers if nothing used them for `idle_seconds`; the next
        chunk() starts them again."""
        with self._lock:
            if self._active or self._executor is None or time.monotonic() - self._last_used < idle_seconds:
                return False
            executor, self._executor = self._executor, None
        executor.shutdown(wait=True, cancel_futures=True)
        return True

    def _chunk(self, tasks, on_result, should_stop, between) -> None:
        queue = list(tasks)
        queue.reverse()
        in_flight: dict[Future, ChunkTask] = {}
        suspects: list[ChunkTask] = []
        # Enough queued work that the workers never run dry while this thread writes a
        # batch; a crash retries at most this many files, one at a time.
        window = self.workers * 16
        self._wait_until_started()
        progress_at = time.monotonic()
        while queue or in_flight or suspects:
            if should_stop():
                for fut in in_flight:
                    fut.cancel()
                return
            if between is not None and between():
                progress_at = time.monotonic()  # what ran meanwhile is no stall of these
            if suspects and not in_flight:
                # After a crash or a stall, each file that was in flight runs alone once.
                on_result(self._alone(suspects.pop(), should_stop))
                continue
            while queue and len(in_flight) < window and not suspects:
                task = queue.pop()
                try:
                    in_flight[self._pool().submit(self._work, task)] = task
                except BrokenProcessPool:
                    self._discard_pool()
                    queue.append(task)
                    break
            if not in_flight:
                continue
            done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            if done:
                progress_at = time.monotonic()
            elif time.monotonic() - progress_at > self.stall_seconds:
                suspects.extend(in_flight.values())
                in_flight.clear()
                self._discard_pool(kill=True)
                continue
            for fut in done:
                task = in_flight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    suspects.append(task)
                    continue
                except Exception as exc:  # noqa: BLE001 - one file's failure is reported, not raised
                    result = skipped(task, f"chunker failed: {exc}")
                on_result(result)
            if suspects:
                for fut, task in list(in_flight.items()):
                    suspects.append(task)
                in_flight.clear()
                self._discard_pool()

    def _wait_until_started(self) -> None:
        """Workers that are starting finish nothing: the stall clock starts once
        they are up (spawning and importing take seconds on a loaded machine).
        A pool already seen up is not asked again (a save chunks one file)."""
        if self._executor is not None and self._up:
            return
        try:
            for started in [self._pool().submit(_started) for _ in range(self.workers)]:
                started.result()
            self._up = True
        except BrokenProcessPool:
            self._discard_pool()

    def _alone(self, task: ChunkTask, should_stop) -> ChunkedFile:
        """One file on its own: a crash or a stall now is its own doing."""
        self._wait_until_started()
        future = self._pool().submit(self._work, task)
        started = time.monotonic()
        while True:
            try:
                return future.result(timeout=POLL_SECONDS)
            except BrokenProcessPool:
                self._discard_pool()
                return skipped(task, "chunk worker crashed on this file", status=ChunkStatus.CRASHED)
            except FutureTimeout:
                if should_stop() or time.monotonic() - started > self.stall_seconds:
                    self._discard_pool(kill=True)
                    return skipped(task, f"reading or chunking it took over {self.stall_seconds:.0f} s"
                                         " (a hung mount?)", status=ChunkStatus.CRASHED)
            except Exception as exc:  # noqa: BLE001 - one file's failure is reported, not raised
                return skipped(task, f"chunker failed: {exc}")

    def _discard_pool(self, kill: bool = False) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # A stuck worker would keep shutdown() waiting for ever: it is killed first.
        workers = list((getattr(executor, "_processes", None) or {}).values()) if kill else []
        for process in workers:
            process.kill()
        self._retire(executor)
        for process in workers:
            process.join(5)

    def _retire(self, executor: ProcessPoolExecutor) -> None:
        """Shut an executor down without waiting, keeping its manager thread to
        join in `close`. The thread holds the executor's queues, and the last
        reference to them dropped in a thread's teardown unlinks their
        semaphores there; a process ending meanwhile (SIGTERM) would cut that
        short, and the resource tracker report a leak."""
        manager = getattr(executor, "_executor_manager_thread", None)
        executor.shutdown(wait=False, cancel_futures=True)
        if manager is not None:
            with self._retired_lock:  # not self._lock: prestart discards a pool while holding it
                self._retired = [thread for thread in self._retired if thread.is_alive()] + [manager]

    def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            workers = list((getattr(executor, "_processes", None) or {}).values())
            self._retire(executor)
            deadline = time.monotonic() + 10
            for process in workers:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():  # stuck in a read: it must not outlive the pool
                    process.kill()
                    process.join(5)
        with self._retired_lock:
            retired, self._retired = self._retired, []
        for manager in retired:  # its workers gone, it ends; its queues are let go here
            manager.join(5)
