"""`fathom serve`: the language server. The only module that knows JSON-RPC.

Handlers turn requests into calls on the `Engine` and its open workspaces, whose
background threads keep the indexes current; no handler ever waits for indexing.
Blocking work (SQL, the query embedding) runs in pygls' thread pool.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import cattrs
from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from .. import __version__
from ..config import Settings, force_offline
from ..engine import (Engine, InvalidFilter, NoDefinition, SearchFilters, WorkspaceClosed, WorkspaceService,
                      serve_until_signalled)
from ..results import file_uri, search_hit_json
from .frames import FrameWriter, filter_frames
from .params import InvalidParams, ReindexParams, SearchParams, SimilarParams, parse
from .progress import LspProgress

log = logging.getLogger("fathom.lsp")

FOLDERS_WAIT_SECONDS = 30
MAX_SYMBOLS = 200


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
        if message is _ALREADY_ANSWERED:
            return
        if self._shutdown and getattr(message, "method", types.EXIT) != types.EXIT and getattr(message, "id", None) is not None:
            # pygls drops these; the client would wait for an answer forever.
            self._send_response(message.id, error=JsonRpcInvalidRequest(
                "the server is shutting down: only 'exit' is accepted").to_response_error())
            return
        super().handle_message(message)


def _validation_detail(cause: BaseException | None) -> str:
    if isinstance(cause, cattrs.ClassValidationError):
        return "; ".join(cattrs.transform_error(cause)[:3])
    return ""


class FathomServer(LanguageServer):
    def __init__(self, settings: Settings | None = None):
        # Files are read from disk when saved: the editor need not send every keystroke.
        super().__init__("fathom", __version__, protocol_cls=FathomProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.None_)
        self.engine = Engine(settings, progress_factory=self.progress_for)
        # Set once the folders named at initialize are open: a request that comes
        # sooner waits for them instead of finding no workspace.
        self.folders_opened = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.client_progress = False
        self.client_configuration = False
        self.client_watches_files = False
        self.folders: list[Path] = []
        self.closed = False

    def report_server_error(self, error: Exception, source) -> None:
        # pygls pops these up in the editor; a malformed notification is the
        # client's fault and not worth interrupting the user for.
        log.warning("%s: %s", getattr(source, "__name__", source), error)

    # -- workspaces --------------------------------------------------------------------

    def open_folder(self, root: Path) -> None:
        try:
            self.engine.open(root, watch=not self.client_watches_files)
        except NotADirectoryError as exc:
            self.log_message(f"fathom: {exc}", types.MessageType.Warning)

    def workspaces(self) -> list[WorkspaceService]:
        self.folders_opened.wait(FOLDERS_WAIT_SECONDS)
        return self.engine.workspaces()

    def workspace_named(self, folder: str | None) -> WorkspaceService:
        """The folder a request names, or the first one; -32602 if there is none."""
        self.folders_opened.wait(FOLDERS_WAIT_SECONDS)
        if folder is None:
            services = self.engine.workspaces()
            if not services:
                raise JsonRpcInvalidParams("no workspace folder is open")
            return services[0]
        try:
            root = uri_to_path(folder).resolve()
        except (ValueError, OSError):
            raise JsonRpcInvalidParams(f"'workspace' is not a file URI: {folder!r}") from None
        service = self.engine.workspace(root)
        if service is None:
            raise JsonRpcInvalidParams(f"unknown workspace: {folder}")
        return service

    def apply_settings(self, options: dict | None) -> None:
        self.engine.apply_settings(self.engine.settings.merged(options))

    def shutdown_all(self) -> None:
        self.closed = True
        self.engine.close()

    # -- client notifications from worker threads -------------------------------------

    def in_loop(self, fn, *args) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def log_message(self, text: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.in_loop(self.window_log_message, types.LogMessageParams(type=kind, message=text))

    def progress_for(self, title: str) -> LspProgress:
        return LspProgress(self, title)


def _typed(params, cls: type):
    try:
        return parse(params, cls)
    except InvalidParams as error:
        raise JsonRpcInvalidParams(str(error)) from None


def _paths(uris) -> list[Path]:
    paths = []
    for uri in uris:
        try:
            paths.append(uri_to_path(uri))
        except ValueError:
            continue
    return paths


def _lsp_range(r) -> types.Range:
    return types.Range(start=types.Position(line=r.start_line, character=r.start_char),
                       end=types.Position(line=r.end_line, character=r.end_char))


async def _client_settings(ls: FathomServer) -> dict | None:
    """The client's `fathom` configuration section, if it answers in time."""
    try:
        config = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="fathom")])),
            timeout=5,
        )
    except Exception:  # noqa: BLE001 - settings are optional
        log.info("client did not answer workspace/configuration")
        return None
    return config[0] if config and isinstance(config[0], dict) else None


