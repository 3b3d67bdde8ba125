"""The CLI's progress display: rich bars on stderr (stdout stays for results)."""
from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

from ..engine import Progress


PLAIN_EVERY_SECONDS = 5.0


class BarProgress(Progress):
    """Bars on a terminal; piped or redirected, a plain line every few seconds
    (and at each phase's end), so a log shows the run is alive."""

    def __init__(self):
        self.console = Console(stderr=True)
        self.plain = not self.console.is_terminal
        self.said: set[str] = set()  # messages shown, so that the summary does not repeat them
        self._bars = RichProgress(
            TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=self.console, transient=False, disable=self.plain,
        )
        self._files = None
        self._chunks = None
        self._last_line: dict[str, float] = {}  # phase -> when its last line was written
        self._ended: set[str] = set()  # phases whose end has been said

    def _line(self, what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if what in self._ended:
            return
        if done >= total:
            self._ended.add(what)
        elif now - self._last_line.get(what, float("-inf")) < PLAIN_EVERY_SECONDS:
            return
        self._last_line[what] = now
        print(f"fathom: {what} {done:,}/{total:,}", file=sys.stderr, flush=True)

    def __enter__(self) -> "BarProgress":
        self._bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bars.__exit__(*exc)

    def files(self, done: int, total: int) -> None:
        if self.plain:
            self._line("files chunked", done, total)
            return
        if self._files is None:
            self._files = self._bars.add_task("files chunked", total=total)
        self._bars.update(self._files, completed=done, total=total)

    def embedding(self, done: int, total: int) -> None:
        if self.plain:
            self._line("chunks embedded", done, total)
            return
        if self._chunks is None:
            self._chunks = self._bars.add_task("chunks embedded", total=total)
        self._bars.update(self._chunks, completed=done, total=total)

    def message(self, text: str) -> None:
        # A run's summary repeats what it reported as it happened (an embedding failure).
        if text in self.said:
            return
        self.said.add(text)
        if self.plain:  # as the progress lines: written and flushed at once, in order with them
            print(f"fathom: {text}", file=sys.stderr, flush=True)
            return
        self.console.print(f"fathom: {text}", markup=False, highlight=False, soft_wrap=True)
