"""Keeping the shared embedder alive between runs.

A run restarts an embedder that dies under it; this brings back one that died
while nothing was indexing (the OOM killer, a crash on some input): on the next
query or reindex, in the background (the query answers lexically meanwhile),
and no more often than a doubling back-off allows, so a model that cannot load
is not loaded again and again.
"""
from __future__ import annotations

import logging
import threading
import time

from ..embed.interface import Embedder, EmbedderClosed, EmbedderError

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
LONGEST_RETRY_SECONDS = 60.0


class EmbedderKeeper:
    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # a start attempt ended
        self._starting = False
        self._ever_started = False
        self._next_try = 0.0
        self._delay = FIRST_RETRY_SECONDS
        self.error: str | None = None

    def revive(self) -> None:
        """Start the embedder in the background if it is not running; returns at once."""
        if self.embedder.alive:
            return
        with self._lock:
            if self._starting or time.monotonic() < self._next_try:
                return
            self._starting = True
        threading.Thread(target=self._start, daemon=True, name="fathom-embedder-start").start()

    def _start(self) -> None:
        try:
            if self._ever_started:
                log.warning("embedding process not running; starting it again")
            self.embedder.ensure_started()
        except EmbedderClosed:
            return  # closed on purpose while it was loading: the process is shutting down
        except EmbedderError as exc:
            with self._lock:
                self.error = str(exc)
                self._next_try = time.monotonic() + self._delay
                self._delay = min(self._delay * 2, LONGEST_RETRY_SECONDS)
            log.warning("embedding model unavailable: %s (next try in %.0f s at the earliest)", exc, self._delay)
        else:
            with self._lock:
                self.error = None
                self._delay = FIRST_RETRY_SECONDS
                self._ever_started = True
        finally:
            with self._lock:
                self._starting = False
                self._settled.notify_all()

    def wait_running(self, timeout: float) -> bool:
        """Start the embedder if it is not running and wait, at most `timeout` s,
        for it to run or fail to start; whether it runs."""
        self.revive()
        with self._lock:
            self._settled.wait_for(lambda: not self._starting, max(0.0, timeout))
        return self.embedder.alive

    @property
    def state(self) -> str:
        """"running", "starting", "stopped", or "failed: why"."""
        if self.embedder.alive:
            return "running"
        if self._starting:
            return "starting"
        # A serving engine knows why its last request failed, whoever made it.
        error = self.error or getattr(self.embedder, "error", None)
        return f"failed: {error}" if error else "stopped"