def create_server(settings: Settings | None = None) -> FathomServer:
    """A server with every handler registered; settings are read now (from the
    environment unless given), not when the module is imported."""
    server = FathomServer(settings)

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: FathomServer, params: types.InitializeParams) -> None:
        caps = params.capabilities
        ls.client_progress = bool(caps.window and caps.window.work_done_progress)
        ls.client_configuration = bool(caps.workspace and caps.workspace.configuration)
        watched = caps.workspace.did_change_watched_files if caps.workspace else None
        ls.client_watches_files = bool(watched and watched.dynamic_registration)
        if isinstance(params.initialization_options, dict):
            options = params.initialization_options.get("fathom", params.initialization_options)
            ls.engine.apply_settings(ls.engine.settings.merged(options))
        if params.workspace_folders:
            ls.folders = [uri_to_path(f.uri) for f in params.workspace_folders]
        elif params.root_uri:
            ls.folders = [uri_to_path(params.root_uri)]
        elif params.root_path:
            ls.folders = [Path(params.root_path)]
        if params.process_id:
            _watch_parent(ls, params.process_id)

    @server.feature(types.INITIALIZED)
    async def on_initialized(ls: FathomServer, params: types.InitializedParams) -> None:
        ls.loop = asyncio.get_running_loop()
        if ls.client_configuration:
            options = await _client_settings(ls)
            if options:
                ls.engine.apply_settings(ls.engine.settings.merged(options))
        if ls.client_watches_files and ls.engine.settings.watcher:
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

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def on_folders(ls: FathomServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        def apply():
            for f in params.event.removed:
                ls.engine.close_workspace(uri_to_path(f.uri))
            for f in params.event.added:
                ls.open_folder(uri_to_path(f.uri))

        threading.Thread(target=apply, daemon=True, name="fathom-folders").start()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def on_open(ls: FathomServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.engine.documents_open(_paths([params.text_document.uri]), True)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def on_close(ls: FathomServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.engine.documents_open(_paths([params.text_document.uri]), False)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def on_save(ls: FathomServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.engine.reindex_paths(_paths([params.text_document.uri]))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def on_watched(ls: FathomServer, params: types.DidChangeWatchedFilesParams) -> None:
        ls.engine.reindex_paths(_paths(change.uri for change in params.changes))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def on_configuration(ls: FathomServer, params: types.DidChangeConfigurationParams) -> None:
        options = None
        if isinstance(params.settings, dict):
            options = params.settings.get("fathom", params.settings)
        if ls.client_configuration:
            options = await _client_settings(ls) or options
        if options:
            await asyncio.get_running_loop().run_in_executor(None, ls.apply_settings, options)

    @server.feature(types.WORKSPACE_SYMBOL)
    @server.thread()
    def on_workspace_symbol(ls: FathomServer, params: types.WorkspaceSymbolParams):
        results = []
        # Words with spaces between them are a question, not a name: any LSP
        # client (Helix, eglot, Sublime) gets semantic search through its symbol picker.
        in_words = len(params.query.split()) >= 2
        for service in ls.workspaces():
            try:
                hits = service.search(params.query, 50).hits if in_words else service.symbols(params.query, 100)
            except WorkspaceClosed:
                continue  # removed while this request was on its way
            for hit in hits:
                results.append(types.SymbolInformation(
                    name=hit.name,
                    kind=types.SymbolKind(int(hit.kind)),
                    container_name=hit.container or None,
                    location=types.Location(uri=file_uri(service.root, hit.relpath), range=_lsp_range(hit.range)),
                ))
        return results[:MAX_SYMBOLS]

    @server.feature("fathom/search")
    @server.thread()
    def on_search(ls: FathomServer, params) -> dict:
        p = _typed(params, SearchParams)
        try:
            filters = SearchFilters.parse(language=p.language, kind=p.kind, paths=p.paths, exclude=p.exclude)
        except InvalidFilter as bad:
            raise JsonRpcInvalidParams(str(bad)) from None
        service = ls.workspace_named(p.workspace)
        try:
            result = service.search(p.query, p.limit, None, p.include_tests, filters)
        except WorkspaceClosed as closed:
            raise JsonRpcContentModified(str(closed)) from None
        return {"results": [search_hit_json(service.root, h) for h in result.hits], "partial": result.partial}

    @server.feature("fathom/similar")
    @server.thread()
    def on_similar(ls: FathomServer, params) -> dict:
        p = _typed(params, SimilarParams)
        if p.text is not None:
            service, relpath, line = ls.workspace_named(p.workspace), None, None
        else:
            try:
                path = uri_to_path(p.text_document.uri)
            except (ValueError, OSError):
                raise JsonRpcInvalidParams(f"'textDocument.uri' is not a file URI: {p.text_document.uri!r}") from None
            service = ls.engine.workspace_for(path.parent.resolve() / path.name)
            if service is None:
                raise JsonRpcInvalidParams(f"{p.text_document.uri} is in no open workspace")
            relpath, line = (path.parent.resolve() / path.name).relative_to(service.root).as_posix(), p.position.line
        try:
            result = service.similar(text=p.text, relpath=relpath, line=line, limit=p.limit)
        except WorkspaceClosed as closed:
            raise JsonRpcContentModified(str(closed)) from None
        except NoDefinition as nothing:
            return {"results": [], "partial": False, "message": str(nothing)}
        return {"results": [search_hit_json(service.root, h) for h in result.hits], "partial": result.partial}

    @server.feature("fathom/status")
    @server.thread()
    def on_status(ls: FathomServer, params) -> dict:
        statuses = []
        for service in ls.workspaces():
            try:
                statuses.append(service.status())
            except WorkspaceClosed:
                continue
        return {"workspaces": statuses}

    @server.feature("fathom/reindex")
    @server.thread()
    def on_reindex(ls: FathomServer, params) -> dict:
        p = _typed(params, ReindexParams)
        services = [ls.workspace_named(p.workspace)] if p.workspace is not None else ls.workspaces()
        for service in services:
            service.reindex(None, rechunk=p.full)
        return {"queued": [str(s.root) for s in services]}

    @server.feature(types.SHUTDOWN)
    def on_shutdown(ls: FathomServer, params) -> None:
        ls.shutdown_all()

    return server


def _open_all(ls: FathomServer) -> None:
    try:
        for folder in ls.folders:
            ls.open_folder(folder)
    finally:
        ls.folders_opened.set()


def _watch_parent(ls: FathomServer, pid: int) -> None:
    """An editor that dies without `shutdown` must not leave us running."""

    def watch():
        while not ls.closed:
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class OneLineFormatter(logging.Formatter):
    """A message is one line of the log whatever it holds: a file named
    "a\nERROR forged" cannot write a line of its own (tracebacks keep theirs)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", record.message)
        return super().formatMessage(record)


def log_handler(log_file: str | None) -> logging.Handler:
    """The server's log handler: stderr, or a file only its owner can read (it
    names the user's files)."""
    if log_file:
        os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handler: logging.Handler = logging.FileHandler(log_file)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_withhold_payloads)
    return handler


def serve(tcp: bool = False, host: str = "127.0.0.1", port: int = 2087,
          log_file: str | None = None, log_level: str = "INFO") -> int:
    force_offline()
    handler = log_handler(log_file)
    logging.basicConfig(level=getattr(logging, log_level), handlers=[handler], force=True)
    if log_level != "DEBUG":
        logging.getLogger("pygls").setLevel(logging.WARNING)  # it logs every message at INFO
    server = create_server()
    try:
        if tcp:
            server.start_tcp(host, port)
        else:
            # The JSON-RPC stream gets a private copy of stdout; fd 1 itself becomes
            # stderr, so a stray print from any library cannot corrupt the stream.
            writer = FrameWriter(os.dup(1))
            os.dup2(2, 1)
            sys.stdout = sys.stderr
            # What the client sends is checked frame by frame before pygls reads it.
            checked, sink = os.pipe()
            threading.Thread(target=filter_frames, args=(sys.stdin.buffer, sink, writer), daemon=True,
                             name="fathom-frames").start()
            # At Ctrl-C or SIGTERM pygls's reader sees its input end, as when the
            # editor leaves: the pipe's one writer becomes /dev/null (never closed,
            # so its number cannot be reused under the frames thread).
            serve_until_signalled(lambda: server.start_io(os.fdopen(checked, "rb"), writer), "lsp-stdio",
                                  end_input=lambda: _end_pipe(sink))
    finally:
        server.shutdown_all()
    return 0


def _end_pipe(write_end: int) -> None:
    nowhere = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(nowhere, write_end)
    finally:
        os.close(nowhere)
