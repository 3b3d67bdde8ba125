"""One open workspace inside a long-running process (the language server, the
MCP server): a background thread that keeps its index current, the watcher that
feeds it changes made outside the editor, and the queries against it.

Knows nothing of JSON-RPC: the protocol layers reach it through the `Engine`,
and the `Progress` it is given becomes their notifications.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from dataclasses import replace
from collections.abc import Callable
from pathlib import Path

from ..config import Settings
from ..embed.interface import Embedder, EmbedderError
from ..index.pool import ChunkPool
from ..index.progress import Progress
from ..index.run import Indexer
from ..models import IndexCounts, SymbolHit
from ..search import SearchFilters, Searcher, SearchResult
from ..share.seed import SEEDED_FROM, seed_if_new
from ..store import IndexDamaged, StoreError
from ..workspace import Workspace
from .door import Door
from .keeper import EmbedderKeeper

log = logging.getLogger(__name__)


# A tree too large to watch is rescanned when a file is opened or saved, at most this often.
RESCAN_EVERY_S = 10.0
# How long a question whose answer is final (an agent's tool call, a shell's
# `fathom search`) waits for the workspace to answer it whole (`wait_answerable`):
# for the first run to write every file, when it comes before that (reading files
# takes seconds, the vectors come later, and an empty answer would be taken as
# "nothing matches"), then for the model to load. An editor never waits.
FIRST_INDEX_WAIT_S = 20.0


def read_as_text(embedder: Embedder, text: str, timeout: float = 30.0) -> bytes | None:
    """A question as the model reads the index's own texts, where the model has a
    question encoder of its own (Markdown and plain text are ranked against it);
    None where it has not (the question's one vector serves all)."""
    if not embedder.reads_questions_apart:
        return None
    return embedder.embed_query(text, timeout, as_code=True)


class WorkspaceClosed(RuntimeError):
    """The workspace was closed (a folder removed, settings changed) while a request was on its way."""


class WorkspaceService:
    def __init__(self, root: Path, settings: Settings, embedder: Embedder, pool: ChunkPool,
                 progress_factory: Callable[[str], Progress], watch: bool = False,
                 keeper: EmbedderKeeper | None = None):
        self.ws = Workspace(root, settings)
        self.embedder = embedder
        self.keeper = keeper or EmbedderKeeper(embedder)
        self.indexer = Indexer(self.ws, embedder, pool)
        self.progress_factory = progress_factory
        # Changes made outside the editor, when no client reports them.
        self.watcher = None
        if watch and settings.watcher:
            from .watch import Watcher  # watchdog: only for a server whose client does not watch

            self.watcher = Watcher(self.ws.root, self.reindex, settings.watch_limit)
        self._watched_by_client = not watch
        self._last_rescan = 0.0
        self.state = "indexing"
        # Set once every file is searchable by name and words: the first run has
        # read them all (or ended). Before that an answer can only be empty or thin.
        self.words_ready = threading.Event()
        self.error: str | None = None
        self.embedding_progress: tuple[int, int] | None = None  # (done, total) of the run's texts
        self._cond = threading.Condition()
        self._full_requested = True
        self._rechunk_requested = False
        self._full_failed = False  # the last full pass did not finish
        self._damaged: str | None = None  # a query found the index damaged: why
        self._paths: set[str] = set()
        self._open_files: set[str] = set()  # open in the editor, workspace-relative
        self._stopping = False
        self._busy = False
        self._queries = 0  # queries reading the index now: closing waits for them
        self._thread = threading.Thread(target=self._loop, name=f"fathom-index-{self.ws.root.name}", daemon=True)
        self.door: Door | None = None

    @property
    def root(self) -> Path:
        return self.ws.root

    def start(self) -> None:
        self._thread.start()
        # One-shot callers (`fathom search` in a shell) ask this process instead of loading a model.
        self.door = Door(self.ws.dir, self)
        if not self.door.open():
            self.door = None
        if self.watcher is not None:
            self.watcher.start()
        # Load the model now, not at the first search (it takes seconds).
        self.keeper.revive()

    # -- index maintenance -------------------------------------------------------------

    def reindex(self, paths: list[str] | None = None, *, rechunk: bool = False) -> None:
        """Queue a full pass (paths None) or just these files; returns at once.
        `rechunk`: the full pass reads and chunks every file again, whatever its
        stat says (vectors stay: they are keyed by the exact text embedded)."""
        self.keeper.revive()
        with self._cond:
            if self._stopping:
                return
            if paths is None:
                self._full_requested = True
                self._rechunk_requested |= rechunk
            else:
                self._paths.update(paths)
                self._rescan_if_unwatched()
            self._cond.notify()

    def _rescan_if_unwatched(self) -> None:
        """A tree the watcher cannot cover: a file opened or saved is the moment
        to look for what changed elsewhere (a walk and a stat of every file;
        unchanged files are not read), at most every RESCAN_EVERY_S."""
        if self.watcher is None or self.watcher.mode != "rescan":
            return
        now = time.monotonic()
        if now - self._last_rescan >= RESCAN_EVERY_S:
            self._last_rescan = now
            self._full_requested = True

    def _take_paths(self) -> list[str]:
        with self._cond:
            return self._take_paths_locked()

    def document_open(self, path: Path, is_open: bool) -> None:
        """A file opened or closed in the editor: the open ones and their folders
        are indexed and embedded before the rest of a full pass."""
        try:
            relpath = path.relative_to(self.ws.root).as_posix()
        except ValueError:
            return
        with self._cond:
            if is_open:
                self._open_files.add(relpath)
                self._rescan_if_unwatched()
                self._cond.notify()
            else:
                self._open_files.discard(relpath)

    def _focus(self) -> list[str]:
        with self._cond:
            return sorted(self._open_files)

    def wait_idle(self, timeout: float) -> bool:
        """Until nothing is being indexed nor waits to be, and the watcher (if
        any) has its watches: what a change made afterwards is sure to be seen by."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._full_requested or self._paths:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return self.watcher is None or self.watcher.wait_started(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._full_requested and not self._paths:
                    self._busy = False
                    self._cond.notify_all()
                    self._cond.wait()
                if self._stopping:
                    self._busy = False
                    self._cond.notify_all()
                    return
                self._busy = True
                # A full pass that failed (a full disk) is what a later save resumes:
                # the error stands until the work it interrupted is done.
                full, self._full_requested = self._full_requested or self._full_failed, False
                rechunk, self._rechunk_requested = self._rechunk_requested and full, False
                damaged, self._damaged = self._damaged, None
                paths = [] if full else self._take_paths_locked()
            self._run(full, paths, rechunk, damaged)

    def _take_paths_locked(self) -> list[str]:
        paths, self._paths = sorted(self._paths), set()
        return paths

    def _run(self, full: bool, paths: list[str], rechunk: bool = False, damaged: str | None = None) -> None:
        progress = self.progress_factory(f"Indexing {self.ws.root.name}") if full else Progress()
        self.state = "indexing"
        self.embedding_progress = None
        try:
            if full and self.ws.settings.seed_index:
                seed_if_new(self.ws, self.ws.settings.seed_index, _StateTracking(self, progress))
            stats = self.indexer.run(
                None if full else paths,
                progress=_StateTracking(self, progress),
                should_stop=lambda: self._stopping,
                take_paths=self._take_paths,
                focus=self._focus,
                rechunk=rechunk,
                damaged=damaged,
            )
            log.info("indexed %s (%s): %s", self.ws.root, "full" if full else f"{len(paths)} paths",
                     stats.to_json())
            for line in stats.error_summary():
                log.info("%s: %s", self.ws.root.name, line)
            if self.embedder.device and self.ws.writer.get_meta("device") != self.embedder.device:
                self.ws.writer.set_meta("device", self.embedder.device)
            if stats.embedding_error:
                # Symbols and words still answer; the user must know meaning does not.
                self.error = f"embedding stopped: {stats.embedding_error}"
                self.state = "error"
                progress.failed(f"{self.ws.root.name}: {self.error}; searches answer from names and words")
            else:
                self.error = None
                self.state = "idle"
            self.prepare_search()
            if full:
                self._full_failed = False
        except Exception as exc:  # noqa: BLE001 - the server keeps answering what it can
            self._full_failed = self._full_failed or full
            if isinstance(exc, StoreError):  # already in the user's terms
                log.error("indexing %s failed: %s", self.ws.root, exc)
                self.error = str(exc)
            else:
                log.exception("indexing %s failed", self.ws.root)
                self.error = f"{type(exc).__name__}: {exc}"
            self.state = "error"
            progress.failed(f"indexing {self.ws.root.name} failed: {self.error}; searches answer from what is indexed")
        finally:
            self.embedding_progress = None
            self.words_ready.set()
            done = getattr(progress, "done", None)
            if done is not None:
                done()

    # -- queries -----------------------------------------------------------------------

    def prepare_search(self) -> None:
        """Once every file is searchable by words: what large indexes' searches
        need is built from here on, in the background."""
        Searcher(self.ws.reader, None).prepare()

    def wait_answerable(self, timeout: float, *, by_meaning: bool = True) -> None:
        """For a question whose answer is final: at most `timeout` s for the first
        run to make every file searchable by name and words, then (`by_meaning`)
        for the model. A search before the model runs answers on words alone, and
        an index already current never started it: an agent's first question,
        right after its MCP server opened the workspace, would get that answer."""
        deadline = time.monotonic() + timeout
        self.words_ready.wait(timeout)
        if by_meaning and not self.embedder.alive:
            self.keeper.wait_running(deadline - time.monotonic())

    def _embed_query(self, text: str) -> bytes:
        if not self.embedder.alive:
            self.keeper.revive()  # this search answers lexically; the next ones will not
            raise EmbedderError("embedding process not running")
        return self.embedder.embed_query(text, timeout=10)

    def _embed_code_now(self, text: str) -> bytes:
        """For find-similar, which has no lexical answer to give meanwhile: an
        embedder that is not running (an index already current never started it)
        is started and waited for."""
        if not self.embedder.alive:
            self.embedder.ensure_started()
        return self.embedder.embed_query(text, timeout=10, as_code=True)

    @contextlib.contextmanager
    def _reading(self):
        """A query's hold on the index: closing waits until none is reading."""
        with self._cond:
            if self._stopping:
                raise WorkspaceClosed(f"workspace {self.ws.root} was closed")
            self._queries += 1
        try:
            yield
        except IndexDamaged as damage:
            log.error("index of %s is damaged (%s); rebuilding it", self.ws.root, damage)
            with self._cond:
                self._damaged = str(damage)
                self._full_requested = True
                self._cond.notify_all()
            raise
        finally:
            with self._cond:
                self._queries -= 1
                if self.ws.rebuild_needed:  # this query's open found the file damaged and replaced it
                    self.ws.rebuild_needed = False
                    self._full_requested = True
                self._cond.notify_all()

    def search(self, query: str, limit: int, paths: list[str] | None = None,
               include_tests: bool | None = None, filters: SearchFilters | None = None) -> SearchResult:
        try:
            return self._search(query, limit, paths, include_tests, filters)
        except IndexDamaged:
            return SearchResult([], partial=True)  # being rebuilt

    def _search(self, query: str, limit: int, paths: list[str] | None, include_tests: bool | None,
                filters: SearchFilters | None) -> SearchResult:
        with self._reading():
            result = Searcher(self.ws.reader, self._embed_query, model_id=self.embedder.model_id,
                              embed_as_text=functools.partial(read_as_text, self.embedder, timeout=10)).search(
                query, limit, paths, include_tests, filters)
            if self.state != "idle" and not result.partial:
                return replace(result, partial=self.ws.reader.has_pending())
            return result

    def similar(self, *, text: str | None = None, relpath: str | None = None, line: int | None = None,
                limit: int = 10) -> SearchResult:
        """Definitions like a snippet or like the one at a line; NoDefinition if none is there."""
        try:
            with self._reading():
                return Searcher(self.ws.reader, self._embed_code_now, model_id=self.embedder.model_id).similar_to(
                    text=text, relpath=relpath, line=line, limit=limit)
        except IndexDamaged:
            return SearchResult([], partial=True)  # being rebuilt

    def symbols(self, query: str, limit: int) -> list[SymbolHit]:
        try:
            with self._reading():
                return Searcher(self.ws.reader, None).symbols(query, limit)
        except IndexDamaged:
            return []  # being rebuilt

    def _changes_seen_by(self) -> str:
        if self.watcher is not None:
            return self.watcher.describe()
        if self._watched_by_client:
            return "the client's file events"
        return "saves only (the watcher setting is off)"

    def status(self) -> dict:
        try:
            with self._reading():
                # While a run embeds, what is pending is its own count (a count of the
                # index's would scan every chunk).
                progress = self.embedding_progress if self.state in ("indexing", "embedding") else None
                counts = self.ws.reader.counts(with_pending=progress is None)
                if progress is not None:
                    counts = replace(counts, pending=max(0, progress[1] - progress[0]))
                device = self.ws.reader.get_meta("device")
                seeded_from = self.ws.reader.get_meta(SEEDED_FROM)
                words_ranked_by = Searcher(self.ws.reader, None).words_ranked_by()
            error = self.error
        except IndexDamaged as damage:  # being rebuilt: nothing to count meanwhile
            counts, device, error = IndexCounts(0, 0, 0, 0), None, f"index damaged, rebuilding: {damage}"
            seeded_from = words_ranked_by = None
        status = {
            "root": str(self.ws.root),
            "state": self.state,
            "files": counts.files,
            "chunks": counts.chunks,
            "symbols": counts.symbols,
            "pending": counts.pending,
            "db": str(self.ws.db_path),
            "model": self.ws.spec.model_id,
            "provider": self.ws.settings.provider,
            "device": self.embedder.device or device or "not started",
            "embedder_pid": self.embedder.pid if self.embedder.alive else None,
            "embedder": self.keeper.state,
            "seeded_from": seeded_from,
            "changes_seen_by": self._changes_seen_by(),
            "words_ranked_by": words_ranked_by,
        }
        if error:
            status["error"] = error
        return status

    def close(self) -> None:
        if self.door is not None:
            self.door.close()
        if self.watcher is not None:
            self.watcher.stop()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(30)
        with self._cond:
            self._cond.wait_for(lambda: self._queries == 0, timeout=30)
        self.ws.close()


class _StateTracking(Progress):
    """Passes progress on, and tells the status request which phase is running."""

    def __init__(self, service: WorkspaceService, inner: Progress):
        self.service, self.inner = service, inner
        self._files_left = False

    def files(self, done: int, total: int) -> None:
        self.service.state = "indexing"
        self._files_left = done < total
        if not self._files_left:
            self.service.words_ready.set()
        self.inner.files(done, total)

    def embedding(self, done: int, total: int) -> None:
        self.service.embedding_progress = (done, total)
        # Vectors can arrive before the last files are read: "indexing" until
        # every file is searchable by name and words.
        if not self._files_left:
            self.service.words_ready.set()
            if self.service.state != "embedding":
                self.service.prepare_search()
            self.service.state = "embedding"
        self.inner.embedding(done, total)

    def message(self, text: str) -> None:
        self.inner.message(text)
