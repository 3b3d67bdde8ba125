"""The index file itself: opening it (checking, migrating, moving a damaged one
aside), writing transactions, and closing it cleanly. `store.Store` is the data
on top; neither the pipeline nor the protocols see this.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import importlib.util
import json
import os
import time
from pathlib import Path

import apsw

from ..config import make_private_dir
from .schema import MIGRATIONS, SCHEMA, SCHEMA_VERSION


@functools.cache
def _vec_extension() -> str:
    """sqlite-vec's loadable library, found without importing the package
    (whose __init__ imports numpy: a fifth of a no-change reindex)."""
    spec = importlib.util.find_spec("sqlite_vec")
    return os.path.join(spec.submodule_search_locations[0], "vec0")


class StoreError(Exception):
    """The database cannot be used (corrupt, not ours, from another schema)."""


class IndexDamaged(StoreError):
    """The file turned out damaged while in use (a page a check vouched for):
    the caller moves it aside (`IndexFile.move_aside`) and rebuilds."""


class IndexUnwritable(StoreError):
    """The database may be fine but cannot be written here (read-only file or
    directory, full disk): it is never moved aside for that."""


# How long a full integrity check vouches for a file that nobody wrote since.
VERIFIED_FOR_S = 24 * 3600
WRITER_CACHE_KIB = 64 * 1024

# Only these mean the file itself is unusable; any other failure to open it
# (permissions, a full disk, I/O) must not cost the user their index.
_DAMAGED = (apsw.CorruptError, apsw.NotADBError, StoreError)


class IndexFile:
    """One connection to one index file, opened the way its mode needs."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.notice = ""  # set when an unusable database was moved aside
        self._verified_at: float | None = None  # when a full check last passed (writable files)
        self.integrity_checked = False  # whether opening ran that check
        self._holding = None  # the `-open` file, locked while this is open (closed with this object)
        self.conn = self._connect()

    def _connect(self) -> apsw.Connection:
        if not self.readonly:
            try:
                make_private_dir(self.path.parent)
                try:
                    return self._open_and_check()
                except _DAMAGED as exc:
                    self._move_aside(str(exc))
                    return self._open_and_check()
            except (apsw.Error, OSError) as exc:
                raise self._unwritable(exc) from exc
        try:
            conn = self._open_connection()
            conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
            return conn
        except (apsw.CantOpenError, apsw.ReadOnlyError):
            # A WAL database in a read-only directory without its -shm file:
            # SQLite can still read it if told nothing will change it meanwhile.
            return self._open_connection(immutable=True)

    def _open_connection(self, immutable: bool = False) -> apsw.Connection:
        if self.readonly:
            flags = apsw.SQLITE_OPEN_READONLY
        else:
            flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
        name = str(self.path)
        if immutable:
            flags |= apsw.SQLITE_OPEN_URI
            name = self.path.as_uri() + "?immutable=1"
        old_umask = os.umask(0o077)
        try:
            conn = apsw.Connection(name, flags=flags)
        finally:
            os.umask(old_umask)
        conn.setbusytimeout(10_000)
        conn.enable_load_extension(True)
        conn.load_extension(_vec_extension())
        conn.enable_load_extension(False)
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _open_and_check(self) -> apsw.Connection:
        # Another writable connection, in this process or another, has the file
        # open and checked it when it opened: its -wal file is its work, not a crash's.
        vouched = time.time() if self._hold_open() else self._still_verified()
        try:
            conn = self._open_connection()
        except BaseException:
            self._release()
            raise
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # The writer's page cache (SQLite's default is 2 MB): a large tree's
            # phase 1 updates the name and hash indexes all over, and each page
            # missed is a read from the OS.
            conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
            version = None
            has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchall()
            if has_meta:
                row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()
                version = int(row[0][0]) if row else None
            elif conn.execute("SELECT count(*) FROM sqlite_master").fetchall()[0][0]:
                raise StoreError("not a Fathom index")
            if has_meta and version in MIGRATIONS:
                version = _migrate(conn)
            if has_meta and version != SCHEMA_VERSION:
                raise StoreError(f"index schema {version} is not the current {SCHEMA_VERSION}")
            if vouched is None:
                check = conn.execute("PRAGMA quick_check").fetchall()
                if check[0][0] != "ok":
                    raise StoreError(f"integrity check failed: {check[0][0]}")
            self._verified_at = vouched if vouched is not None else time.time()
            self.integrity_checked = vouched is None
            self._checked()
            with conn:
                conn.execute(SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        except Exception:
            conn.close()
            self._release()
            raise
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.chmod(p, 0o600)
        return conn

    @contextlib.contextmanager
    def writing(self):
        """One transaction; a disk that fills up or turns read-only mid-run rolls
        it back and says so in the user's terms."""
        try:
            with self.conn:
                yield
        except (apsw.FullError, apsw.ReadOnlyError, apsw.IOError, apsw.CantOpenError) as exc:
            raise self._unwritable(exc) from exc

    def _unwritable(self, exc: BaseException) -> IndexUnwritable:
        return unwritable(self.path.parent, exc)

    # The full check reads the whole file (about 8 s a gigabyte), so it is skipped
    # when the file is exactly as this program left it at a clean close, within
    # VERIFIED_FOR_S of a check that passed. Anything else that writes the file
    # changes its size or mtime; a crash leaves the -wal file behind.

    # Every writable connection holds `<index>-open` shared; the first one holds it
    # exclusively while it checks, so that a second opener waits for that check and
    # then trusts it. A process that dies drops its lock with it: a -wal file left
    # with nobody holding the file open is a crash's, and has the file checked.

    def _hold_open(self) -> bool:
        """Lock `<index>-open`; True when another connection already held it."""
        # A file object, not a bare descriptor: an IndexFile dropped unclosed drops its lock too.
        held = os.fdopen(os.open(f"{self.path}-open", os.O_RDWR | os.O_CREAT, 0o600), "rb", buffering=0)
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held_by_another = False
        except BlockingIOError:
            fcntl.flock(held, fcntl.LOCK_SH)  # waits while a first opener checks
            held_by_another = True
        except OSError:
            held.close()
            raise
        self._holding = held
        return held_by_another

    def _checked(self) -> None:
        """The open's check is over: others may share the file now."""
        if self._holding is not None:
            fcntl.flock(self._holding, fcntl.LOCK_SH)

    def _release(self) -> None:
        if self._holding is not None:
            self._holding.close()  # closing drops the lock
            self._holding = None

    def _wal_has_frames(self) -> bool:
        """A -wal file with anything in it: a crash's, or an open connection's work.
        An empty one is what a read-only connection leaves (it cannot remove the
        file it made), and says nothing was written since the last checkpoint."""
        try:
            return os.stat(f"{self.path}-wal").st_size > 0
        except FileNotFoundError:
            return False

    @property
    def _stamp_path(self) -> Path:
        return Path(f"{self.path}-verified")

    def _still_verified(self) -> float | None:
        """When the last full check passed, if it still vouches for the file."""
        try:
            stamp = json.loads(self._stamp_path.read_text())
            st = os.stat(self.path)
            if self._wal_has_frames():
                return None
            same_file = [stamp["size"], stamp["mtime_ns"], stamp["inode"]] == [st.st_size, st.st_mtime_ns, st.st_ino]
            verified_at = float(stamp["verified_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return verified_at if same_file and 0 <= time.time() - verified_at < VERIFIED_FOR_S else None

    def _record_clean_close(self) -> None:
        try:
            if self._verified_at is None or self._wal_has_frames():
                return  # another connection still has it open: its writes are not vouched for
            st = os.stat(self.path)
            stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
                     "verified_at": self._verified_at}
            partial = self._stamp_path.with_name(self._stamp_path.name + ".tmp")
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(stamp))
            os.replace(partial, self._stamp_path)
        except OSError:
            pass  # without a stamp the next open checks in full

    def _move_aside(self, why: str) -> None:
        self.notice = move_aside(self.path, why)

    def close(self) -> None:
        self.conn.close()
        if not self.readonly:
            self._record_clean_close()
            self._release()

def move_aside(path: Path, why: str) -> str:
    """Move a damaged index (and its -wal, -shm) aside under a dated name, so the
    next open builds a new one; returns the notice that says so."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    moved = path.with_name(f"{path.name}.broken-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            os.replace(p, Path(str(moved) + suffix))
    Path(f"{path}-verified").unlink(missing_ok=True)
    return f"index at {path} was unusable ({why}); moved to {moved.name} and rebuilding"


def damage_as_store_error(cls):
    """Every public method of `cls` raises IndexDamaged, not apsw's errors, for a
    damaged file: the layers above know no SQLite, and treat it as the open does."""
    def guarded(method):
        @functools.wraps(method)
        def call(*args, **kwargs):
            try:
                return method(*args, **kwargs)
            except (apsw.CorruptError, apsw.NotADBError) as exc:
                raise IndexDamaged(f"{type(exc).__name__}: {exc}") from exc
        return call

    for name, member in list(vars(cls).items()):
        if callable(member) and not name.startswith("_"):
            setattr(cls, name, guarded(member))
    return cls


def _migrate(conn: apsw.Connection) -> int:
    """Bring an older schema up to date in place. Another process may be opening
    the same index: the version is read again under the write lock."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = int(conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()[0][0])
        while version in MIGRATIONS:
            conn.execute(MIGRATIONS[version])
            version += 1
        conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(version),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version


def unwritable(directory: Path, exc: BaseException) -> IndexUnwritable:
    return IndexUnwritable(f"cannot write the index in {directory}: {describe_write_error(exc)}")


def describe_write_error(exc: BaseException) -> str:
    if isinstance(exc, apsw.FullError):
        return "the disk is full"
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return "the disk is full"
    if isinstance(exc, (apsw.ReadOnlyError, apsw.CantOpenError, PermissionError)):
        return "it is read-only or not accessible"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror.lower()}: {exc.filename}" if exc.filename else exc.strerror.lower()
    return str(exc) or type(exc).__name__
