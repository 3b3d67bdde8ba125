"""A portable snapshot of an index: one SQLite file a CI job writes and every
checkout seeds its own index from. With `database.py` and `store.py`, the only
code that knows SQL.

It holds the model's identity, the vectors by text hash, and each indexed file's
content hash with its symbols and chunks, by path relative to the workspace. It
holds no absolute path, no stat, nothing of a file the index skipped, and no
full-text index (rebuilt from the chunks on import). Vectors are plain float32
blobs, so reading a snapshot needs no SQLite extension.

A snapshot may come from anywhere: it is opened read-only and immutable (nothing
is written beside it), its schema must be exactly this one (no views, no
triggers), and every row is checked for type and shape as it is read.
"""
from __future__ import annotations

import hashlib
import itertools
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import apsw

from ..models import Chunk, Range, Symbol, SymbolKind
from .database import StoreError, _vec_extension
from .schema import vector_tables

FORMAT = "fathom-index-snapshot"
FORMAT_VERSION = 1

_TABLES = {
    "snapshot": ("key", "value"),
    "files": ("id", "path", "hash", "language", "embed"),
    "symbols": ("file_id", "name", "kind", "container", "sl", "sc", "el", "ec"),
    "chunks": ("file_id", "name", "kind", "container", "sl", "sc", "el", "ec", "header", "text"),
    "vectors": ("text_hash", "embedding"),
}

_SCHEMA = """
CREATE TABLE snapshot (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE files (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, hash TEXT NOT NULL,
                    language TEXT NOT NULL, embed INTEGER NOT NULL);
CREATE TABLE symbols (file_id INTEGER NOT NULL, name TEXT NOT NULL, kind INTEGER NOT NULL, container TEXT NOT NULL,
                      sl INTEGER NOT NULL, sc INTEGER NOT NULL, el INTEGER NOT NULL, ec INTEGER NOT NULL);
CREATE TABLE chunks (file_id INTEGER NOT NULL, name TEXT NOT NULL, kind INTEGER NOT NULL, container TEXT NOT NULL,
                     sl INTEGER NOT NULL, sc INTEGER NOT NULL, el INTEGER NOT NULL, ec INTEGER NOT NULL,
                     header TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE vectors (text_hash TEXT PRIMARY KEY, embedding BLOB NOT NULL) WITHOUT ROWID;
"""

# The widest vector any model here makes is 4096; a dimension past this is not a model's.
MOST_DIMENSIONS = 16384
_KINDS = {int(k) for k in SymbolKind}


class SnapshotError(StoreError):
    """The file is not a snapshot this version can read: truncated, corrupt,
    another format or version, or rows of the wrong shape."""


@dataclass(frozen=True)
class SnapshotIdentity:
    """What a snapshot's vectors and chunks were made with."""

    model: str  # the model id, as `ModelSpec.model_id`
    dim: int
    provider: str  # "local", or the serving API that embedded
    chunker_version: str
    max_tokens: int  # the window chunks were cut to
    fathom_version: str = ""
    created: str = ""


@dataclass(frozen=True)
class SnapshotCounts:
    files: int
    symbols: int
    chunks: int
    vectors: int


@dataclass(frozen=True)
class SnapshotFile:
    """One indexed file as the snapshot has it."""

    relpath: str
    content_hash: str
    language: str
    embed: bool
    symbols: list[Symbol]
    chunks: list[Chunk]


