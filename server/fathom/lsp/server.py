"""`fathom serve`: the language server. The only module that knows JSON-RPC.

Requests are answered from the workspaces' indexes by `WorkspaceService`, whose
background threads keep them current; no handler ever waits for indexing.
Blocking work (SQL, the query embedding) runs in pygls' thread pool.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from .. import __version__
from ..chunk_pool import ChunkPool
from ..config import Settings, force_offline
from ..embedder import Embedder
from ..indexer import Progress
from ..results import file_uri, search_hit_json
from ..service import WorkspaceService
from .watch import Watcher

log = logging.getLogger("fathom.lsp")

MAX_LIMIT = 200
FOLDERS_WAIT_SECONDS = 30
PROGRESS_INTERVAL = 0.2


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("file", ""):
        raise ValueError(f"not a file URI: {uri}")
    return Path(unquote(parsed.path))


_ALREADY_ANSWERED = object()


class FathomProtocol(LanguageServerProtocol):
    """Answers a request whose params lsprotocol cannot structure (say
    `workspace/symbol` without `query`) with -32602: pygls only logs those, and
    the client would wait for an answer forever."""

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if not ("id" in data and "method" in data):
                raise
            detail = _validation_detail(error.__cause__) or str(error)
            self._send_response(data["id"], error=JsonRpcInvalidParams(
                f"invalid params for {data['method']}: {detail}").to_response_error())
            return _ALREADY_ANSWERED

    def handle_message(self, message):
        if message is not _ALREADY_ANSWERED:
            super().handle_message(message)


def _validation_detail(cause: BaseException | None) -> str:
    if isinstance(cause, cattrs.ClassValidationError):
        return "; ".join(cattrs.transform_error(cause)[:3])
    return ""


class FathomServer(LanguageServer):
    def __init__(self):
        super().__init__("fathom", __version__, protocol_cls=FathomProtocol)
        self.settings = Settings.from_env()
        self.services: dict[Path, WorkspaceService] = {}
        # Set once the folders named at initialize are open: a request that comes
        # sooner waits for them instead of finding no workspace.
        self.folders_opened = threading.Event()
        self.embedder: Embedder | None = None
        self.pool: ChunkPool | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client_progress = False
        self.client_configuration = False
        self.client_watches_files = False
        self.watchers: dict[Path, Watcher] = {}
        self.folders: list[Path] = []
        self._lock = threading.Lock()
        self._closed = False

    def report_server_error(self, error: Exception, source) -> None:
        # pygls pops these up in the editor; a malformed notification is the
        # client's fault and not worth interrupting the user for.
        log.warning("%s: %s", getattr(source, "__name__", source), error)

    # -- workspaces --------------------------------------------------------------------

    def _shared(self) -> tuple[Embedder, ChunkPool]:
        if self.embedder is None:
            from ..modelspec import resolve_model

            spec = resolve_model(self.settings.model)
            self.embedder = Embedder(spec, self.settings.device)
            self.pool = ChunkPool(self.settings.pool_size, spec.tokenizer_json, spec.max_tokens,
                                  self.settings.max_file_size)
            threading.Thread(target=self._release_idle_workers, daemon=True, name="fathom-pool-idle").start()
        return self.embedder, self.pool

    def _release_idle_workers(self) -> None:
        idle = self.settings.pool_idle_seconds
        while not self._closed:
            time.sleep(min(30.0, max(0.5, idle / 4)))
            if self.pool is not None and self.pool.release_if_idle(idle):
                log.info("chunk workers stopped after %.0f s without work", idle)

    def open_folder(self, root: Path) -> None:
        root = root.resolve()
        with self._lock:
            if root in self.services or self._closed:
                return
            if not root.is_dir():
                self.log_message(f"fathom: workspace folder {root} does not exist", types.MessageType.Warning)
                return
            embedder, pool = self._shared()
            service = WorkspaceService(root, self.settings, embedder, pool, self.progress_for)
            self.services[root] = service
        service.start()
        if self.settings.watcher and not self.client_watches_files:
            self.watchers[root] = Watcher(root, service.reindex)
            self.watchers[root].start()

    def close_folder(self, root: Path) -> None:
        root = root.resolve()
        with self._lock:
            service = self.services.pop(root, None)
            watcher = self.watchers.pop(root, None)
        if watcher:
            watcher.stop()
        if service:
            service.close()

    def service_for(self, uri: str | None) -> WorkspaceService | None:
        """The workspace holding a document (deepest root wins), or the named folder."""
        if uri is None:
            return next(iter(self.services.values()), None)
        try:
            path = uri_to_path(uri).resolve()
        except (ValueError, OSError):
            return None
        best = None
        for root, service in self.services.items():
            if path == root or root in path.parents:
                if best is None or len(str(root)) > len(str(best.root)):
                    best = service
        return best

    def apply_settings(self, options: dict | None) -> None:
        new = self.settings.merged(options)
        if new == self.settings:
            return
        model_changed = (new.model, new.device) != (self.settings.model, self.settings.device)
        self.settings = new
        folders = list(self.services)
        if model_changed or folders:
            for root in folders:
                self.close_folder(root)
            if model_changed and self.embedder is not None:
                self.embedder.close()
                self.embedder = None
            if self.pool is not None:
                self.pool.close()
                self.pool = None
            for root in folders:
                self.open_folder(root)

    def shutdown_all(self) -> None:
        with self._lock:
            self._closed = True
        for root in list(self.services):
            self.close_folder(root)
        if self.embedder is not None:
            self.embedder.close()
        if self.pool is not None:
            self.pool.close()

    # -- client notifications from worker threads -------------------------------------

    def in_loop(self, fn, *args) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def log_message(self, text: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.in_loop(self.window_log_message, types.LogMessageParams(type=kind, message=text))

    def progress_for(self, title: str) -> Progress:
        return LspProgress(self, title)


class LspProgress(Progress):
    """`$/progress` for one indexing pass, or logMessage when the client has no progress UI."""

    def __init__(self, server: FathomServer, title: str):
        self.server = server
        self.title = title
        self.token = f"fathom-{uuid.uuid4().hex[:12]}"
        self._last = 0.0
        self._created = threading.Event()
        self._ended = False
        if server.client_progress:
            server.in_loop(self._create)
        else:
            server.log_message(f"{title}…")

    def _create(self) -> None:
        def created(*_args, **_kwargs):
            self.server.work_done_progress.begin(
                self.token, types.WorkDoneProgressBegin(title=self.title, percentage=0, cancellable=False)
            )
            self._created.set()
            if self._ended:
                self._send_end()

        try:
            self.server.work_done_progress.create(self.token, created)
        except Exception:  # noqa: BLE001 - progress is a courtesy
            log.exception("progress create failed")

    def _report(self, message: str, percentage: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL:
            return
        self._last = now
        if not self.server.client_progress:
            if force:
                self.server.log_message(f"{self.title}: {message}")
            return
        if self._created.is_set():
            self.server.in_loop(
                self.server.work_done_progress.report, self.token,
                types.WorkDoneProgressReport(message=message, percentage=percentage),
            )

    def files(self, done: int, total: int) -> None:
        self._report(f"{done:,}/{total:,} files", int(50 * done / max(total, 1)), done == total)

    def embedding(self, done: int, total: int) -> None:
        self._report(f"embedding {done:,}/{total:,} chunks", 50 + int(50 * done / max(total, 1)), done == total)

    def message(self, text: str) -> None:
        self.server.log_message(f"fathom: {text}")

    def failed(self, text: str) -> None:
        self.server.in_loop(self.server.window_show_message,
                            types.ShowMessageParams(type=types.MessageType.Warning, message=f"Fathom: {text}"))

    def _send_end(self) -> None:
        self.server.in_loop(self.server.work_done_progress.end, self.token,
                            types.WorkDoneProgressEnd(message="index up to date"))

    def done(self) -> None:
        self._ended = True
        if not self.server.client_progress:
            self.server.log_message(f"{self.title}: done")
        elif self._created.is_set():
            self._send_end()


server = FathomServer()


def _params_dict(params) -> dict:
    """Custom-request params arrive as a namedtuple (or a dict, or junk)."""
    if params is None:
        return {}
    if hasattr(params, "_asdict"):
        return {k: _plain(v) for k, v in params._asdict().items()}
    if isinstance(params, dict):
        return params
    raise JsonRpcInvalidParams("params must be an object")


def _plain(value):
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _workspace_param(ls: FathomServer, params: dict) -> WorkspaceService:
    ls.folders_opened.wait(FOLDERS_WAIT_SECONDS)
    folder = params.get("workspace")
    if folder is not None and not isinstance(folder, str):
        raise JsonRpcInvalidParams("'workspace' must be a folder URI string")
    if folder is None:
        service = ls.service_for(None)
        if service is None:
            raise JsonRpcInvalidParams("no workspace folder is open")
        return service
    try:
        root = uri_to_path(folder).resolve()
    except (ValueError, OSError):
        raise JsonRpcInvalidParams(f"'workspace' is not a file URI: {folder!r}") from None
    service = ls.services.get(root)
    if service is None:
        raise JsonRpcInvalidParams(f"unknown workspace: {folder}")
    return service


@server.feature(types.INITIALIZE)
def on_initialize(ls: FathomServer, params: types.InitializeParams) -> None:
    caps = params.capabilities
    ls.client_progress = bool(caps.window and caps.window.work_done_progress)
    ls.client_configuration = bool(caps.workspace and caps.workspace.configuration)
    watched = caps.workspace.did_change_watched_files if caps.workspace else None
    ls.client_watches_files = bool(watched and watched.dynamic_registration)
    if isinstance(params.initialization_options, dict):
        ls.settings = ls.settings.merged(params.initialization_options.get("fathom", params.initialization_options))
    if params.workspace_folders:
        ls.folders = [uri_to_path(f.uri) for f in params.workspace_folders]
    elif params.root_uri:
        ls.folders = [uri_to_path(params.root_uri)]
    elif params.root_path:
        ls.folders = [Path(params.root_path)]
    if params.process_id:
        _watch_parent(ls, params.process_id)


def _watch_parent(ls: FathomServer, pid: int) -> None:
    """An editor that dies without `shutdown` must not leave us running."""

    def watch():
        while not ls._closed:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                log.info("client process %s is gone; exiting", pid)
                ls.shutdown_all()
                os._exit(0)
            except PermissionError:
                pass
            time.sleep(2)

    threading.Thread(target=watch, daemon=True, name="fathom-parent-watch").start()


@server.feature(types.INITIALIZED)
async def on_initialized(ls: FathomServer, params: types.InitializedParams) -> None:
    ls.loop = asyncio.get_running_loop()
    if ls.client_configuration:
        try:
            config = await asyncio.wait_for(
                ls.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="fathom")])
                ),
                timeout=5,
            )
            if config and isinstance(config[0], dict):
                ls.settings = ls.settings.merged(config[0])
        except Exception:  # noqa: BLE001 - settings are optional
            log.info("client did not answer workspace/configuration")
    if ls.client_watches_files and ls.settings.watcher:
        try:
            await ls.client_register_capability_async(
                types.RegistrationParams(registrations=[types.Registration(
                    id="fathom-watch", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=types.DidChangeWatchedFilesRegistrationOptions(
                        watchers=[types.FileSystemWatcher(glob_pattern="**/*")]),
                )])
            )
        except Exception:  # noqa: BLE001 - fall back to our own watcher
            ls.client_watches_files = False
    await asyncio.get_running_loop().run_in_executor(None, _open_all, ls)


def _open_all(ls: FathomServer) -> None:
    try:
        for folder in ls.folders:
            ls.open_folder(folder)
    finally:
        ls.folders_opened.set()


def _services(ls: FathomServer) -> list[WorkspaceService]:
    ls.folders_opened.wait(FOLDERS_WAIT_SECONDS)
    return list(ls.services.values())


@server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
def on_folders(ls: FathomServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
    def apply():
        for f in params.event.removed:
            ls.close_folder(uri_to_path(f.uri))
        for f in params.event.added:
            ls.open_folder(uri_to_path(f.uri))

    threading.Thread(target=apply, daemon=True).start()


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def on_save(ls: FathomServer, params: types.DidSaveTextDocumentParams) -> None:
    service = ls.service_for(params.text_document.uri)
    if service is not None:
        service.reindex([str(uri_to_path(params.text_document.uri))])


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def on_watched(ls: FathomServer, params: types.DidChangeWatchedFilesParams) -> None:
    by_service: dict[Path, list[str]] = {}
    for change in params.changes:
        service = ls.service_for(change.uri)
        if service is not None:
            by_service.setdefault(service.root, []).append(str(uri_to_path(change.uri)))
    for root, paths in by_service.items():
        ls.services[root].reindex(paths)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def on_configuration(ls: FathomServer, params: types.DidChangeConfigurationParams) -> None:
    options = None
    if isinstance(params.settings, dict):
        options = params.settings.get("fathom", params.settings)
    if ls.client_configuration:
        try:
            config = await asyncio.wait_for(
                ls.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="fathom")])),
                timeout=5,
            )
            if config and isinstance(config[0], dict):
                options = config[0]
        except Exception:  # noqa: BLE001
            pass
    if options:
        await asyncio.get_running_loop().run_in_executor(None, ls.apply_settings, options)


@server.feature(types.WORKSPACE_SYMBOL)
@server.thread()
def on_workspace_symbol(ls: FathomServer, params: types.WorkspaceSymbolParams):
    results = []
    for service in _services(ls):
        for hit in service.symbols(params.query, 100):
            results.append(
                types.SymbolInformation(
                    name=hit.name,
                    kind=types.SymbolKind(int(hit.kind)),
                    container_name=hit.container or None,
                    location=types.Location(uri=file_uri(service.root, hit.relpath), range=_lsp_range(hit.range)),
                )
            )
    return results[:200]


def _lsp_range(r) -> types.Range:
    return types.Range(start=types.Position(line=r.start_line, character=r.start_char),
                       end=types.Position(line=r.end_line, character=r.end_char))


@server.feature("fathom/search")
@server.thread()
def on_search(ls: FathomServer, params) -> dict:
    p = _params_dict(params)
    query = p.get("query")
    if not isinstance(query, str) or not query.strip():
        raise JsonRpcInvalidParams("'query' must be a non-empty string")
    limit = p.get("limit", 20)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise JsonRpcInvalidParams(f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    globs = p.get("paths")
    if globs is not None and (not isinstance(globs, list) or not all(isinstance(g, str) for g in globs)):
        raise JsonRpcInvalidParams("'paths' must be a list of glob strings")
    service = _workspace_param(ls, p)
    result = service.search(query, limit, globs or None)
    return {"results": [search_hit_json(service.root, h) for h in result.hits], "partial": result.partial}


@server.feature("fathom/status")
@server.thread()
def on_status(ls: FathomServer, params) -> dict:
    return {"workspaces": [s.status() for s in _services(ls)]}


@server.feature("fathom/reindex")
@server.thread()
def on_reindex(ls: FathomServer, params) -> dict:
    p = _params_dict(params)
    full = p.get("full", False)
    if not isinstance(full, bool):
        raise JsonRpcInvalidParams("'full' must be a boolean")
    services = [_workspace_param(ls, p)] if p.get("workspace") is not None else _services(ls)
    for service in services:
        service.reindex(None)
    return {"queued": [str(s.root) for s in services]}


@server.feature(types.SHUTDOWN)
def on_shutdown(ls: FathomServer, params) -> None:
    ls.shutdown_all()


_LOGGABLE_ARG_CHARS = 80


def _withhold_payloads(record: logging.LogRecord) -> bool:
    """pygls logs whole JSON-RPC messages (open documents, search snippets), and
    a log must never hold the user's code: message bodies are withheld, short
    values (method names, ids) kept."""
    if record.name.startswith("pygls") and isinstance(record.args, tuple):
        record.args = tuple(
            a if isinstance(a, (int, float)) or (isinstance(a, str) and len(a) <= _LOGGABLE_ARG_CHARS and "\n" not in a)
            else "<withheld>" for a in record.args)
    return True


def serve(tcp: bool = False, host: str = "127.0.0.1", port: int = 2087,
          log_file: str | None = None, log_level: str = "INFO") -> int:
    force_offline()
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_withhold_payloads)
    logging.basicConfig(level=getattr(logging, log_level), handlers=[handler], force=True)
    if log_level != "DEBUG":
        logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message at INFO
    if tcp:
        server.start_tcp(host, port)
    else:
        # The JSON-RPC stream gets a private copy of stdout; fd 1 itself becomes
        # stderr, so a stray print from any library cannot corrupt the stream.
        rpc_out = os.fdopen(os.dup(1), "wb", buffering=0)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        server.start_io(sys.stdin.buffer, rpc_out)
    server.shutdown_all()
    return 0
