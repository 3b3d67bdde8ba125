"""A workspace: its root, its settings, its index database and its writer lock."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from pathlib import Path

from .config import Settings, index_dir, make_private_dir
from .embed.modelspec import ModelSpec, model_spec
from .index.walk import walks_into
from .store import IndexUnwritable, Store, move_aside, unwritable


class IndexBusy(RuntimeError):
    pass


def enclosing_root(path: Path) -> Path:
    """The workspace a folder belongs to, found as git finds a repository: the
    nearest folder at or above it that has an index, else the nearest holding
    `.git` (a directory, or a worktree's file), else the folder itself. A folder
    that workspace never indexes (ignored, a virtualenv, `node_modules`) is a
    workspace of its own: the enclosing index holds nothing of it to answer with."""
    path = Path(path).resolve()
    chain = [path, *path.parents]
    found = next((folder for folder in chain if (index_dir(folder) / "index.db").exists()), None)
    if found is None:
        found = next((folder for folder in chain if (folder / ".git").exists()), path)
    return found if walks_into(found, path) else path


class Workspace:
    def __init__(self, root: Path, settings: Settings):
        self.root = Path(root).resolve()
        self.settings = settings
        self.spec: ModelSpec = model_spec(settings)
        self.dir = index_dir(self.root)
        self.db_path = self.dir / "index.db"
        self._writer: Store | None = None
        self.rebuild_needed = False
        # One read connection per thread: a connection runs one statement at a
        # time, and the server answers several requests at once.
        self._readers: dict[int, Store] = {}
        # The server's indexing thread and its request handlers open these lazily,
        # at once: two writers creating one fresh database make one of them fail.
        self._opening = threading.RLock()

    @property
    def writer(self) -> Store:
        with self._opening:
            if self._writer is None:
                writer = Store(self.db_path)
                try:
                    writer.set_meta("root", str(self.root))
                except BaseException:
                    writer.close()
                    raise
                self._writer = writer
                # Opening moved a damaged file aside: what was indexed must be built again.
                self.rebuild_needed = self.rebuild_needed or bool(writer.notice)
            return self._writer

    @property
    def reader(self) -> Store:
        """This thread's connection for queries, so they never wait on a write
        transaction nor on each other."""
        thread = threading.get_ident()
        with self._opening:
            reader = self._readers.get(thread)
            if reader is None:
                try:
                    self.writer  # creates the database and its schema first
                except IndexUnwritable:
                    if not self.exists():
                        raise
                    # A read-only cache: the index there still answers.
                reader = self._readers[thread] = Store(self.db_path, readonly=True)
            return reader

    def exists(self) -> bool:
        return self.db_path.exists()

    @contextlib.contextmanager
    def write_lock(self, wait: float = 600.0, on_wait=None):
        """Only one process indexes a workspace at a time (CLI or server)."""
        try:
            make_private_dir(self.dir)
            fd = os.open(self.dir / "index.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise unwritable(self.dir, exc) from exc
        try:
            deadline = time.monotonic() + wait
            told = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() > deadline:
                        raise IndexBusy(f"index of {self.root} is busy (another Fathom is indexing it)") from None
                    if not told and on_wait is not None:
                        on_wait(f"waiting for another Fathom process indexing {self.root}")
                        told = True
                    time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            yield
        finally:
            os.close(fd)  # closing releases the flock

    def discard_damaged(self, why: str) -> str:
        """Close every connection and move the damaged index aside: the next
        use builds a new one. Returns the notice that says so."""
        with self._opening:
            for store in [*self._readers.values(), self._writer]:
                try:
                    if store is not None:
                        store.close()
                except Exception:  # noqa: BLE001 - a query still on it keeps the old file open; it is moved all the same
                    pass
            self._readers.clear()
            self._writer = None
            return move_aside(self.db_path, why)

    def close(self) -> None:
        with self._opening:
            self._close_locked()

    def _close_locked(self) -> None:
        for store in [*self._readers.values(), self._writer]:
            if store is not None:
                store.close()
        self._readers.clear()
        self._writer = None