def write_snapshot(index_db: Path, out: Path, identity: SnapshotIdentity,
                   shared: Callable[[str], bool]) -> SnapshotCounts:
    """Write the snapshot of an index to `out` (replaced whole, or not at all).
    Only files the index holds as indexed, and that `shared(path)` allows, go in;
    only the vectors of their texts, of the model `identity` names."""
    out = Path(out)
    fd, partial = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    os.close(fd)
    try:
        conn = apsw.Connection(partial, flags=apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_URI)
        try:
            conn.enable_load_extension(True)
            conn.load_extension(_vec_extension())  # to read the index's vec0 table
            conn.enable_load_extension(False)
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute("ATTACH DATABASE ? AS idx", (Path(index_db).resolve().as_uri() + "?mode=ro",))
            conn.create_scalar_function("fathom_shared", lambda path: 1 if shared(path) else 0, 1,
                                        deterministic=True)
            row = conn.execute("SELECT id FROM idx.vector_models WHERE model=? AND dim=?",
                               (identity.model, identity.dim)).fetchall()
            if not row:
                raise StoreError(f"the index holds no vectors of {identity.model} ({identity.dim} dimensions)")
            vectors, embedded = vector_tables(row[0][0])
            with conn:
                conn.execute(_SCHEMA)
                conn.executemany("INSERT INTO snapshot VALUES (?, ?)", _identity_rows(identity))
                conn.execute(
                    "INSERT INTO files (id, path, hash, language, embed)"
                    " SELECT f.id, f.path, f.hash, f.language,"
                    "  coalesce((SELECT max(c.embed) FROM idx.chunks c WHERE c.file_id = f.id), 1)"
                    " FROM idx.files f WHERE f.status = 'indexed' AND fathom_shared(f.path) ORDER BY f.id")
                conn.execute(
                    "INSERT INTO symbols SELECT s.file_id, s.name, s.kind, s.container, s.sl, s.sc, s.el, s.ec"
                    " FROM idx.symbols s WHERE s.file_id IN (SELECT id FROM main.files) ORDER BY s.file_id, s.id")
                conn.execute(
                    "INSERT INTO chunks SELECT c.file_id, c.name, c.kind, c.container, c.sl, c.sc, c.el, c.ec,"
                    " c.header, c.text FROM idx.chunks c WHERE c.file_id IN (SELECT id FROM main.files)"
                    " ORDER BY c.file_id, c.id")
                # Two steps: the vec0 table is read by rowid for each vector a chunk uses.
                conn.execute("CREATE TEMP TABLE wanted AS SELECT e.text_hash, e.vector_id FROM idx." + embedded +
                             " e WHERE e.text_hash IN (SELECT text_hash FROM idx.chunks c"
                             " WHERE c.embed AND c.file_id IN (SELECT id FROM main.files))")
                for text_hash, vector_id in conn.execute("SELECT text_hash, vector_id FROM temp.wanted").fetchall():
                    blob = conn.execute(f"SELECT embedding FROM idx.{vectors} WHERE rowid = ?",
                                        (vector_id,)).fetchall()
                    if blob:
                        conn.execute("INSERT OR IGNORE INTO vectors VALUES (?, ?)", (text_hash, blob[0][0]))
            counts = _counts(conn)
            conn.execute("DETACH DATABASE idx")
            with conn:
                conn.execute("INSERT INTO snapshot VALUES ('checksum', ?)", (_checksum_of(Path(partial)),))
        finally:
            conn.close()
        os.chmod(partial, 0o644)  # made to be published
        os.replace(partial, out)
        return counts
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _checksum_of(path: Path) -> str:
    """Read back as an importer reads it, so that both compute the same checksum."""
    with SnapshotReader(path) as reader:
        for _ in reader.files():
            pass
        for _ in reader.vectors():
            pass
        return reader.checksum()


def _identity_rows(identity: SnapshotIdentity) -> list[tuple[str, str]]:
    return [
        ("format", FORMAT), ("format_version", str(FORMAT_VERSION)),
        ("model", identity.model), ("dim", str(identity.dim)), ("provider", identity.provider),
        ("chunker_version", identity.chunker_version), ("max_tokens", str(identity.max_tokens)),
        ("fathom_version", identity.fathom_version), ("created", identity.created),
    ]


def _counts(conn: apsw.Connection) -> SnapshotCounts:
    return SnapshotCounts(*(conn.execute(f"SELECT count(*) FROM main.{t}").fetchall()[0][0]
                            for t in ("files", "symbols", "chunks", "vectors")))


