"""The pipeline: walk -> detect changes -> chunk (pool) -> store phase 1 ->
embed (the embedder) -> store phase 2.

One run is one loop over one queue of typed events: a file chunked, a chunking
job done, files saved meanwhile, vectors done or failed, the embedder ready or
not. Only the loop's thread touches the index; the chunk pool (on a thread of its
own), the embedder's futures and its start-up post events. Chunking and embedding
overlap: as soon as a batch of files is chunked and committed, its new texts go
to the embedder while the pool chunks the next files. The index itself is the
queue of work: any chunk whose text has no vector is pending, so a run that was
killed simply carries on where it stopped.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from ..embed.interface import Embedder, EmbedderError, EmbedderInputError, EmbedderRefused
from ..store import IndexDamaged
from ..models import (
    ChunkedFile, ChunkStatus, ChunkTask, DiscoveredFile, FileStat, RunStats, embed_text, embedding_failure,
)
from ..workspace import Workspace
from .backlog import EmbedBacklog, Focus, embedded_last, pending_tier
from .lexical import with_lexical
from .policy import CHUNKER_VERSION, embedded_by_path
from .pool import ChunkPool
from .progress import Progress
from .walk import discover, is_indexable_path

log = logging.getLogger(__name__)

# Phase 1 commits a batch of files at a time. The first batches are small, so
# symbols answer at once; then they grow, since each commit rewrites every page
# it touched (a fifth of the kernel's phase 1 went to commits of 32 files).
FIRST_BATCH_FILES = 32
LARGEST_BATCH_FILES = 512
BATCHES_PER_DOUBLING = 8
WRITE_BATCH_SECONDS = 0.5
LARGEST_BATCH_SECONDS = 2.0
MAX_EMBEDDER_RESTARTS = 3
# Texts the embedding queue holds at most, past the files saved and in focus: the
# rest wait in the index and are read into the queue as it empties (a scan of the
# index's pending texts: seconds on a kernel-sized tree, once every hour of embedding).
QUEUE_CAP = 100_000
# How often an idle loop looks for files saved meanwhile and for a stop.
TICK_SECONDS = 0.2

# The index meta key saying which chunker version chunked every file.
CHUNKED_BY = "chunker_version"


# -- events ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileChunked:
    result: ChunkedFile
    job: "ChunkJob"


@dataclass(frozen=True)
class ChunkJobDone:
    job: "ChunkJob"


@dataclass(frozen=True)
class EmbedderReady:
    pass


@dataclass(frozen=True)
class EmbedderFailed:
    error: str


@dataclass(frozen=True)
class VectorsDone:
    request: "EmbedRequest"


Event = FileChunked | ChunkJobDone | EmbedderReady | EmbedderFailed | VectorsDone


@dataclass
class ChunkJob:
    tasks: list[ChunkTask]
    saved: bool  # files the user just saved: written and embedded first
    done: int = 0
    taken: bool = False  # by the chunk thread (a saved job is queued twice: see _submit)


@dataclass
class EmbedRequest:
    hashes: list[str]
    future: Future
    generation: int  # which start of the embedder it went to


@dataclass
class _Embedding:
    """The embedding side of a run."""

    backlog: EmbedBacklog = field(default_factory=EmbedBacklog)
    in_flight: list[EmbedRequest] = field(default_factory=list)
    total: int = 0
    done: int = 0
    requested: bool = False  # a start of the embedder was asked for
    ready: bool = False
    failed: str | None = None
    generation: int = 0
    restarts: int = 0
    vector_table_ready: bool = False
    # The index's vectors are another model's: the run waits for this one to
    # start, to learn which of its vectors the index keeps.
    switching: bool = False
    # Texts wait in the index that the queue (QUEUE_CAP) does not hold.
    left_in_index: bool = False


class Indexer:
    def __init__(self, workspace: Workspace, embedder: Embedder | None, pool: ChunkPool | None = None):
        self.ws = workspace
        self.embedder = embedder
        self._own_pool = pool is None
        self._pool = pool

    def chunk_pool(self) -> ChunkPool:
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
            take_paths: Callable[[], list[str]] = lambda: [], rechunk: bool = False,
            damaged: str | None = None, focus: Callable[[], list[str]] = lambda: []) -> RunStats:
        """Bring the index up to date: the whole workspace, or just `paths`
        (relative or absolute; missing ones are removed from the index).
        `rechunk` reads and chunks every file again, whatever its stat says.

        While the run goes on it asks `take_paths` for files saved meanwhile and
        indexes them ahead of everything else, and `focus` for the files open in
        the editor (workspace-relative): they and their folders come next. `damaged`: a query found the index
        damaged (why): it is moved aside and built again from the tree."""
        progress = progress or Progress()
        with self.ws.write_lock(on_wait=progress.message):
            if damaged is not None:
                progress.message(self.ws.discard_damaged(damaged))
                paths = None
            try:
                return _Run(self, progress, embed, should_stop, take_paths, focus).execute(paths, rechunk)
            except IndexDamaged as damage:
                # Damage a check vouched for (a page overwritten, size and mtime kept):
                # the same as a failed check at open, a new index from the tree.
                progress.message(self.ws.discard_damaged(str(damage)))
                return _Run(self, progress, embed, should_stop, take_paths, focus).execute(None, rechunk)


# A phase 1 allocates millions of short-lived objects (every chunk unpickled):
# at Python's default threshold (700) the young collections took 8 % of the
# kernel's main process. Counted, since several workspaces may run at once.
_quieter_gc = {"runs": 0, "saved": gc.get_threshold()}
_quieter_gc_lock = threading.Lock()
RUN_GC_THRESHOLD = 50_000


@contextlib.contextmanager
def fewer_collections():
    with _quieter_gc_lock:
        if _quieter_gc["runs"] == 0:
            _quieter_gc["saved"] = gc.get_threshold()
            gc.set_threshold(RUN_GC_THRESHOLD, *_quieter_gc["saved"][1:])
        _quieter_gc["runs"] += 1
    try:
        yield
    finally:
        with _quieter_gc_lock:
            _quieter_gc["runs"] -= 1
            if _quieter_gc["runs"] == 0:
                gc.set_threshold(*_quieter_gc["saved"])


class _Run:
    def __init__(self, indexer: Indexer, progress: Progress, embed: bool, should_stop, take_paths, focus):
        self.indexer = indexer
        self.ws = indexer.ws
        self.store = indexer.ws.writer
        self.embedder = indexer.embedder if embed else None
        self.progress = progress
        self.should_stop = should_stop
        self.take_paths = take_paths
        self.focus_of = focus
        self.focus = Focus([])
        self.focus_unwritten: set[str] = set()  # files in focus of this pass not yet written
        self.focus_chunked = 0  # of those, chunked
        # The files open in the editor, of this pass, not yet written: nothing goes
        # to the model before them (a batch written on time may hold only their
        # neighbours, whose chunks came back first).
        self.open_unwritten: set[str] = set()
        self.stats = RunStats()
        self.leaving = threading.Event()  # the run is over, done or not: chunk no more
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.jobs: queue.SimpleQueue[ChunkJob | None] = queue.SimpleQueue()
        self.saved_jobs: queue.SimpleQueue[ChunkJob] = queue.SimpleQueue()
        self.saved_unwritten: set[str] = set()  # chunked for a saved job, not yet written
        self.jobs_open = 0
        self.full_pass_chunking = False
        self.unwritten: list[ChunkedFile] = []
        self.unwritten_since = time.monotonic()
        self.batches_written = 0
        self.emb = _Embedding()
        self.blind = False  # the walk could not see into some directory

    # -- the loop ----------------------------------------------------------------------

    def execute(self, paths: list[str] | None, rechunk: bool) -> RunStats:
        start = time.monotonic()
        self.ws.rebuild_needed = False  # this run is the rebuild
        notice = self.store.take_notice()
        if notice:
            self.progress.message(notice)
        full = paths is None
        if full and self.store.is_empty():
            # A first index: every file will need a worker, and nearly every text a
            # vector. The model loads at background priority, behind phase 1.
            self.indexer.chunk_pool().prestart()
            self._start_embedder()
        tasks, removed = self._changes(paths, rechunk)
        self.stats.removed = self.store.remove_files(removed)
        self.stats.changed = len(tasks)
        if self.embedder is not None:
            self.emb.total += self._queue_pending()
            if self.store.vector_model()[0] != self.embedder.model_id and not self.store.is_empty():
                # Another model's vectors are in use: this one's may be kept, or missing.
                self.emb.switching = True
                self._start_embedder()
        chunker = threading.Thread(target=self._chunk_jobs, daemon=True, name="fathom-chunk-jobs")
        chunker.start()
        try:
            if tasks:
                self.full_pass_chunking = full
                # Said before any vector can arrive (a backlog's, the open files'): until
                # the last count, files are left to read and the words are not all there.
                self.progress.files(0, len(tasks))
                self._submit(ChunkJob(tasks, saved=False))
            with fewer_collections():
                self._loop()
            self._write()  # what a stop left chunked but unwritten
        finally:
            # Left early (Ctrl-C, SIGTERM, an error) the chunk thread must not finish
            # its job first: phase 1 of a large tree is minutes.
            self.leaving.set()
            self.jobs.put(None)
            chunker.join(30)
        if full and not self.should_stop():
            self.store.set_meta(CHUNKED_BY, CHUNKER_VERSION)
        if not paths and not self.blind and (self.stats.changed or self.stats.removed):
            # Vectors no chunk uses are pruned only after a run that saw the whole tree:
            # one that could not list a directory would take its vectors for orphans.
            # A run that changed nothing made none (and the look costs seconds at a million vectors).
            self.store.prune_vectors(keep_orphans=max(2000, self.store.chunk_ids_end() // 2))
        self.stats.seconds = time.monotonic() - start
        if not paths:
            self.store.set_last_run(self.stats.to_json())
        return self.stats

    def _loop(self) -> None:
        while not self._finished():
            if self.should_stop():
                return
            saved = self.take_paths() if self.embedder is not None or self.jobs_open else []
            if saved:
                self._on_saved(saved)
            try:
                event = self.events.get(timeout=TICK_SECONDS)
            except queue.Empty:
                self._write_if_due()
                continue
            self._handle(event)
            self._feed_embedder()

    def _finished(self) -> bool:
        if self.jobs_open:
            return False
        if self.embedder is None or self.emb.failed is not None and not self.emb.in_flight:
            return True
        return not self.emb.backlog and not self.emb.in_flight and not self.emb.left_in_index \
            and not (self.emb.switching and not self.emb.ready)

    def _handle(self, event: Event) -> None:
        if isinstance(event, FileChunked):
            self._on_file(event.result, event.job)
        elif isinstance(event, ChunkJobDone):
            self._on_job_done(event.job)
        elif isinstance(event, VectorsDone):
            self._on_vectors(event.request)
        elif isinstance(event, EmbedderReady):
            self._on_embedder_ready()
        elif isinstance(event, EmbedderFailed):
            self.emb.failed = event.error
            self._report_embedding_failure()

    # -- changes -----------------------------------------------------------------------

    def _changes(self, paths: list[str] | None, rechunk: bool = False) -> tuple[list[ChunkTask], list[str]]:
        known = self.store.file_states()
        root, settings = self.ws.root, self.ws.settings
        if paths is None:
            found = discover(root, settings.max_file_size, settings.exclude)
            for rel, reason in found.skipped:
                self.stats.skip(rel, reason)
            candidates = found.files
            self.blind = bool(found.unseen)
            self.stats.unseen = found.unseen
            present = {f.relpath for f in candidates}
            removed = sorted(k for k in known if k not in present and found.seen(k))
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
        # Chunked by another version of the chunker, or asked to: every file is read and chunked again.
        rechunk = rechunk or (paths is None and self.store.get_meta(CHUNKED_BY) != CHUNKER_VERSION)
        tasks = []
        for f in candidates:
            previous = known.get(f.relpath)
            if not rechunk and previous is not None and previous[0] == f.stat:
                continue  # stat unchanged: not even read
            known_hash = previous[1] if previous is not None and not rechunk else None
            tasks.append(ChunkTask(f.relpath, f.abspath, f.stat, known_hash,
                                   embed=embedded_by_path(f.relpath, f.stat.size)))
        if paths is None:
            self.focus = Focus(self.focus_of())
            if self.focus:
                tasks.sort(key=lambda task: self.focus.order(task.relpath))  # stable: walk order within each
                self.focus_unwritten = {t.relpath for t in tasks if self.focus.holds(t.relpath)}
                self.open_unwritten = {t.relpath for t in tasks if self.focus.order(t.relpath) == 0}
        return tasks, removed

    def _on_saved(self, paths: list[str]) -> None:
        """Files saved while the run goes on: written and embedded before anything else."""
        tasks, removed = self._changes(paths)
        self.store.remove_files(removed)
        if tasks:
            self._submit(ChunkJob(tasks, saved=True))

    # -- phase 1: chunking and writing -------------------------------------------------

    def _submit(self, job: ChunkJob) -> None:
        self.jobs_open += 1
        if job.saved:
            # Saved files wait for no full pass (minutes on a large tree): the job in
            # progress chunks them between its own files. Queued in order too, for a
            # chunk thread that is idle; whichever takes it first runs it.
            self.saved_jobs.put(job)
        self.jobs.put(job)

    def _chunk_jobs(self) -> None:
        """The chunk pool's side, on a thread of its own: each job's files in
        order, every result posted to the loop."""
        pool = self.indexer.chunk_pool()
        while (job := self.jobs.get()) is not None:
            self._chunk_job(pool, job)

    def _chunk_job(self, pool, job: ChunkJob) -> None:
        if job.taken:
            return
        job.taken = True
        try:
            pool.chunk(job.tasks, lambda result, job=job: self.events.put(FileChunked(result, job)),
                       lambda: self.leaving.is_set() or self.should_stop(),
                       between=None if job.saved else lambda: self._saved_between(pool))
        finally:
            self.events.put(ChunkJobDone(job))

    def _saved_between(self, pool) -> bool:
        ran = False
        while True:
            try:
                job = self.saved_jobs.get_nowait()
            except queue.Empty:
                return ran
            ran = ran or not job.taken
            self._chunk_job(pool, job)

    def _on_file(self, result: ChunkedFile, job: ChunkJob) -> None:
        if result.not_indexed:
            self.stats.skip(result.relpath, result.reason, crashed=result.status == ChunkStatus.CRASHED)
        self.unwritten.append(result)
        if job.saved:
            self.saved_unwritten.add(result.relpath)
        job.done += 1
        if self.focus_unwritten and result.relpath in self.focus_unwritten:
            self.focus_chunked += 1
        # An open file is written (searchable, first in line) the moment it is
        # chunked; the other files in focus the moment the last of them is.
        if result.relpath in self.open_unwritten or (
                self.focus_unwritten and self.focus_chunked >= len(self.focus_unwritten)):
            self._write()
        # The last count is the job's end's, once its last files are written: "all
        # files" then means all searchable by name and words.
        if not job.saved and job.done % 8 == 0 and job.done < len(job.tasks):
            self.progress.files(job.done, len(job.tasks))
        self._write_if_due()

    def _on_job_done(self, job: ChunkJob) -> None:
        self.jobs_open -= 1
        self._write()
        if not job.saved:
            self.progress.files(job.done, len(job.tasks))
            self.full_pass_chunking = False
            if self.embedder is not None and self.emb.backlog:
                self.progress.embedding(self.emb.done, self.emb.total)

    def _write_if_due(self) -> None:
        files = min(LARGEST_BATCH_FILES, FIRST_BATCH_FILES << (self.batches_written // BATCHES_PER_DOUBLING))
        seconds = LARGEST_BATCH_SECONDS if files == LARGEST_BATCH_FILES else WRITE_BATCH_SECONDS
        if len(self.unwritten) >= files or time.monotonic() - self.unwritten_since > seconds:
            self._write()

    def _write(self) -> None:
        """Phase 1 for a batch of files: symbols and words searchable; their new
        texts queued for vectors (a saved file's first of all)."""
        self.unwritten_since = time.monotonic()
        if not self.unwritten:
            return
        # The chunk workers made the full-text fields; a file chunked otherwise gets them here.
        batch, self.unwritten = [r if r.lexical else with_lexical(r) for r in self.unwritten], []
        self.batches_written += 1
        written = {r.relpath for r in batch}
        self.open_unwritten -= written
        if self.focus_unwritten:
            self.focus_chunked -= len(self.focus_unwritten & written)
            self.focus_unwritten -= written
        self.stats.chunks_written += self.store.write_files(batch)
        saved = {r.relpath for r in batch} & self.saved_unwritten
        self.saved_unwritten -= saved
        if self.embedder is None:
            return
        new = [
            (c, EmbedBacklog.tier(continues_a_definition=c.continues_a_definition, last=embedded_last(r.relpath, c.container),
                                  saved=r.relpath in saved, focus=self.focus.order(r.relpath)))
            for r in batch if r.status == ChunkStatus.INDEXED and r.embed for c in r.chunks
        ]
        if not new:
            return
        have = self.store.embedded_among(list({c.text_hash for c, _ in new}))
        # A text met twice waits in the better of its two places (`add` moves it up).
        added, left = 0, set()
        for c, tier in new:
            if c.text_hash in have:
                continue
            if self._queue_holds(c.text_hash, tier):
                added += self.emb.backlog.add(c.text_hash, len(c.header) + 1 + len(c.text), tier)
            else:
                left.add(c.text_hash)
        self.emb.total += added + len(left)
        self.emb.left_in_index |= bool(left)
        if added or left:
            self._start_embedder()

    def _queue_holds(self, text_hash: str, tier: int) -> bool:
        """Whether the queue takes a text now: up to QUEUE_CAP, and always a saved
        file's and those of the files in focus (few, and wanted first)."""
        return len(self.emb.backlog) < QUEUE_CAP or tier <= EmbedBacklog.BESIDE_OPEN_FILE \
            or text_hash in self.emb.backlog

    # -- phase 2: embedding ------------------------------------------------------------

    def _queue_pending(self) -> int:
        """Texts the index already holds without a vector (a run that was stopped),
        into the queue as far as it takes them; returns how many wait there."""
        focus = Focus(self.focus_of())
        in_flight = {h for request in self.emb.in_flight for h in request.hashes}
        waiting = 0
        for p in self.store.waiting_texts():
            if p.text_hash in in_flight:
                continue
            tier = pending_tier(p, focus.order(p.relpath))
            if self._queue_holds(p.text_hash, tier):
                self.emb.backlog.add(p.text_hash, p.length, tier)
            waiting += 1
        self.emb.left_in_index = waiting > len(self.emb.backlog)
        if self.emb.backlog:
            self._start_embedder()
        return waiting

    def _refill_queue(self) -> None:
        """The queue ran low and texts wait in the index: read them in."""
        waiting = self._queue_pending()
        in_flight = sum(len(request.hashes) for request in self.emb.in_flight)
        self.emb.total = self.emb.done + in_flight + waiting

    def _start_embedder(self) -> None:
        """Load the model, in the background, once the run finds a text that has
        no vector: a branch switch back to known code never pays for it."""
        if self.embedder is None or self.emb.requested:
            return
        self.emb.requested = True
        if not self.embedder.alive and getattr(self.embedder, "provider", "local") == "local":
            self.progress.message(f"loading the model ({self.embedder.model_id})…")
        elif not self.embedder.alive:
            self.progress.message(f"asking the embedding engine at {self.embedder.device} for {self.embedder.model_id}…")

        def start() -> None:
            try:
                self.embedder.ensure_started()
            except EmbedderError as exc:
                self.events.put(EmbedderFailed(str(exc)))
            else:
                self.events.put(EmbedderReady())

        threading.Thread(target=start, daemon=True, name="fathom-embedder-start").start()

    def _on_embedder_ready(self) -> None:
        self.emb.ready = True
        if self.emb.vector_table_ready:
            return
        self.emb.vector_table_ready = True
        if self.store.use_vector_model(self.embedder.model_id, self.embedder.dim):
            self.progress.message(f"model changed to {self.embedder.model_id}: texts it has no vectors for will be embedded")
            self.emb.total = self._queue_pending() + self.emb.done

    def _feed_embedder(self) -> None:
        emb = self.emb
        if not emb.ready or emb.failed is not None:
            return
        # Test code and release notes wait until the whole tree is chunked: the project's own code,
        # wherever the walk meets it, goes to the model first.
        last_too = not self.full_pass_chunking
        # Likewise the rest of the tree waits until the files in focus are all written,
        # and everything until the open files themselves are.
        if self.open_unwritten:
            return
        focus_only = bool(self.focus_unwritten)
        per_request, free = self.embedder.request_size, self.embedder.requests_in_flight - len(emb.in_flight)
        # Only when low: a refill that finds the queue full again must not run at every event.
        if emb.left_in_index and free > 0 and len(emb.backlog) < QUEUE_CAP // 4:
            self._refill_queue()
        hashes: list[str] = []
        while not hashes:
            if free <= 0 or not emb.backlog.waiting(last_too=last_too, focus_only=focus_only):
                return
            # What the free slots take is sorted by length as a whole (within each
            # place in line), so that each request pads its texts to a similar length.
            taken = emb.backlog.take(per_request * free, last_too=last_too, focus_only=focus_only, by_length=True)
            sources = self.store.chunk_sources(taken)
            # A text whose chunks are gone since it was queued (its file changed again) needs no vector.
            hashes = [h for h in taken if h in sources]
            emb.total -= len(taken) - len(hashes)
        texts = [embed_text(*sources[h]) for h in hashes]
        for start in range(0, len(texts), per_request):
            request = EmbedRequest(hashes[start:start + per_request],
                                   self.embedder.embed_documents(texts[start:start + per_request]), emb.generation)
            emb.in_flight.append(request)
            request.future.add_done_callback(lambda _f, r=request: self.events.put(VectorsDone(r)))

    def _on_vectors(self, request: EmbedRequest) -> None:
        emb = self.emb
        emb.in_flight.remove(request)
        try:
            vectors = request.future.result()
        except EmbedderInputError as exc:
            # The process lives; these texts stay pending, for a later run or model.
            log.warning("%d texts could not be embedded: %s", len(request.hashes), exc)
            self.stats.unembeddable += len(request.hashes)
            return
        except EmbedderError as exc:
            self._on_embedder_death(request, exc)
            return
        self.stats.embedded += self.store.write_vectors(zip(request.hashes, vectors))
        emb.done += len(request.hashes)
        self.progress.embedding(emb.done, emb.total)

    def _on_embedder_death(self, request: EmbedRequest, exc: EmbedderError) -> None:
        emb = self.emb
        # Its texts are still pending in the index: back in line.
        lost = set(request.hashes)
        for p in self.store.waiting_texts():
            if p.text_hash in lost:
                emb.backlog.add(p.text_hash, p.length, pending_tier(p))
        if request.generation != emb.generation:
            return  # the same death, seen by another request in flight
        emb.generation += 1
        emb.restarts += 1
        if emb.restarts > MAX_EMBEDDER_RESTARTS or isinstance(exc, EmbedderRefused):
            emb.failed = str(exc)
            self._report_embedding_failure()
            return
        log.warning("embedding stopped (%s); starting it again", exc)
        self.progress.message(f"embedding stopped ({exc}); starting it again")
        emb.ready = emb.requested = False
        self._start_embedder()

    def _report_embedding_failure(self) -> None:
        self.stats.embedding_error = self.emb.failed
        self.progress.message(embedding_failure(self.emb.failed))
