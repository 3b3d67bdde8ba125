"""The pipeline: discover -> detect changes -> chunk (pool) -> store phase 1 ->
embed (embedding process) -> store phase 2.

Chunking and embedding overlap: as soon as a batch of files is chunked and
committed, its new texts go to the embedding process, while the pool chunks the
next files. The index itself is the queue: any chunk whose text has no vector is
pending, so a run that was killed simply carries on where it stopped.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from .chunk_pool import ChunkPool
from .chunker import CHUNKER_VERSION
from .discover import discover, is_bulk_data, is_indexable_path, is_test_code, is_vendored
from .embed_process import batch_texts
from .embedder import Embedder, EmbedderError
from .models import ChunkedFile, ChunkTask, DiscoveredFile, FileStat, PendingEmbedding, RunStats
from .workspace import Workspace

log = logging.getLogger(__name__)

WRITE_BATCH_FILES = 32
WRITE_BATCH_SECONDS = 0.5
# Texts per request to the embedding process: a few of its batches, so a
# request is sorted by length as a whole and vectors come back steadily.
EMBED_REQUEST_BATCHES = 8
EMBED_REQUESTS_IN_FLIGHT = 2
MAX_EMBEDDER_RESTARTS = 3


class Progress:
    """What the pipeline tells its caller; the CLI draws bars, the server sends $/progress."""

    def files(self, done: int, total: int) -> None: ...

    def embedding(self, done: int, total: int) -> None: ...

    def message(self, text: str) -> None: ...

    def failed(self, text: str) -> None:
        """The pass stopped; what is already indexed still answers."""
        self.message(text)


@dataclass
class _EmbedBatch:
    hashes: list[str]
    future: Future


# The index meta key saying which chunker version chunked every file.
CHUNKED_BY = "chunker_version"


class EmbedBacklog:
    """Texts waiting for a vector, in the order they go to the model: those of
    a file just saved, then the first window of every definition, then the
    windows that continue long definitions, then test code. Search finds a
    definition by its first window; the rest add detail, and are a third to a
    half of the work. Tests are another third of some projects (sympy's)."""

    SAVED, FIRST_WINDOW, CONTINUATION, TEST_CODE = range(4)

    def __init__(self) -> None:
        # OrderedDict, not dict: taking from the front of a plain dict again and
        # again rescans the holes its earlier deletions left, quadratic in a large tree.
        self._tiers: list[OrderedDict[str, str]] = [OrderedDict() for _ in range(4)]
        self._tier_of: dict[str, int] = {}

    @classmethod
    def tier(cls, *, continues_a_definition: bool, in_tests: bool, saved: bool = False) -> int:
        if saved:
            return cls.SAVED
        if in_tests:
            return cls.TEST_CODE
        return cls.CONTINUATION if continues_a_definition else cls.FIRST_WINDOW

    def add(self, text_hash: str, text: str, tier: int) -> bool:
        """Queue a text, or move it up to `tier` if it waits further back;
        True if it was not waiting."""
        waiting = self._tier_of.get(text_hash)
        if waiting is not None:
            if waiting <= tier:
                return False
            del self._tiers[waiting][text_hash]
        self._tiers[tier][text_hash] = text
        self._tier_of[text_hash] = tier
        return waiting is None

    def take(self, n: int) -> tuple[list[str], list[str]]:
        """Up to n (hashes, texts), first in line first."""
        hashes: list[str] = []
        texts: list[str] = []
        for tier in self._tiers:
            while tier and len(hashes) < n:
                h, text = tier.popitem(last=False)
                del self._tier_of[h]
                hashes.append(h)
                texts.append(text)
        return hashes, texts

    def __contains__(self, text_hash: str) -> bool:
        return text_hash in self._tier_of

    def __len__(self) -> int:
        return len(self._tier_of)


def _pending_tier(p: PendingEmbedding) -> int:
    return EmbedBacklog.tier(continues_a_definition=p.continues_a_definition, in_tests=is_test_code(p.relpath))


class Indexer:
    def __init__(self, workspace: Workspace, embedder: Embedder | None, pool: ChunkPool | None = None):
        self.ws = workspace
        self.embedder = embedder
        self._own_pool = pool is None
        self._pool = pool

    def _chunk_pool(self) -> ChunkPool:
        if self._pool is None:
            s, spec = self.ws.settings, self.ws.spec
            self._pool = ChunkPool(s.pool_size, spec.tokenizer_json, spec.max_tokens, s.max_file_size)
        return self._pool

    def close(self) -> None:
        if self._own_pool and self._pool is not None:
            self._pool.close()
            self._pool = None

    def run(self, paths: list[str] | None = None, *, progress: Progress | None = None,
            embed: bool = True, should_stop: Callable[[], bool] = lambda: False,
            take_paths: Callable[[], list[str]] = lambda: []) -> RunStats:
        """Bring the index up to date: the whole workspace, or just `paths`
        (relative or absolute; missing ones are removed from the index).

        While the run waits on the embedding process it polls `take_paths` for
        files saved meanwhile and indexes them at once, ahead of the backlog."""
        progress = progress or Progress()
        with self.ws.write_lock(on_wait=progress.message):
            return _Run(self, progress, embed, should_stop, take_paths).execute(paths)


class _Run:
    def __init__(self, indexer: Indexer, progress: Progress, embed: bool, should_stop, take_paths):
        self.ix = indexer
        self.take_paths = take_paths
        self.ws = indexer.ws
        self.store = indexer.ws.writer
        self.progress = progress
        self.embed = embed and indexer.embedder is not None
        self.should_stop = should_stop
        self.stats = RunStats()
        self._batch: list[ChunkedFile] = []
        self._batch_started = time.monotonic()
        self._to_embed = EmbedBacklog()
        self._in_flight: list[_EmbedBatch] = []
        self._done_embeddings: queue.Queue = queue.Queue()
        self._embed_total = 0
        self._embed_done = 0
        self._embedder_ready = threading.Event()
        self._embedder_requested = False
        self._embedder_failed: str | None = None
        self._restarts = 0
        self._vector_table_ready = False

    def execute(self, paths: list[str] | None) -> RunStats:
        start = time.monotonic()
        if self.store.notice:
            self.progress.message(self.store.notice)
            self.store.notice = ""
        if paths is None and self.store.is_empty():
            # A first index: every file will need a worker, and nearly every text a
            # vector. The model loads at background priority, behind phase 1.
            self.ix._chunk_pool().prestart()
            if self.embed:
                self._start_embedder_soon()
        tasks, removed = self._changes(paths)
        self.stats.removed = self.store.remove_files(removed)
        self.stats.changed = len(tasks)

        pending = self.store.pending_embeddings() if self.embed else []
        if pending:
            self._start_embedder_soon()
        for p in pending:
            self._to_embed.add(p.text_hash, p.embed_text, _pending_tier(p))
        self._embed_total = len(self._to_embed)

        self._chunk(tasks, report=True)
        if paths is None and not self.should_stop():
            self.store.set_meta(CHUNKED_BY, CHUNKER_VERSION)
        if self.embed:
            self._embed_until_done()
        if not paths:
            self.store.prune_vectors(keep_orphans=max(2000, self.store.counts().chunks // 2))
        self.stats.seconds = time.monotonic() - start
        if not paths:
            self.store.set_last_run(self.stats.to_json())
        return self.stats

    def _chunk(self, tasks: list[ChunkTask], report: bool) -> None:
        if not tasks:
            return
        total = len(tasks)
        done = [0]

        def on_result(result: ChunkedFile) -> None:
            done[0] += 1
            self._collect(result)
            if report and (done[0] % 8 == 0 or done[0] == total):
                self.progress.files(done[0], total)

        self.ix._chunk_pool().chunk(tasks, on_result, self.should_stop)
        self._flush(urgent=not report)

    def _index_saved_files(self) -> None:
        paths = self.take_paths()
        if not paths:
            return
        tasks, removed = self._changes(paths)
        self.store.remove_files(removed)
        self._chunk(tasks, report=False)

    # -- changes -----------------------------------------------------------------------

    def _changes(self, paths: list[str] | None) -> tuple[list[ChunkTask], list[str]]:
        known = self.store.file_states()
        root, settings = self.ws.root, self.ws.settings
        if paths is None:
            found = discover(root, settings.max_file_size, settings.exclude)
            for rel, reason in found.skipped:
                self.stats.skipped += 1
                self.stats.errors.append(f"{rel}: skipped, {reason}")
            candidates = found.files
            removed = sorted(set(known) - {f.relpath for f in candidates})
        else:
            candidates, removed = [], []
            for p in paths:
                absolute = p if os.path.isabs(p) else str(root / p)
                rel = os.path.relpath(absolute, root).replace(os.sep, "/")
                if rel.startswith("../"):
                    continue
                if is_indexable_path(root, root / rel, settings.max_file_size, settings.exclude):
                    st = os.stat(absolute)
                    candidates.append(DiscoveredFile(rel, absolute, FileStat(st.st_size, st.st_mtime_ns, st.st_ino)))
                elif not os.path.lexists(absolute):  # deleted, or a deleted directory's contents
                    removed.extend(k for k in known if k == rel or k.startswith(rel + "/"))
                elif rel in known:  # now ignored, too large or no longer a file
                    removed.append(rel)
        self.stats.scanned = len(candidates)
        # Chunked by another version of the chunker: every file is read and chunked again.
        rechunk = paths is None and self.store.get_meta(CHUNKED_BY) != CHUNKER_VERSION
        tasks = []
        for f in candidates:
            previous = known.get(f.relpath)
            if not rechunk and previous is not None and previous[0] == f.stat:
                continue  # stat unchanged: not even read
            known_hash = previous[1] if previous is not None and not rechunk else None
            embed = not is_vendored(f.relpath) and not is_bulk_data(f.relpath, f.stat.size)
            tasks.append(ChunkTask(f.relpath, f.abspath, f.stat, known_hash, embed=embed))
        return tasks, removed

    # -- phase 1 -----------------------------------------------------------------------

    def _collect(self, result: ChunkedFile) -> None:
        if result.status == "skipped":
            self.stats.skipped += 1
            self.stats.errors.append(f"{result.relpath}: skipped, {result.reason}")
            if "crashed" in result.reason:
                self.stats.failed += 1
        self._batch.append(result)
        if len(self._batch) >= WRITE_BATCH_FILES or time.monotonic() - self._batch_started > WRITE_BATCH_SECONDS:
            self._flush()
        self._drain_embeddings()

    def _flush(self, urgent: bool = False) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        self._batch_started = time.monotonic()
        self.stats.chunks_written += self.store.write_files(batch)
        if not self.embed:
            return
        new = [
            (c, EmbedBacklog.tier(continues_a_definition=c.continues_a_definition, in_tests=is_test_code(r.relpath),
                                  saved=urgent))
            for r in batch if r.status == "indexed" and r.embed for c in r.chunks
        ]
        if new:
            have = self.store.embedded_among(list({c.text_hash for c, _ in new}))
            # A text met twice waits in the better of its two places (`add` moves it up).
            added = sum(
                self._to_embed.add(c.text_hash, c.embed_text, tier) for c, tier in new if c.text_hash not in have
            )
            self._embed_total += added
            if added:
                self._start_embedder_soon()
        self._feed()

    # -- phase 2 -----------------------------------------------------------------------

    def _start_embedder_soon(self) -> None:
        """Load the model, in the background, once the run finds a text that has
        no vector: a branch switch back to known code never pays for it."""
        if not self._embedder_requested:
            self._embedder_requested = True
            threading.Thread(target=self._start_embedder, daemon=True).start()

    def _start_embedder(self) -> None:
        try:
            self.ix.embedder.ensure_started()
        except EmbedderError as exc:
            self._embedder_failed = str(exc)
        finally:
            self._embedder_ready.set()

    def _feed(self) -> None:
        if not self._embedder_ready.is_set() or self._embedder_failed:
            return
        if not self._vector_table_ready:
            emb = self.ix.embedder
            if self.store.use_vector_model(emb.model_id, emb.dim):
                self.progress.message(f"model changed to {emb.model_id}: vectors will be recomputed")
                for p in self.store.pending_embeddings():
                    self._to_embed.add(p.text_hash, p.embed_text, _pending_tier(p))
                self._embed_total = len(self._to_embed) + self._embed_done
            self._vector_table_ready = True
        while self._to_embed and len(self._in_flight) < EMBED_REQUESTS_IN_FLIGHT:
            per_request = EMBED_REQUEST_BATCHES * batch_texts(self.ix.embedder.device or "cpu")
            hashes, texts = self._to_embed.take(per_request)
            batch = _EmbedBatch(hashes, self.ix.embedder.embed_documents(texts))
            batch.future.add_done_callback(lambda _f, b=batch: self._done_embeddings.put(b))
            self._in_flight.append(batch)

    def _drain_embeddings(self, block: bool = False) -> None:
        while True:
            try:
                batch = self._done_embeddings.get(block=block, timeout=0.2 if block else None)
            except queue.Empty:
                return
            block = False
            self._in_flight.remove(batch)
            try:
                vectors = batch.future.result()
            except EmbedderError as exc:
                self._restarts += 1
                if self._restarts > MAX_EMBEDDER_RESTARTS:
                    self._embedder_failed = str(exc)
                else:
                    log.warning("embedding process stopped (%s); restarting it", exc)
                    self.progress.message(f"embedding process stopped ({exc}); restarting it")
                    # Put the texts back: they are still pending in the index.
                    for p in self.store.pending_embeddings():
                        if p.text_hash in batch.hashes:
                            self._to_embed.add(p.text_hash, p.embed_text, _pending_tier(p))
                    self._embedder_ready.clear()
                    threading.Thread(target=self._start_embedder, daemon=True).start()
                continue
            written = self.store.write_vectors(zip(batch.hashes, vectors))
            self.stats.embedded += written
            self._embed_done += len(batch.hashes)
            self.progress.embedding(self._embed_done, self._embed_total)
            self._feed()

    def _embed_until_done(self) -> None:
        if not self._to_embed and not self._in_flight:
            return
        self.progress.embedding(self._embed_done, self._embed_total)
        while (self._to_embed or self._in_flight) and not self.should_stop():
            if not self._embedder_ready.is_set():
                self._embedder_ready.wait(0.2)
                continue
            if self._embedder_failed and not self._in_flight:
                self.stats.errors.append(f"embedding failed: {self._embedder_failed}")
                self.progress.message(f"embedding failed: {self._embedder_failed}; lexical search still works")
                return
            self._index_saved_files()
            self._feed()
            self._drain_embeddings(block=True)
