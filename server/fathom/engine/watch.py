"""Changes made outside the editor (git checkout, code generation, rm -r),
seen through watchdog when the client does not watch files for us.

inotify needs one watch per directory, and a user's watches are capped
(`fs.inotify.max_user_watches`, shared by every program). A tree with more
directories than the cap (or than the `watchLimit` setting) is not watched in
part, which would miss changes silently: the watcher says so, and the service
falls back to a stat rescan of the whole tree when a file is opened or saved.

A workspace folder removed outright (`rm -rf` and a fresh clone, a tool that
regenerates it) takes its watches with it: the watcher then looks for the
folder every few seconds, and once it is back watches it again and asks for a
full pass."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from ..config import cache_root
from ..index.policy import skipped_dir

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.3
# However often files keep changing (a log written every 100 ms), what changed is
# handed over at least this often: one busy file must not hold back the rest.
LONGEST_DELAY_SECONDS = 2.0
# Only changes. Left to its defaults the kernel also reports every file opened
# and closed unwritten: the index's own reading of the workspace, 20,000 events
# during django's first index, each handled in Python while phase 1 wants the CPU.
CHANGE_EVENTS = [
    FileCreatedEvent, FileDeletedEvent, FileModifiedEvent, FileMovedEvent, FileClosedEvent,
    DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]


# How often a removed workspace folder is looked for (one stat; only while it is gone).
ROOT_RETURN_POLL_SECONDS = 2.0

SYSTEM_WATCH_LIMIT = Path("/proc/sys/fs/inotify/max_user_watches")


def system_watch_limit() -> int | None:
    try:
        return int(SYSTEM_WATCH_LIMIT.read_text().strip())
    except (OSError, ValueError):
        return None


def directories_beyond(root: Path, limit: int) -> int | None:
    """How many directories a recursive watch of `root` needs, or None once over `limit`."""
    count = 0
    for folder, subfolders, _files in os.walk(root):
        subfolders[:] = [d for d in subfolders if not skipped_dir(d)]
        count += 1
        if count > limit:
            return None
    return count


class Watcher(FileSystemEventHandler):
    """Collects changed paths and hands them over in one batch once quiet
    (`on_changes(None)`: anything may have changed, a full pass)."""

    def __init__(self, root: Path, on_changes: Callable[[list[str] | None], None], limit: int = 0):
        self.root = root
        self.on_changes = on_changes
        self.limit = limit  # directories it may watch; 0: the system's cap
        # What sees changes: "starting", "inotify", "rescan" (the tree is not watched;
        # see `why`) or "gone" (the folder was removed; looked for until it is back).
        self.mode = "starting"
        self._starting: threading.Thread | None = None
        self._stopped = threading.Event()
        self.why = ""
        self.folders = 0
        self._paths: set[str] = set()
        self._timer: threading.Timer | None = None
        self._waiting_since: float | None = None  # when the oldest change not yet handed over came
        self._cache = os.path.realpath(cache_root())  # resolved once: events come by the thousand
        self._lock = threading.Lock()
        self._observer = Observer()
        self._observer.daemon = True

    def start(self) -> None:
        """Returns at once: counting a large tree's folders and adding a watch to
        each takes seconds (the kernel's 5,760), which must hold up neither the
        engine nor the editor's first requests."""
        self._starting = threading.Thread(target=self._start, name="fathom-watch-start", daemon=True)
        self._starting.start()

    def wait_started(self, timeout: float) -> bool:
        if self._starting is not None:
            self._starting.join(timeout)
            return not self._starting.is_alive()
        return True

    def _start(self) -> None:
        limit = self.limit or system_watch_limit() or 0
        if limit:
            folders = directories_beyond(self.root, limit)
            if folders is None:
                self._rescan(f"over {limit:,} folders, the {'watchLimit setting' if self.limit else 'inotify watch limit'}")
                return
            self.folders = folders
        with self._lock:
            if self._stopped.is_set():
                return
            try:
                self._observer.schedule(self, str(self.root), recursive=True, event_filter=CHANGE_EVENTS)
                self._observer.start()
            except OSError as exc:  # the cap, shared with other programs, reached part-way
                self._rescan(f"inotify: {exc.strerror or exc}")
                return
        self.mode = "inotify"

    def _rescan(self, why: str) -> None:
        self.mode, self.why = "rescan", why
        log.warning("%s is not watched (%s): changes made outside the editor are found by a stat rescan "
                    "when a file is opened or saved", self.root, why)

    def describe(self) -> str:
        if self.mode == "rescan":
            return f"a stat rescan when a file is opened or saved ({self.why})"
        if self.mode == "starting":
            return "inotify (adding its watches)"
        if self.mode == "gone":
            return "none: the folder was removed (watching for it to come back)"
        if not self.folders:
            return "inotify"
        return f"inotify, {self.folders:,} folder{'' if self.folders == 1 else 's'}"

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            if self._timer is not None:
                self._timer.cancel()
            observer = self._observer
        if observer.is_alive():
            observer.stop()
            observer.join(5)

    def _root_removed(self) -> None:
        with self._lock:
            if self._stopped.is_set() or self.mode == "gone":
                return
            self.mode = "gone"
        log.warning("%s was removed: it is watched again, and indexed, if it comes back", self.root)
        threading.Thread(target=self._await_return, name="fathom-watch-return", daemon=True).start()

    def _await_return(self) -> None:
        while not self.root.is_dir():
            if self._stopped.wait(ROOT_RETURN_POLL_SECONDS):
                return
        with self._lock:
            if self._stopped.is_set():
                return
            gone, self._observer = self._observer, Observer()
            self._observer.daemon = True
        gone.stop()
        gone.join(5)
        self._start()
        if not self._stopped.is_set():
            self.on_changes(None)  # what is there now may share nothing with what was

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, (DirDeletedEvent, DirMovedEvent)) and os.fsdecode(event.src_path) == str(self.root):
            self._root_removed()
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = raw.decode() if isinstance(raw, bytes) else raw
            try:
                rel = Path(path).relative_to(self.root)
            except ValueError:
                continue
            if any(skipped_dir(part) for part in rel.parts) or path == self._cache \
                    or path.startswith(self._cache + os.sep):
                continue  # the cache inside the workspace: its own writes must not wake it
            self._changed(path)

    def _changed(self, path: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._paths.add(path)
            if self._waiting_since is None:
                self._waiting_since = now
            elif now - self._waiting_since >= LONGEST_DELAY_SECONDS and self._timer is not None:
                return  # waited long enough: the timer set earlier hands everything over
            if self._timer is not None:
                self._timer.cancel()
            delay = min(DEBOUNCE_SECONDS, max(0.0, self._waiting_since + LONGEST_DELAY_SECONDS - now))
            self._timer = threading.Timer(delay, self._flush)
            self._timer.daemon = True
            self._timer.start()

    def _flush(self) -> None:
        with self._lock:
            paths, self._paths = sorted(self._paths), set()
            self._waiting_since = None
            self._timer = None
        if paths:
            self.on_changes(paths)
