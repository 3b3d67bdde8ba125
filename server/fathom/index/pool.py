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
import sys
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..models import ChunkedFile, ChunkStatus, ChunkTask, content_hash
from .policy import is_generated, minified_reason

BINARY_PROBE = 8192

_chunker = None


def _init_worker(tokenizer_json: str | None, max_tokens: int, max_file_size: int) -> None:
    # Workers inherit the parent's stdout, which may be an LSP stream.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
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


def chunk_file(task: ChunkTask) -> ChunkedFile:
    """Read, hash and chunk one file. Never raises for a bad file: it reports."""
    try:
        with open(task.abspath, "rb") as f:
            data = f.read(_max_file_size + 1)
    except OSError as exc:
        return skipped(task, f"unreadable: {exc.strerror or exc}")
    if len(data) > _max_file_size:
        return skipped(task, f"larger than {_max_file_size} bytes")
    digest = content_hash(data)
    if digest == task.known_hash:
        return ChunkedFile(task.relpath, task.stat, digest, "", ChunkStatus.UNCHANGED)
    if b"\0" in data[:BINARY_PROBE]:
        return skipped(task, "binary", digest)
    text = data.decode("utf-8", errors="replace")
    minified = minified_reason(text)
    if minified:
        return skipped(task, minified, digest)
    lang, symbols, chunks = _chunker.chunk_source(task.relpath, text)
    embed = task.embed and not is_generated(text)
    return ChunkedFile(task.relpath, task.stat, digest, lang, ChunkStatus.INDEXED, "", symbols, chunks, embed)


def skipped(task: ChunkTask, reason: str, digest: str = "", status: ChunkStatus = ChunkStatus.SKIPPED) -> ChunkedFile:
    return ChunkedFile(task.relpath, task.stat, digest, "", status, reason)


def _started() -> bool:
    return True


class ChunkPool:
    def __init__(self, workers: int, tokenizer_json: str | None, max_tokens: int, max_file_size: int,
                 work: Callable[[ChunkTask], ChunkedFile] = chunk_file):
        self.workers = workers
        self._work = work  # a module-level function: workers are spawned and import it by name
        self._initargs = (tokenizer_json, max_tokens, max_file_size)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._active = 0  # chunk() calls running, from any thread
        self._last_used = time.monotonic()

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # spawn: the server has threads, and forking a threaded process is unsafe.
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=self._initargs,
            )
        return self._executor

    def chunk(self, tasks: Iterable[ChunkTask], on_result: Callable[[ChunkedFile], None],
              should_stop: Callable[[], bool] = lambda: False) -> None:
        """Chunk every task, calling `on_result` in this thread as each finishes."""
        with self._lock:
            self._active += 1
        try:
            self._chunk(tasks, on_result, should_stop)
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

    def _chunk(self, tasks, on_result, should_stop) -> None:
        queue = list(tasks)
        queue.reverse()
        in_flight: dict[Future, ChunkTask] = {}
        suspects: list[ChunkTask] = []
        # Enough queued work that the workers never run dry while this thread writes a
        # batch; a crash retries at most this many files, one at a time.
        window = self.workers * 16
        while queue or in_flight or suspects:
            if should_stop():
                for fut in in_flight:
                    fut.cancel()
                return
            if suspects and not in_flight:
                # After a crash, each file that was in flight runs alone once.
                task = suspects.pop()
                try:
                    result = self._pool().submit(self._work, task).result()
                except BrokenProcessPool:
                    self._discard_pool()
                    result = skipped(task, "chunk worker crashed on this file", status=ChunkStatus.CRASHED)
                on_result(result)
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
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
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

    def _discard_pool(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
