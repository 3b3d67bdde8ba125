"""Typed values handed from one pipeline stage to the next.

Every stage takes and returns these; none of them knows SQL, JSON-RPC or torch.
Lines and characters are 0-based, as in LSP; `end_line` is inclusive of the last
line of the range and `end_char` is the column just past its last character.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum, IntEnum


class SymbolKind(IntEnum):
    """LSP SymbolKind numbers; `.name` is the name the CLI and JSON output use."""

    File = 1
    Module = 2
    Namespace = 3
    Package = 4
    Class = 5
    Method = 6
    Property = 7
    Field = 8
    Constructor = 9
    Enum = 10
    Interface = 11
    Function = 12
    Variable = 13
    Constant = 14
    String = 15
    Struct = 23
    TypeParameter = 26


@dataclass(frozen=True)
class Range:
    start_line: int
    start_char: int
    end_line: int
    end_char: int

    def to_lsp(self) -> dict:
        return {
            "start": {"line": self.start_line, "character": self.start_char},
            "end": {"line": self.end_line, "character": self.end_char},
        }


@dataclass(frozen=True)
class FileStat:
    size: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True)
class DiscoveredFile:
    """A file the workspace walk decided to consider (path filters passed)."""

    relpath: str  # POSIX, relative to the workspace root
    abspath: str
    stat: FileStat


@dataclass(frozen=True)
class ChunkTask:
    """A file whose stat changed: the chunker reads, hashes and, if new, chunks it."""

    relpath: str
    abspath: str
    stat: FileStat
    known_hash: str | None  # content hash in the index, to skip unchanged content
    embed: bool = True  # False: symbols and lexical search only (vendored code)


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: SymbolKind
    container: str
    range: Range


# Ends the header of each window after the first of a definition too long for one.
CONTINUED = " ..."


def embed_text(header: str, text: str) -> str:
    """The exact text the model reads for a chunk, and whose hash keys its vector.
    Changing it changes every hash: every workspace is embedded again."""
    return f"{header}\n{text}" if header else text


@dataclass(frozen=True)
class Chunk:
    """One retrievable unit. `text` is the original source (or, for a class, its
    own lines with nested definitions shown by their first line); `header` is the
    short context the model sees in front of it."""

    name: str
    kind: SymbolKind
    container: str
    range: Range
    header: str
    text: str
    # Computed where the chunk is made, in a chunk worker, not in the process
    # that writes the index and looks it up more than once.
    text_hash: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text_hash", content_hash(self.embed_text.encode("utf-8")))

    @property
    def embed_text(self) -> str:
        return embed_text(self.header, self.text)

    @property
    def continues_a_definition(self) -> bool:
        return self.header.endswith(CONTINUED)


@dataclass(frozen=True)
class LexicalText:
    """What the full-text index reads of one chunk: its name, its file's path and
    its text, each followed by the parts of the compound identifiers in it."""

    name: str
    path: str
    body: str


class ChunkStatus(str, Enum):
    INDEXED = "indexed"  # read and chunked
    UNCHANGED = "unchanged"  # read: same content as the index has, only its stat moved
    SKIPPED = "skipped"  # not indexed; `reason` says why
    CRASHED = "crashed"  # its chunk worker died on it, twice: skipped, and counted as a failure


@dataclass(frozen=True)
class ChunkedFile:
    """The chunker's answer for one task."""

    relpath: str
    stat: FileStat
    content_hash: str
    language: str
    status: ChunkStatus
    reason: str = ""  # why skipped: "binary", "too large", "unreadable: ..."
    symbols: list[Symbol] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    embed: bool = True  # whether its chunks are to have vectors
    lexical: list[LexicalText] = field(default_factory=list)  # one per chunk, for the full-text index

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ChunkStatus(self.status))

    @property
    def not_indexed(self) -> bool:
        return self.status in (ChunkStatus.SKIPPED, ChunkStatus.CRASHED)


