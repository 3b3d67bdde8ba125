"""The engine: what every protocol (LSP, CLI, MCP) shares, and the only way they
reach the pipeline.

One `Engine` per process owns the settings, the embedder, the chunk pool and the
thread that stops its idle workers, and the open workspaces, all under one lock.
A long-running server opens workspaces (`open`), which then keep their indexes
current in the background; a one-shot caller (the CLI) asks `index`, `search`,
`symbols` and `status` of a folder, and the engine opens what it needs for the call.
"""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ..config import Settings, index_dir
from ..embed.interface import Embedder
from ..embed.modelspec import ModelSpec, model_spec
from ..index.pool import ChunkPool
from ..index.progress import Progress
from ..index.run import Indexer
from ..models import IndexCounts, RunStats, SymbolHit
from ..search import SearchFilters, Searcher, SearchResult
from ..share import export as sharing
from ..share import seed as seeding
from ..store import IndexDamaged, StoreError
from ..workspace import Workspace, enclosing_root
from . import door
from .keeper import EmbedderKeeper
from .service import WorkspaceService, read_as_text

log = logging.getLogger(__name__)

EmbedderFactory = Callable[[ModelSpec, Settings], Embedder]


def default_embedder(spec: ModelSpec, settings: Settings) -> Embedder:
    """The serving engine the settings name, else the local embedding process,
    or several of them where `embedding.workers` asks for it (or, as `auto`, the machine allows it)."""
    if settings.engine is not None:
        from ..embed.remote import RemoteEmbedder

        return RemoteEmbedder(spec, settings.engine)
    from ..embed.local import LocalEmbedder
    from ..embed.workers import EmbedderPool, worker_plan

    workers, threads = worker_plan(settings.embed_workers, settings.device)
    if workers == 1:
        return LocalEmbedder(spec, settings.device)
    return EmbedderPool(spec, settings.device, workers, threads, idle_seconds=settings.pool_idle_seconds)


class NotBuiltUnasked(StoreError):
    """A one-shot query would build a first index of a folder no one indexes by accident."""


def _too_broad_to_build_unasked() -> set[Path]:
    """The user's home and the filesystem's root: `fathom search` typed in a new
    terminal, which opens in the home folder, would index everything the user has."""
    folders = {Path("/").resolve()}
    try:
        folders.add(Path.home().resolve())
    except RuntimeError:  # no home to be found
        pass
    return folders


