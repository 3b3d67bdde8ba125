"""Seeding a workspace's index from a snapshot another machine wrote.

Vectors are keyed by the hash of the text the model read, so a snapshot's
vectors serve any checkout whose texts are the same; its files (content hash,
symbols, chunks) are taken for paths this index does not know yet, with no stat,
so the next run reads each such file once, finds the same content hash and keeps
its chunks rather than cutting them again. A file that changed is chunked as any
changed file, and only texts the snapshot has no vector for are embedded.

A snapshot is untrusted input: it is checked whole (schema, integrity, model,
every path and hash) and written in one transaction, so a bad one changes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..index.lexical import with_lexical
from ..index.policy import CHUNKER_VERSION, is_secret, never_indexed, skipped_dir
from ..index.progress import Progress
from ..index.run import CHUNKED_BY
from ..models import ChunkedFile, ChunkStatus, FileStat
from ..store import Store, StoreError
from ..store.snapshot import SnapshotCounts, SnapshotError, SnapshotFile, SnapshotIdentity, SnapshotReader
from ..workspace import Workspace
from .download import DownloadFailed, download, is_url, shown

# The index meta key naming the seed an index was seeded from (shown, never a credential).
SEEDED_FROM = "seeded_from"

# Far above any real tree (the kernel: 90k files, about 1M chunks), far below what
# would fill a disk or run for hours.
MOST_FILES = 5_000_000
MOST_ROWS = 100_000_000
MOST_PATH = 4096

# A stat no file has (no inode is 0): a seeded file is always read once, and kept
# unchanged when its content hash is the snapshot's.
NEVER_STATTED = FileStat(0, 0, 0)
WRITE_BATCH = 256
_HASH = re.compile(r"[0-9a-f]{32}")


class SeedError(StoreError):
    """The seed cannot be used; the local index is as it was."""


@dataclass(frozen=True)
class SeedReport:
    source: str  # as shown: a URL without credentials
    model: str
    vectors_added: int
    vectors_known: int  # already in the local index
    files_taken: int  # taken with their chunks: not chunked again unless changed
    files_left_out: int  # known here already, or never shared (secrets, ignored by policy)
    files_note: str = ""  # why the snapshot's files were not taken, when they were not

    def summary(self) -> str:
        taken = f"{self.files_taken:,} files taken with their chunks" if not self.files_note else self.files_note
        return (f"seeded from {self.source}: {self.vectors_added:,} vectors of {self.model} added"
                f" ({self.vectors_known:,} already here), {taken}")


def resolve_source(source: str, root: Path) -> str:
    """A URL as given; a path relative to the workspace (or `~`) made absolute."""
    if is_url(source):
        return source
    path = Path(source).expanduser()
    return str(path if path.is_absolute() else root / path)


def seed(ws: Workspace, source: str, progress: Progress) -> SeedReport:
    """Seed `ws`'s index from a snapshot file or URL; raises SeedError (nothing
    changed) when it cannot be used."""
    source = resolve_source(source, ws.root)
    fetched = None
    if is_url(source):
        try:
            fetched = download(source, ws.dir, progress.message)
        except DownloadFailed as failed:
            raise SeedError(str(failed)) from None
    try:
        with SnapshotReader(fetched or Path(source)) as snapshot:
            _check_model(snapshot.identity, ws, source)
            _check_counts(snapshot.counts, source)
            progress.message(f"seeding from {shown(source)}")
            with ws.write_lock(on_wait=progress.message):
                report = _write(ws, snapshot, shown(source))
    except SnapshotError as bad:
        raise SeedError(f"cannot seed from {shown(source)}: {bad}; nothing imported") from None
    finally:
        if fetched is not None:
            fetched.unlink(missing_ok=True)
    return report


def seed_if_new(ws: Workspace, source: str, progress: Progress) -> SeedReport | None:
    """Seed an index that holds nothing yet (a workspace's first open); a seed
    that cannot be used is said, and the index is built as without one."""
    if not ws.writer.is_empty():
        return None
    try:
        report = seed(ws, source, progress)
    except SeedError as failed:
        progress.message(f"{failed}; indexing without it")
        return None
    progress.message(report.summary())
    return report


def _check_model(identity: SnapshotIdentity, ws: Workspace, source: str) -> None:
    spec = ws.spec
    theirs = f"{identity.model} ({identity.dim} dimensions)"
    if identity.model != spec.model_id:
        raise SeedError(f"cannot seed from {shown(source)}: it was built with {theirs}, "
                        f"this workspace embeds with {spec.model_id}; nothing imported")
    held_here = ws.reader.vector_models() if ws.exists() else []  # a refused seed creates no index
    widths = {dim for model, dim, held in held_here if model == spec.model_id and held}
    if spec.dim is not None:
        widths.add(spec.dim)
    if widths and identity.dim not in widths:
        raise SeedError(f"cannot seed from {shown(source)}: its vectors have {identity.dim} dimensions, "
                        f"{spec.model_id} here makes {min(widths)}; nothing imported")


def _check_counts(counts: SnapshotCounts, source: str) -> None:
    if counts.files > MOST_FILES or max(counts.symbols, counts.chunks, counts.vectors) > MOST_ROWS:
        raise SeedError(f"cannot seed from {shown(source)}: it holds {counts.files:,} files and "
                        f"{max(counts.symbols, counts.chunks, counts.vectors):,} rows, more than any tree; nothing imported")


def unsafe_path(relpath: str) -> bool:
    """A path that would leave the workspace, or that no walk could produce."""
    if not relpath or len(relpath) > MOST_PATH or "\\" in relpath or "\x00" in relpath:
        return True
    if relpath.startswith("/") or re.match(r"[A-Za-z]:", relpath):
        return True
    return any(part in ("", ".", "..") for part in relpath.split("/"))


def never_shared(relpath: str) -> bool:
    """A path whose file no snapshot carries, whatever the index held: credentials,
    non-source files, directories never walked."""
    parts = relpath.split("/")
    return any(skipped_dir(p) for p in parts[:-1]) or never_indexed(parts[-1]) or is_secret(relpath)


def _write(ws: Workspace, snapshot: SnapshotReader, source: str) -> SeedReport:
    store = ws.writer
    identity = snapshot.identity
    files_note = _why_files_not_taken(identity, ws, store)
    known_paths = store.indexed_paths()
    taken = left_out = added = known = 0
    with store.all_or_nothing():
        store.use_vector_model(identity.model, identity.dim)
        batch: list[ChunkedFile] = []
        for file in snapshot.files():
            _check_file(file, snapshot.path)
            if files_note:
                continue
            if file.relpath in known_paths or never_shared(file.relpath):
                left_out += 1
                continue
            batch.append(with_lexical(ChunkedFile(
                file.relpath, NEVER_STATTED, file.content_hash, file.language, ChunkStatus.INDEXED,
                symbols=file.symbols, chunks=file.chunks, embed=file.embed)))
            taken += 1
            if len(batch) >= WRITE_BATCH:
                store.write_files(batch)
                batch = []
        store.write_files(batch)
        for vectors in snapshot.vectors():
            if any(not _HASH.fullmatch(text_hash) for text_hash, _ in vectors):
                raise SnapshotError(f"{snapshot.path}: a vector keyed by something not a text hash")
            written = store.write_vectors(vectors)
            added += written
            known += len(vectors) - written
        snapshot.verify()  # all read: a mismatch rolls every write back
        if taken and store.get_meta(CHUNKED_BY) is None:
            store.set_meta(CHUNKED_BY, CHUNKER_VERSION)
        store.set_meta(SEEDED_FROM, source)
    return SeedReport(source, identity.model, added, known, taken, left_out, files_note)


def _why_files_not_taken(identity: SnapshotIdentity, ws: Workspace, store: Store) -> str:
    """Chunks cut another way are not this index's: the files are then chunked
    here, and the snapshot's vectors still serve every text that comes out the same."""
    if identity.chunker_version != CHUNKER_VERSION:
        return f"its files chunked again here (chunked by chunker {identity.chunker_version!r}, this is {CHUNKER_VERSION!r})"
    if identity.max_tokens != ws.spec.max_tokens:
        return f"its files chunked again here (cut to {identity.max_tokens} tokens, this model reads {ws.spec.max_tokens})"
    if store.get_meta(CHUNKED_BY) not in (None, CHUNKER_VERSION):
        return "its files chunked again here (this index is being chunked again)"
    return ""


def _check_file(file: SnapshotFile, path: Path) -> None:
    if unsafe_path(file.relpath):
        raise SnapshotError(f"{path}: a file path that leaves the workspace or is not relative: {file.relpath!r}")
    if not _HASH.fullmatch(file.content_hash):
        raise SnapshotError(f"{path}: {file.relpath!r} has no valid content hash")
    if not file.language or len(file.language) > 64:
        raise SnapshotError(f"{path}: {file.relpath!r} has no valid language")

