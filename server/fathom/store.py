"""Stage 4: the index database. The only module that knows SQL.

One SQLite file per workspace, opened through apsw (it bundles a current SQLite
with FTS5 and can load sqlite-vec everywhere). Vectors are keyed by the hash of
the text that was embedded, not by chunk, so a moved file, a copied function or
a branch switched back finds its vectors already there.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import json
import os
import struct
import time
from collections.abc import Iterable
from pathlib import Path

import apsw

from .config import make_private_dir
from .models import (
    CONTINUED, Chunk, ChunkedFile, FileStat, IndexCounts, PendingEmbedding, Range, SymbolHit, SymbolKind,
)
from .textsplit import expand_identifiers

SCHEMA_VERSION = 4

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    hash TEXT NOT NULL, language TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS symbols (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    name TEXT NOT NULL, kind INTEGER NOT NULL, container TEXT NOT NULL,
    sl INTEGER NOT NULL, sc INTEGER NOT NULL, el INTEGER NOT NULL, ec INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS symbols_file ON symbols(file_id);
CREATE INDEX IF NOT EXISTS symbols_name ON symbols(name COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    name TEXT NOT NULL, kind INTEGER NOT NULL, container TEXT NOT NULL,
    sl INTEGER NOT NULL, sc INTEGER NOT NULL, el INTEGER NOT NULL, ec INTEGER NOT NULL,
    header TEXT NOT NULL, text TEXT NOT NULL, text_hash TEXT NOT NULL,
    embed INTEGER NOT NULL DEFAULT 1  -- 0: symbols and lexical search only, never pending
);
CREATE INDEX IF NOT EXISTS chunks_file ON chunks(file_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_text USING fts5(
    name, path, body, content='', contentless_delete=1, tokenize='porter unicode61'
);
-- Which text hashes have a vector: a plain index next to the vec0 table.
CREATE TABLE IF NOT EXISTS embedded (text_hash TEXT PRIMARY KEY, vector_id INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS embedded_vector ON embedded(vector_id);
"""

# An index one schema behind is brought up to date in place rather than rebuilt:
# rebuilding would embed the whole workspace again.
MIGRATIONS = {
    3: "ALTER TABLE chunks ADD COLUMN embed INTEGER NOT NULL DEFAULT 1",
}

# bm25() weights for the name, path and body columns.
FTS_WEIGHTS = (8.0, 3.0, 1.0)


@functools.cache
def _vec_extension() -> str:
    """sqlite-vec's loadable library, found without importing the package
    (whose __init__ imports numpy: a fifth of a no-change reindex)."""
    spec = importlib.util.find_spec("sqlite_vec")
    return os.path.join(spec.submodule_search_locations[0], "vec0")


class StoreError(Exception):
    """The database cannot be used (corrupt, not ours, from another schema)."""


class IndexUnwritable(StoreError):
    """The database may be fine but cannot be written here (read-only file or
    directory, full disk): it is never moved aside for that."""


# How long a full integrity check vouches for a file that nobody wrote since.
VERIFIED_FOR_S = 24 * 3600

# Only these mean the file itself is unusable; any other failure to open it
# (permissions, a full disk, I/O) must not cost the user their index.
_DAMAGED = (apsw.CorruptError, apsw.NotADBError, StoreError)


