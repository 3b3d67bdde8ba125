"""Indexing progress as the client sees it: `$/progress` when it has a progress
UI, `window/logMessage` otherwise, and a warning when a pass fails."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

from ..engine import Progress

if TYPE_CHECKING:
    from .server import FathomServer

log = logging.getLogger("fathom.lsp")

PROGRESS_INTERVAL = 0.2


class LspProgress(Progress):
    """`$/progress` for one indexing pass, or logMessage when the client has no progress UI."""

    def __init__(self, server: "FathomServer", title: str):
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
                self.token, types.WorkDoneProgressBegin(title=self.title, cancellable=False)
            )
            self._created.set()
            if self._ended:
                self._send_end()

        try:
            self.server.work_done_progress.create(self.token, created)
        except Exception:  # noqa: BLE001 - progress is a courtesy
            log.exception("progress create failed")

    def _report(self, message: str, force: bool = False) -> None:
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
                types.WorkDoneProgressReport(message=message),
            )

    # Each phase says its name and its own count; no percentage, which would mix
    # the two phases' work into one figure that means neither.
    def files(self, done: int, total: int) -> None:
        self._report(f"indexing {done:,}/{total:,} files", done == total)

    def embedding(self, done: int, total: int) -> None:
        self._report(f"embedding {done:,}/{total:,} chunks", done == total)

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