class Engine:
    def __init__(self, settings: Settings | None = None, *,
                 progress_factory: Callable[[str], Progress] = lambda _title: Progress(),
                 embedder_factory: EmbedderFactory = default_embedder):
        self.settings = settings if settings is not None else Settings.from_env()
        self.progress_factory = progress_factory
        self._make_embedder = embedder_factory
        # Guards everything below: the server's handlers, its folder changes (on
        # their own threads) and the reaper all reach these at once.
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._keeper: EmbedderKeeper | None = None
        self._pool: ChunkPool | None = None
        self._services: dict[Path, WorkspaceService] = {}
        self._watching: dict[Path, bool] = {}
        # Open in the editor, whether or not a workspace holds them yet (an editor
        # opens its files while the server is still opening its folders).
        self._open_documents: set[Path] = set()
        self._closing = threading.Event()
        self._reaper: threading.Thread | None = None

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # -- what the workspaces share -----------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The one embedder, made at first use (starting it is its own business)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = self._make_embedder(model_spec(self.settings), self.settings)
            return self._embedder

    def _keeper_of(self, embedder: Embedder) -> EmbedderKeeper:
        if self._keeper is None or self._keeper.embedder is not embedder:
            self._keeper = EmbedderKeeper(embedder)
        return self._keeper

    @property
    def pool(self) -> ChunkPool:
        """The one chunk pool; its workers stop after `pool_idle_seconds` without work."""
        with self._lock:
            if self._pool is None:
                s, spec = self.settings, model_spec(self.settings)
                self._pool = ChunkPool(s.pool_size, spec.tokenizer_json, spec.max_tokens, s.max_file_size)
            if self._reaper is None:
                self._reaper = threading.Thread(target=self._release_idle_workers, daemon=True,
                                                name="fathom-pool-idle")
                self._reaper.start()
            return self._pool

    def _release_idle_workers(self) -> None:
        while True:
            idle = self.settings.pool_idle_seconds
            if self._closing.wait(min(30.0, max(0.5, idle / 4))):
                return
            with self._lock:
                pool = self._pool
            if pool is not None and pool.release_if_idle(idle):
                log.info("chunk workers stopped after %.0f s without work", idle)

    # -- open workspaces (long-running servers) ----------------------------------------

    def open(self, root: Path, *, watch: bool = False) -> WorkspaceService | None:
        """Open a folder and keep its index current in the background; None if
        the engine is closing. `watch`: run a file watcher for changes made
        outside the editor (when the client does not report them)."""
        root = Path(root).resolve()
        with self._lock:
            if self._closing.is_set():
                return None
            service = self._services.get(root)
            if service is not None:
                return service
            if not root.is_dir():
                raise NotADirectoryError(f"workspace folder {root} does not exist")
            service = WorkspaceService(root, self.settings, self.embedder, self.pool, self.progress_factory, watch,
                                       self._keeper_of(self.embedder))
            self._services[root] = service
            self._watching[root] = watch
            for document in self._open_documents:
                if self._holding(document) is service:
                    service.document_open(document, True)
            service.start()
        return service

    def close_workspace(self, root: Path) -> None:
        with self._lock:
            service = self._services.pop(Path(root).resolve(), None)
            self._watching.pop(Path(root).resolve(), None)
        if service is not None:
            service.close()

    def workspaces(self) -> list[WorkspaceService]:
        with self._lock:
            return list(self._services.values())

    def workspace(self, root: Path) -> WorkspaceService | None:
        with self._lock:
            return self._services.get(Path(root).resolve())

    def workspace_for(self, path: Path) -> WorkspaceService | None:
        """The open workspace holding a path (the deepest root wins)."""
        with self._lock:
            return self._holding(path)

    def _holding(self, path: Path) -> WorkspaceService | None:
        best = None
        for root, service in self._services.items():
            if path == root or root in path.parents:
                if best is None or len(str(root)) > len(str(best.root)):
                    best = service
        return best

    def reindex_paths(self, paths: Iterable[Path]) -> None:
        """Files changed (saved, or changed outside the editor): each goes to the
        workspace that holds it; a path in no open workspace is ignored."""
        by_service: dict[Path, tuple[WorkspaceService, list[str]]] = {}
        indexed = [_as_indexed(p) for p in paths]  # file system calls: before the lock, not under it
        with self._lock:
            for path in indexed:
                service = self._holding(path)
                if service is not None:
                    by_service.setdefault(service.root, (service, []))[1].append(str(path))
            for service, changed in by_service.values():
                service.reindex(changed)

    def documents_open(self, paths: Iterable[Path], is_open: bool) -> None:
        """Files opened (or closed) in the editor, each told to the workspace that holds it."""
        indexed = [_as_indexed(p) for p in paths]
        with self._lock:
            for path in indexed:
                (self._open_documents.add if is_open else self._open_documents.discard)(path)
                service = self._holding(path)
                if service is not None:
                    service.document_open(path, is_open)

    def apply_settings(self, settings: Settings) -> None:
        """New settings: every open workspace is closed and opened again with them;
        the pool is rebuilt (it reads the file size limit), and so is the embedder
        when the model or device changed."""
        with self._lock:
            if settings == self.settings:
                return
            model_changed = ((settings.model, settings.device, settings.engine, settings.embed_workers)
                             != (self.settings.model, self.settings.device, self.settings.engine,
                                 self.settings.embed_workers))
            reopen = dict(self._watching)
            for root in list(self._services):
                self.close_workspace(root)
            self.settings = settings
            if model_changed and self._embedder is not None:
                self._embedder.close()
                self._embedder = None
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            for root, watch in reopen.items():
                self.open(root, watch=watch)

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            for root in list(self._services):
                self.close_workspace(root)
            embedder, pool, reaper = self._embedder, self._pool, self._reaper
            self._embedder = self._pool = None
        if reaper is not None and reaper is not threading.current_thread():
            reaper.join(30)  # a release under way finishes before the process may end
        if embedder is not None:
            embedder.close()
        if pool is not None:
            pool.close()

    # -- one call on a folder (the CLI) --------------------------------------------------

    def index(self, root: Path, progress: Progress | None = None, *, embed: bool = True) -> tuple[RunStats, IndexCounts]:
        """Bring a folder's index up to date now, in this thread."""
        ws = Workspace(root, self.settings)
        try:
            stats = self._build(ws, progress or Progress(), embed)
            # Without embedding there is nothing to say of what waits for vectors (and
            # counting it is seconds on a kernel-sized index).
            return stats, ws.writer.counts(with_pending=embed)
        finally:
            ws.close()

    def export(self, root: Path, out: Path) -> sharing.ExportReport:
        """Write a folder's index as a portable snapshot (what a CI job publishes)."""
        ws = Workspace(root, self.settings)
        try:
            return sharing.export(ws, out)
        finally:
            ws.close()

    def seed(self, root: Path, source: str, progress: Progress | None = None) -> seeding.SeedReport:
        """Seed a folder's index from a snapshot file or URL; the next index
        embeds only what the snapshot has no vector for."""
        ws = Workspace(root, self.settings)
        try:
            return seeding.seed(ws, source, progress or Progress())
        finally:
            ws.close()

    def _build(self, ws: Workspace, progress: Progress, embed: bool) -> RunStats:
        if self.settings.seed_index:
            seeding.seed_if_new(ws, self.settings.seed_index, progress)
        embedder = self.embedder if embed else None
        stats = Indexer(ws, embedder, self.pool).run(progress=progress, embed=embed)
        if embedder is not None and embedder.device:
            ws.writer.set_meta("device", embedder.device)
        return stats

    @staticmethod
    def enclosing_workspace(path: Path) -> Path:
        """The workspace a folder is in (`fathom search` from a subdirectory)."""
        return enclosing_root(path)

    def search(self, root: Path, query: str, limit: int, paths: list[str] | None = None,
               progress: Progress | None = None, include_tests: bool | None = None,
               filters: SearchFilters | None = None, wait_for_answer: float = 0.0) -> SearchResult:
        """`wait_for_answer`: at most this many seconds for an open workspace to
        answer whole (`WorkspaceService.wait_answerable`: its first run's files, then
        its model; an editor's request never waits: its user sees the progress; an
        agent's answer is final)."""
        service = self.workspace(root)
        if service is not None:
            service.wait_answerable(wait_for_answer)
            return service.search(query, limit, paths, include_tests, filters)
        served = door.ask_search(index_dir(Path(root).resolve()), query, limit, paths, include_tests, filters,
                                 wait_for_answer)
        if served is not None:  # a server holds the workspace open: its model is loaded, its index current
            return served
        # One query, then this process is done: a large index's lexicon is read if a
        # server built it, not started here.
        return self._answer(root, progress or Progress(), lambda ws: Searcher(
            ws.reader, self.embedder.embed_query, model_id=self.embedder.model_id, keep_lexicon=False,
            embed_as_text=functools.partial(read_as_text, self.embedder)).search(
                query, limit, paths, include_tests, filters), needs_vectors=True)

    def similar(self, root: Path, *, text: str | None = None, relpath: str | None = None, line: int | None = None,
                limit: int = 10, progress: Progress | None = None, wait_for_answer: float = 0.0) -> SearchResult:
        """Definitions like a snippet, or like the one at `relpath`:`line` (0-based), itself left out."""
        service = self.workspace(root)
        if service is not None:
            service.wait_answerable(wait_for_answer, by_meaning=False)
            return service.similar(text=text, relpath=relpath, line=line, limit=limit)
        return self._answer(root, progress or Progress(), lambda ws: Searcher(
            ws.reader, functools.partial(self.embedder.embed_query, as_code=True),
            model_id=self.embedder.model_id).similar_to(
                text=text, relpath=relpath, line=line, limit=limit), needs_vectors=True)

    def symbols(self, root: Path, query: str, limit: int, progress: Progress | None = None,
                wait_for_answer: float = 0.0) -> list[SymbolHit]:
        service = self.workspace(root)
        if service is not None:
            service.wait_answerable(wait_for_answer, by_meaning=False)
            return service.symbols(query, limit)
        served = door.ask_symbols(index_dir(Path(root).resolve()), query, limit, wait_for_answer)
        if served is not None:
            return served
        return self._answer(root, progress or Progress(), lambda ws: Searcher(ws.reader, None).symbols(query, limit))

    def _answer(self, root: Path, progress: Progress, query, needs_vectors: bool = False):
        """One query on a folder no server holds open: its index built first if it
        has none, and built again if the query finds it damaged."""
        ws = Workspace(root, self.settings)
        try:
            self._ensure_index(ws, progress, needs_vectors)
            try:
                return query(ws)
            except IndexDamaged as damage:
                embedder = self.embedder
                Indexer(ws, embedder, self.pool).run(progress=progress, damaged=str(damage))
                return query(ws)
        finally:
            ws.close()

    def _ensure_index(self, ws: Workspace, progress: Progress, needs_vectors: bool) -> None:
        if needs_vectors and _has_index(ws) and ws.reader.vector_model()[0] not in (None, ws.spec.model_id) \
                and ws.reader.last_run() is not None:
            if ws.spec.unavailable:  # nothing to bring the index to: it stays as it is
                progress.message(f"cannot load model {ws.spec.name}: {ws.spec.unavailable}")
                return
            progress.message(f"the index of {ws.root} holds vectors of {ws.reader.vector_model()[0]}: "
                             f"bringing it to {ws.spec.model_id}")
            for line in self._build(ws, progress, embed=True).error_summary():
                progress.message(line)
            return
        if _has_index(ws):
            if ws.reader.last_run() is None:
                # Another process (the language server, say) is still building it:
                # answer from what is there rather than wait for it.
                progress.message(f"the index of {ws.root} is still being built; results may be incomplete")
            return
        if ws.root in _too_broad_to_build_unasked():
            raise NotBuiltUnasked(f"no index for {ws.root}, and a search does not build one for a whole home or "
                                  f"disk (hours of CPU): run it in a project, or `fathom index {ws.root}` if you "
                                  "mean it")
        progress.message(f"no index for {ws.root} yet; building it")
        for line in self._build(ws, progress, embed=True).error_summary():
            progress.message(line)

    def status(self, root: Path) -> dict:
        """What a folder's index holds, without building or changing anything."""
        service = self.workspace(root)
        if service is not None:
            return service.status()
        ws = Workspace(root, self.settings)
        try:
            store = ws.reader if ws.exists() else None
            counts = store.counts() if store else IndexCounts(0, 0, 0, 0)
            return {
                "root": str(ws.root),
                "db": str(ws.db_path),
                "files": counts.files,
                "symbols": counts.symbols,
                "chunks": counts.chunks,
                "pending": counts.pending,
                "model": ws.spec.model_id,
                "provider": self.settings.provider,
                "device": (store.get_meta("device") if store else None) or "not started",
                "last_run": (store.last_run() if store else None) or {},
                "seeded_from": (store.get_meta(seeding.SEEDED_FROM) if store else None),
            }
        finally:
            ws.close()


def _as_indexed(path: Path) -> Path:
    """A path as the index knows it: roots are resolved, and an editor names files
    by the path it opened (through a symlinked folder, say). The folders are
    resolved, not the file, which may be gone or be a link of its own."""
    path = Path(path)
    try:
        return path.parent.resolve() / path.name
    except OSError:
        return path


def _has_index(ws: Workspace) -> bool:
    """Built, or being built; an index only seeded is neither (its files may not be this tree's)."""
    if not ws.exists():
        return False
    store = ws.reader
    return store.last_run() is not None or (store.counts(with_pending=False).files > 0
                                            and not store.get_meta(seeding.SEEDED_FROM))