@dataclass(frozen=True)
class PendingEmbedding:
    text_hash: str
    embed_text: str
    continues_a_definition: bool = False
    relpath: str = ""  # a file with a chunk of this text

    @classmethod
    def of(cls, text_hash: str, header: str, text: str, relpath: str) -> "PendingEmbedding":
        """From a stored chunk's header and text."""
        return cls(text_hash, embed_text(header, text), header.endswith(CONTINUED), relpath)


@dataclass(frozen=True)
class WaitingText:
    """A text some chunk needs a vector for, without the text itself: a run's
    queue holds millions on a kernel-sized tree (2.5 GB with their texts), and
    each text is read from the index when it goes to the model."""

    text_hash: str
    length: int  # about the characters the model reads: batches are cut of similar lengths
    continues_a_definition: bool = False
    relpath: str = ""  # a file with a chunk of this text


@dataclass(frozen=True)
class SkippedFile:
    relpath: str
    reason: str


@dataclass
class RunStats:
    scanned: int = 0
    changed: int = 0
    removed: int = 0
    skipped: int = 0
    failed: int = 0
    chunks_written: int = 0
    embedded: int = 0
    unembeddable: int = 0  # texts the model failed on (they stay pending)
    seconds: float = 0.0
    skipped_files: list[SkippedFile] = field(default_factory=list)
    embedding_error: str | None = None  # why the run stopped embedding, if it did
    unseen: list[str] = field(default_factory=list)  # directories the walk could not list ("" = the root)

    def skip(self, relpath: str, reason: str, crashed: bool = False) -> None:
        self.skipped += 1
        self.failed += crashed
        self.skipped_files.append(SkippedFile(relpath, reason))

    @property
    def errors(self) -> list[str]:
        """Every problem, one line each."""
        lines = [f"{s.relpath}: skipped, {s.reason}" for s in self.skipped_files]
        if self.embedding_error:
            lines.append(f"embedding failed: {self.embedding_error}")
        return lines

    def error_summary(self, examples: int = 3) -> list[str]:
        """Skipped files grouped by reason, a few named each: a tree with a
        thousand binaries should not print a thousand lines."""
        skipped: dict[str, list[str]] = {}
        for s in self.skipped_files:
            skipped.setdefault(s.reason, []).append(s.relpath)
        lines = [embedding_failure(self.embedding_error)] if self.embedding_error else []
        for reason, paths in skipped.items():
            if len(paths) <= examples:
                lines.extend(f"{p}: skipped, {reason}" for p in paths)
            else:
                shown = ", ".join(paths[:examples])
                lines.append(f"{len(paths)} files skipped, {reason}: {shown} and {len(paths) - examples} more")
        return lines

    def to_json(self) -> dict:
        return {
            "scanned": self.scanned,
            "changed": self.changed,
            "removed": self.removed,
            "skipped": self.skipped,
            "failed": self.failed,
            "embedded": self.embedded,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class SearchHit:
    relpath: str
    range: Range
    name: str
    kind: SymbolKind
    score: float
    snippet: str
    container: str = ""  # the enclosing definitions' names, `Session` of `Session.rebuild_auth`


@dataclass(frozen=True)
class SymbolHit:
    name: str
    kind: SymbolKind
    container: str
    relpath: str
    range: Range


@dataclass(frozen=True)
class ChunkLog:
    """Where the index's chunks stand, for an index that follows them
    (search/lexicon.py): chunk ids are never reused, and removals are logged in order."""

    generation: str  # a database made again at the same path starts a new one
    last_id: int  # the highest chunk id ever written
    removals: int  # chunks ever removed: the last removal's place in the log
    oldest_kept: int  # the first place the bounded log still holds (past `removals`: none)

    @property
    def chunks(self) -> int:
        return self.last_id - self.removals


@dataclass(frozen=True)
class IndexCounts:
    files: int
    symbols: int
    chunks: int
    pending: int | None  # None: not counted (`Store.counts(with_pending=False)`)


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def embedding_failure(error: str) -> str:
    """The one line that says a run could not embed, as it goes and in its summary."""
    return f"embedding failed: {error}; lexical search still works"
