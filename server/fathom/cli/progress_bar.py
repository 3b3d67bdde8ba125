"""The CLI's progress display: rich bars on stderr (stdout stays for results)."""
from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

from ..engine import Progress


class BarProgress(Progress):
    def __init__(self):
        self.console = Console(stderr=True)
        self._bars = RichProgress(
            TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=self.console, transient=False, disable=not self.console.is_terminal,
        )
        self._files = None
        self._chunks = None

    def __enter__(self) -> "BarProgress":
        self._bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bars.__exit__(*exc)

    def files(self, done: int, total: int) -> None:
        if self._files is None:
            self._files = self._bars.add_task("files chunked", total=total)
        self._bars.update(self._files, completed=done, total=total)

    def embedding(self, done: int, total: int) -> None:
        if self._chunks is None:
            self._chunks = self._bars.add_task("chunks embedded", total=total)
        self._bars.update(self._chunks, completed=done, total=total)

    def message(self, text: str) -> None:
        self.console.print(f"fathom: {text}", markup=False, highlight=False, soft_wrap=True)