class SnapshotReader:
    """A snapshot opened for reading; every method raises SnapshotError for a
    file that is not what it claims.

    Reading `files()` then `vectors()` to the end computes the checksum of
    everything read, which `verify()` compares with the one the writer recorded:
    damage inside a row (a flipped byte in a text or a vector) leaves the file's
    structure, and so SQLite's own check, intact."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            if not self.path.is_file():
                raise SnapshotError(f"no snapshot at {self.path}")
            # immutable: no -wal, -shm or journal beside it, and no locks on it.
            self.conn = apsw.Connection(self.path.resolve().as_uri() + "?immutable=1",
                                        flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
        except apsw.Error as exc:
            raise SnapshotError(f"{self.path} cannot be opened: {exc}") from exc
        try:
            self.conn.config(apsw.SQLITE_DBCONFIG_DEFENSIVE, 1)
            self.conn.config(apsw.SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0)
            self._check_schema()
            check = self.conn.execute("PRAGMA quick_check").fetchall()
            if check[0][0] != "ok":
                found = [line for line in str(check[0][0]).splitlines() if line.strip() and not line.startswith("***")]
                raise SnapshotError(f"{self.path} is damaged ({found[0] if found else 'integrity check failed'})")
            self.identity = self._identity()
            self.counts = _counts(self.conn)
            self._digest = hashlib.blake2b(digest_size=32)
        except apsw.Error as exc:
            self.conn.close()
            raise SnapshotError(f"{self.path} is not a readable snapshot: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "SnapshotReader":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _check_schema(self) -> None:
        objects = self.conn.execute("SELECT type, name, coalesce(sql, '') FROM sqlite_master").fetchall()
        tables = {name for kind, name, sql in objects if kind == "table" and sql.upper().startswith("CREATE TABLE")}
        others = [name for kind, name, sql in objects if name not in tables
                  and not (kind == "index" and name.startswith("sqlite_autoindex_"))]
        if "snapshot" not in tables:
            raise SnapshotError(f"{self.path} is not a Fathom index snapshot")
        if tables != set(_TABLES) or others:
            raise SnapshotError(f"{self.path} is not a snapshot of format {FORMAT_VERSION}: unexpected tables")
        for table, columns in _TABLES.items():
            found = tuple(row[1] for row in self.conn.execute(f"PRAGMA table_info({table})"))
            if found != columns:
                raise SnapshotError(f"{self.path}: table {table} has columns {found}, not {columns}")

    def _identity(self) -> SnapshotIdentity:
        meta = dict(self.conn.execute("SELECT key, value FROM snapshot LIMIT 100").fetchall())
        if meta.get("format") != FORMAT:
            raise SnapshotError(f"{self.path} is not a Fathom index snapshot")
        if meta.get("format_version") != str(FORMAT_VERSION):
            raise SnapshotError(f"{self.path} is a snapshot of format {meta.get('format_version')!r}; "
                                f"this Fathom reads format {FORMAT_VERSION}")
        try:
            dim, max_tokens = int(meta["dim"]), int(meta["max_tokens"])
            identity = SnapshotIdentity(
                model=str(meta["model"]), dim=dim, provider=str(meta["provider"]),
                chunker_version=str(meta["chunker_version"]), max_tokens=max_tokens,
                fathom_version=str(meta.get("fathom_version", "")), created=str(meta.get("created", "")))
        except (KeyError, ValueError, TypeError) as exc:
            raise SnapshotError(f"{self.path}: its model identity is incomplete ({exc})") from None
        if not 0 < dim <= MOST_DIMENSIONS or max_tokens <= 0 or not identity.model:
            raise SnapshotError(f"{self.path}: model identity out of range (dim {dim}, window {max_tokens})")
        return identity

    def files(self) -> Iterator[SnapshotFile]:
        """Every file with its symbols and chunks, three ordered scans merged
        (never a query per file: a snapshot without indexes must not cost n²)."""
        try:
            symbols = self._by_file("SELECT file_id, name, kind, container, sl, sc, el, ec FROM symbols"
                                    " ORDER BY file_id, rowid", _symbol)
            chunks = self._by_file("SELECT file_id, name, kind, container, sl, sc, el, ec, header, text FROM chunks"
                                   " ORDER BY file_id, rowid", _chunk)
            next_symbols, next_chunks = next(symbols, None), next(chunks, None)
            for file_id, path, digest, language, embed in self.conn.execute(
                    "SELECT id, path, hash, language, embed FROM files ORDER BY id"):
                if not (isinstance(path, str) and isinstance(digest, str) and isinstance(language, str)
                        and isinstance(embed, int)):
                    raise SnapshotError(f"{self.path}: a file row of the wrong types")
                self._feed((file_id, path, digest, language, embed))
                own_symbols, own_chunks = [], []
                while next_symbols is not None and next_symbols[0] <= file_id:
                    if next_symbols[0] == file_id:
                        own_symbols = next_symbols[1]
                    next_symbols = next(symbols, None)
                while next_chunks is not None and next_chunks[0] <= file_id:
                    if next_chunks[0] == file_id:
                        own_chunks = next_chunks[1]
                    next_chunks = next(chunks, None)
                yield SnapshotFile(path, digest, language, bool(embed), own_symbols, own_chunks)
        except apsw.Error as exc:
            raise SnapshotError(f"{self.path} cannot be read: {type(exc).__name__}: {exc}") from exc

    def _by_file(self, sql: str, make) -> Iterator[tuple[int, list]]:
        """(file id, its rows made into values), in file order."""
        current, rows = None, []
        for row in self.conn.execute(sql):
            if not isinstance(row[0], int):
                raise SnapshotError(f"{self.path}: a row of the wrong types")
            if row[0] != current:
                if current is not None:
                    yield current, rows
                current, rows = row[0], []
            self._feed(row)
            rows.append(make(self.path, row[1:]))
        if current is not None:
            yield current, rows

    def vectors(self, batch: int = 2000) -> Iterator[list[tuple[str, bytes]]]:
        """(text hash, float32 blob) in batches; each blob exactly `dim` floats wide."""
        width = 4 * self.identity.dim
        try:
            cursor = self.conn.execute("SELECT text_hash, embedding FROM vectors ORDER BY text_hash")
            while True:
                rows = list(itertools.islice(cursor, batch))
                if not rows:
                    return
                for text_hash, blob in rows:
                    if not isinstance(text_hash, str) or not isinstance(blob, bytes) or len(blob) != width:
                        raise SnapshotError(f"{self.path}: a vector that is not {self.identity.dim} floats")
                    self._digest.update(text_hash.encode() + b"\x1f" + blob + b"\x1e")
                yield rows
        except apsw.Error as exc:
            raise SnapshotError(f"{self.path} cannot be read: {type(exc).__name__}: {exc}") from exc


    def _feed(self, row: tuple) -> None:
        self._digest.update("\x1f".join(map(str, row)).encode("utf-8", "surrogatepass") + b"\x1e")

    def checksum(self) -> str:
        """Of everything read so far: of the whole snapshot once files() and vectors() were read through."""
        return self._digest.hexdigest()

    def verify(self) -> None:
        recorded = self.conn.execute("SELECT value FROM snapshot WHERE key = 'checksum'").fetchall()
        if not recorded or recorded[0][0] != self.checksum():
            raise SnapshotError(f"{self.path}: its contents do not match its checksum (damaged, or edited)")


def _range(path: Path, values) -> Range:
    if not all(isinstance(v, int) and 0 <= v < 1 << 31 for v in values):
        raise SnapshotError(f"{path}: a range that is not four line and column numbers")
    return Range(*values)


def _checked(path: Path, name, kind, container) -> SymbolKind:
    if not (isinstance(name, str) and isinstance(container, str) and kind in _KINDS):
        raise SnapshotError(f"{path}: a symbol or chunk of the wrong types")
    return SymbolKind(kind)


def _symbol(path: Path, row) -> Symbol:
    name, kind, container, *where = row
    return Symbol(name, _checked(path, name, kind, container), container, _range(path, where))


def _chunk(path: Path, row) -> Chunk:
    name, kind, container, sl, sc, el, ec, header, text = row
    if not (isinstance(header, str) and isinstance(text, str)):
        raise SnapshotError(f"{path}: a chunk of the wrong types")
    return Chunk(name, _checked(path, name, kind, container), container, _range(path, (sl, sc, el, ec)), header, text)