class Store:
    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.notice = ""  # set when an unusable database was moved aside
        # Answers that take a full scan, kept until the next commit: (commit version, value).
        self._as_of: dict[str, tuple[tuple[int, int], object]] = {}
        self._verified_at: float | None = None  # when a full check last passed (writable stores)
        self.integrity_checked = False  # whether opening ran that check
        self.conn = self._connect()

    # -- opening -----------------------------------------------------------------------

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
        vouched = self._still_verified()
        conn = self._open_connection()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
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
            with conn:
                conn.execute(SCHEMA)
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
        except Exception:
            conn.close()
            raise
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.chmod(p, 0o600)
        return conn

    @contextlib.contextmanager
    def _writing(self):
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

    @property
    def _stamp_path(self) -> Path:
        return Path(f"{self.path}-verified")

    def _still_verified(self) -> float | None:
        """When the last full check passed, if it still vouches for the file."""
        try:
            stamp = json.loads(self._stamp_path.read_text())
            st = os.stat(self.path)
            if Path(f"{self.path}-wal").exists():
                return None
            same_file = [stamp["size"], stamp["mtime_ns"], stamp["inode"]] == [st.st_size, st.st_mtime_ns, st.st_ino]
            verified_at = float(stamp["verified_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return verified_at if same_file and 0 <= time.time() - verified_at < VERIFIED_FOR_S else None

    def _record_clean_close(self) -> None:
        try:
            if self._verified_at is None or Path(f"{self.path}-wal").exists():
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
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                os.replace(p, Path(str(moved) + suffix))
        self._stamp_path.unlink(missing_ok=True)
        self.notice = f"index at {self.path} was unusable ({why}); moved to {moved.name} and rebuilding"

    def close(self) -> None:
        self.conn.close()
        if not self.readonly:
            self._record_clean_close()

    # -- meta --------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchall()
        return row[0][0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._writing():
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def last_run(self) -> dict | None:
        raw = self.get_meta("last_run")
        return json.loads(raw) if raw else None

    def set_last_run(self, run: dict) -> None:
        self.set_meta("last_run", json.dumps(run))

    # -- files -------------------------------------------------------------------------

    def file_states(self) -> dict[str, tuple[FileStat, str]]:
        """path -> (stat, content hash) for every file in the index."""
        return {
            path: (FileStat(size, mtime, inode), digest)
            for path, size, mtime, inode, digest in self.conn.execute(
                "SELECT path, size, mtime_ns, inode, hash FROM files"
            )
        }

    def write_files(self, results: Iterable[ChunkedFile]) -> int:
        """Phase 1: a batch of chunked files, each replacing what it had before,
        in one transaction. Returns how many chunks were written."""
        written = 0
        with self._writing():
            for r in results:
                st = r.stat
                if r.status == "unchanged":
                    self.conn.execute(
                        "UPDATE files SET size=?, mtime_ns=?, inode=? WHERE path=?",
                        (st.size, st.mtime_ns, st.inode, r.relpath),
                    )
                    continue
                file_id = self._replace_file(r)
                self.conn.executemany(
                    "INSERT INTO symbols (file_id, name, kind, container, sl, sc, el, ec) VALUES (?,?,?,?,?,?,?,?)",
                    [
                        (file_id, s.name, int(s.kind), s.container, *_range_row(s.range))
                        for s in r.symbols
                    ],
                )
                path_words = expand_identifiers(r.relpath.replace("/", " ").replace(".", " "))
                # Ids chosen here rather than read back per row, so both tables
                # take one executemany per file. No other writer can interleave:
                # SQLite holds the write lock for the whole transaction.
                first_id = self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchall()[0][0]
                ids = range(first_id, first_id + len(r.chunks))
                self.conn.executemany(
                    "INSERT INTO chunks (id, file_id, name, kind, container, sl, sc, el, ec, header, text, text_hash, embed)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        (chunk_id, file_id, c.name, int(c.kind), c.container, *_range_row(c.range),
                         c.header, c.text, c.text_hash, r.embed)
                        for chunk_id, c in zip(ids, r.chunks)
                    ],
                )
                self.conn.executemany(
                    "INSERT INTO chunk_text (rowid, name, path, body) VALUES (?,?,?,?)",
                    [
                        (chunk_id, expand_identifiers(f"{c.container} {c.name}"), path_words,
                         expand_identifiers(c.text))
                        for chunk_id, c in zip(ids, r.chunks)
                    ],
                )
                written += len(r.chunks)
        return written

    def _replace_file(self, r: ChunkedFile) -> int:
        st = r.stat
        row = self.conn.execute("SELECT id FROM files WHERE path=?", (r.relpath,)).fetchall()
        if row:
            file_id = row[0][0]
            self._delete_file_contents(file_id)
            self.conn.execute(
                "UPDATE files SET size=?, mtime_ns=?, inode=?, hash=?, language=?, status=?, reason=? WHERE id=?",
                (st.size, st.mtime_ns, st.inode, r.content_hash, r.language, r.status, r.reason, file_id),
            )
            return file_id
        self.conn.execute(
            "INSERT INTO files (path, size, mtime_ns, inode, hash, language, status, reason)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (r.relpath, st.size, st.mtime_ns, st.inode, r.content_hash, r.language, r.status, r.reason),
        )
        return self.conn.last_insert_rowid()

    def _delete_file_contents(self, file_id: int) -> None:
        self.conn.execute(
            "DELETE FROM chunk_text WHERE rowid IN (SELECT id FROM chunks WHERE file_id=?)", (file_id,)
        )
        self.conn.execute("DELETE FROM chunks WHERE file_id=?", (file_id,))
        self.conn.execute("DELETE FROM symbols WHERE file_id=?", (file_id,))

    def remove_files(self, paths: Iterable[str]) -> int:
        removed = 0
        with self._writing():
            for path in paths:
                row = self.conn.execute("SELECT id FROM files WHERE path=?", (path,)).fetchall()
                if row:
                    self._delete_file_contents(row[0][0])
                    self.conn.execute("DELETE FROM files WHERE id=?", (row[0][0],))
                    removed += 1
        return removed

    def indexed_paths(self) -> set[str]:
        return {p for (p,) in self.conn.execute("SELECT path FROM files")}

    # -- vectors -----------------------------------------------------------------------

    def vector_model(self) -> tuple[str | None, int]:
        return self.get_meta("vector_model"), int(self.get_meta("vector_dim", "0") or 0)

    def use_vector_model(self, model_id: str, dim: int) -> bool:
        """Make the vector table fit this model; returns True when vectors of another
        model were dropped (they are not comparable)."""
        current, current_dim = self.vector_model()
        if current == model_id and current_dim == dim and self._has_vector_table():
            return False
        dropped = current is not None
        with self._writing():
            self.conn.execute("DROP TABLE IF EXISTS vectors")
            self.conn.execute("DELETE FROM embedded")
            self.conn.execute(
                f"CREATE VIRTUAL TABLE vectors USING vec0(embedding float[{int(dim)}] distance_metric=cosine)"
            )
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('vector_model', ?)", (model_id,))
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('vector_dim', ?)", (str(dim),))
        return dropped

    def _has_vector_table(self) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM sqlite_master WHERE name='vectors'").fetchall())

    def pending_embeddings(self) -> list[PendingEmbedding]:
        """Distinct texts that some chunk needs and no vector covers yet."""
        # With min() among the results, SQLite takes the other columns from that row.
        rows = self.conn.execute(
            "SELECT c.text_hash, c.header, c.text, f.path, min(c.id) AS first FROM chunks c"
            " JOIN files f ON f.id = c.file_id"
            " WHERE c.embed AND NOT EXISTS (SELECT 1 FROM embedded e WHERE e.text_hash = c.text_hash)"
            " GROUP BY c.text_hash ORDER BY first"
        )
        return [
            PendingEmbedding(h, f"{header}\n{text}" if header else text, header.endswith(CONTINUED), path)
            for h, header, text, path, _first in rows
        ]

    def embedded_among(self, hashes: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            marks = ",".join("?" * len(part))
            found.update(h for (h,) in self.conn.execute(
                f"SELECT text_hash FROM embedded WHERE text_hash IN ({marks})", part))
        return found

    def _commit_version(self) -> tuple[int, int]:
        """Changes whenever anything commits: another connection (data_version)
        or this one (total_changes)."""
        return self.conn.execute("PRAGMA data_version").fetchall()[0][0], self.conn.total_changes()

    def _until_next_commit(self, name: str, compute):
        version = self._commit_version()
        kept = self._as_of.get(name)
        if kept is None or kept[0] != version:
            kept = self._as_of[name] = (version, compute())
        return kept[1]

    def has_pending(self) -> bool:
        # Every search asks, and when nothing is pending the answer takes a full
        # scan (12 ms on django).
        return self._until_next_commit("has_pending", lambda: bool(self.conn.execute(
            "SELECT 1 FROM chunks c WHERE c.embed AND NOT EXISTS"
            " (SELECT 1 FROM embedded e WHERE e.text_hash = c.text_hash) LIMIT 1"
        ).fetchall()))

    def without_vectors(self, chunk_ids: list[int]) -> set[int]:
        """Those of `chunk_ids` whose text has no vector yet."""
        if not chunk_ids:
            return set()
        marks = ",".join("?" * len(chunk_ids))
        return {cid for (cid,) in self.conn.execute(
            f"SELECT c.id FROM chunks c WHERE c.id IN ({marks}) AND c.embed"
            " AND NOT EXISTS (SELECT 1 FROM embedded e WHERE e.text_hash = c.text_hash)", chunk_ids)}

    def pending_count(self) -> int:
        return self.conn.execute(
            "SELECT count(DISTINCT c.text_hash) FROM chunks c"
            " WHERE c.embed AND NOT EXISTS (SELECT 1 FROM embedded e WHERE e.text_hash = c.text_hash)"
        ).fetchall()[0][0]

    def write_vectors(self, items: Iterable[tuple[str, list[float] | bytes]]) -> int:
        """Phase 2: vectors as they arrive. Already known hashes are skipped."""
        written = 0
        with self._writing():
            next_id = self.conn.execute("SELECT coalesce(max(vector_id), 0) + 1 FROM embedded").fetchall()[0][0]
            for text_hash, vector in items:
                if self.conn.execute("SELECT 1 FROM embedded WHERE text_hash=?", (text_hash,)).fetchall():
                    continue
                blob = vector if isinstance(vector, bytes) else struct.pack(f"{len(vector)}f", *vector)
                self.conn.execute("INSERT INTO vectors (rowid, embedding) VALUES (?, ?)", (next_id, blob))
                self.conn.execute("INSERT INTO embedded VALUES (?, ?)", (text_hash, next_id))
                next_id += 1
                written += 1
        return written

    def prune_vectors(self, keep_orphans: int) -> int:
        """Vectors no chunk uses are kept as a cache (a branch switched back costs
        nothing), but not without bound."""
        orphans = [
            (h, vid)
            for h, vid in self.conn.execute(
                "SELECT e.text_hash, e.vector_id FROM embedded e"
                " WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.text_hash = e.text_hash)"
                " ORDER BY e.vector_id"
            )
        ]
        excess = orphans[: max(0, len(orphans) - keep_orphans)]
        if not excess:
            return 0
        with self._writing():
            for h, vid in excess:
                self.conn.execute("DELETE FROM vectors WHERE rowid=?", (vid,))
                self.conn.execute("DELETE FROM embedded WHERE text_hash=?", (h,))
        return len(excess)

    # -- reading -----------------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self.conn.execute("SELECT 1 FROM files LIMIT 1").fetchall()

    def counts(self) -> IndexCounts:
        # Editors ask for status on every progress report; counting what is
        # pending is a full scan (24 ms on django), worth doing once per commit.
        return self._until_next_commit("counts", self._count)

    def _count(self) -> IndexCounts:
        files, symbols, chunks = self.conn.execute(
            "SELECT (SELECT count(*) FROM files WHERE status='indexed'), (SELECT count(*) FROM symbols),"
            " (SELECT count(*) FROM chunks)"
        ).fetchall()[0]
        return IndexCounts(files, symbols, chunks, self.pending_count())

    def lexical(self, fts_query: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, bm25 score, higher is better) for an FTS5 MATCH expression."""
        w = FTS_WEIGHTS
        sql = (
            f"SELECT rowid, -bm25(chunk_text, {w[0]}, {w[1]}, {w[2]}) AS score FROM chunk_text"
            " WHERE chunk_text MATCH ? ORDER BY bm25(chunk_text, {0}, {1}, {2}) LIMIT ?"
        ).format(*w)
        try:
            rows = self.conn.execute(sql, (fts_query, limit)).fetchall()
        except apsw.SQLError:
            return []
        return [(int(r), float(s)) for r, s in rows]

    def nearest(self, vector: bytes, k: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the chunks nearest to a query vector."""
        if not self._has_vector_table():
            return []
        # Two statements on purpose: joined in one, SQLite's planner runs the KNN
        # once per chunk row (seconds instead of milliseconds).
        neighbours = self.conn.execute(
            "SELECT rowid, distance FROM vectors WHERE embedding MATCH ? AND k = ?", (vector, k)
        ).fetchall()
        if not neighbours:
            return []
        distance = {int(rowid): float(d) for rowid, d in neighbours}
        marks = ",".join("?" * len(distance))
        rows = self.conn.execute(
            "SELECT c.id, e.vector_id FROM embedded e JOIN chunks c ON c.text_hash = e.text_hash"
            f" WHERE e.vector_id IN ({marks})",
            list(distance),
        ).fetchall()
        rows.sort(key=lambda r: (distance[r[1]], r[0]))
        return [(int(chunk_id), 1.0 - distance[vector_id]) for chunk_id, vector_id in rows]

    def chunk_rows(self, ids: Iterable[int]) -> dict[int, tuple[str, Chunk]]:
        """chunk id -> (relative path, chunk)."""
        ids = list(ids)
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn.execute(
            "SELECT c.id, f.path, c.name, c.kind, c.container, c.sl, c.sc, c.el, c.ec, c.header, c.text"
            f" FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.id IN ({marks})",
            ids,
        )
        return {
            cid: (path, Chunk(name, SymbolKind(kind), container, Range(sl, sc, el, ec), header, text))
            for cid, path, name, kind, container, sl, sc, el, ec, header, text in rows
        }

    def definitions_of(self, paths_and_names: Iterable[tuple[str, str]]) -> list[SymbolHit]:
        """The symbols called `name` in `path`, for each pair."""
        pairs = set(paths_and_names)
        if not pairs:
            return []
        paths = sorted({path for path, _ in pairs})
        names = sorted({name for _, name in pairs})
        hits = _symbol_hits(self.conn.execute(
            f"{_SYMBOL_COLUMNS} WHERE f.path IN ({','.join('?' * len(paths))})"
            f" AND s.name IN ({','.join('?' * len(names))})",
            paths + names,
        ))
        return [h for h in hits if (h.relpath, h.name) in pairs]

    def symbols_matching(self, like_pattern: str, limit: int) -> list[SymbolHit]:
        return _symbol_hits(self.conn.execute(
            f"{_SYMBOL_COLUMNS} WHERE s.name LIKE ? ESCAPE '\\' LIMIT ?", (like_pattern, limit)
        ))

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchall()[0][0] == "ok"


_SYMBOL_COLUMNS = (
    "SELECT s.name, s.kind, s.container, f.path, s.sl, s.sc, s.el, s.ec"
    " FROM symbols s JOIN files f ON f.id = s.file_id"
)


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


def _symbol_hits(rows) -> list[SymbolHit]:
    return [
        SymbolHit(name, SymbolKind(kind), container, path, Range(sl, sc, el, ec))
        for name, kind, container, path, sl, sc, el, ec in rows
    ]


def _range_row(r: Range) -> tuple[int, int, int, int]:
    return r.start_line, r.start_char, r.end_line, r.end_char



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
