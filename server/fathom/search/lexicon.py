"""The full-text ranking of large indexes: a tantivy index beside the database.

FTS5 scores every row that holds any word of a query (search/fulltext.py): on
the kernel's 2.7M chunks one question costs 0.3-3 s with every word kept, and
keeping only the rarer words loses answers. Tantivy's BM25 skips the blocks of
rows that cannot reach the top k (block-max WAND): every word kept, about 20 ms
(RESULTS 17). It holds the three fields FTS5 does (index/lexical.py), made
again from the stored chunks: FTS5's table is contentless.

The database stays the truth. The lexicon follows its `ChunkLog`: chunk ids are
never reused and removals are logged in order, so the lexicon's state (the
log's generation, the last chunk id and the last removal it holds) says what
to apply to bring it up to date. The state is saved after each of the
lexicon's commits; a crash between the two leaves chunks past the saved last
id, which the next catch-up removes before adding them again. A lexicon of
another database, or further behind than the log reaches, is built again.
While it is built or far behind, FTS5 answers. One process at a time writes it
(tantivy's lock); another reads it while its state is close to the database's.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..index.lexical import lexical_text, path_words
from ..models import ChunkLog
from ..store import Store
from .fulltext import BOUNDED_FROM_CHUNKS

log = logging.getLogger(__name__)

# From this many chunks the lexicon answers instead of FTS5.
LEXICON_MIN_CHUNKS = BOUNDED_FROM_CHUNKS
# Chunks added and removed that a search brings in itself; more is caught up in
# the background (FTS5 answers meanwhile).
INLINE_CATCH_UP = 5_000
# A build commits (and saves its state) this often: an interrupted one resumes.
BUILD_COMMIT_EVERY = 250_000
FIELDS = ("name", "path", "body")  # as FTS5's columns (index/lexical.py)
# A build that failed (a full disk, say) is tried again after this long.
RETRY_AFTER_S = 300.0
BUILD_HEAP_BYTES = 200_000_000
KEEPING_HEAP_BYTES = 50_000_000
LAYOUT = 1  # the schema below; a folder of another layout is built again


@dataclass(frozen=True)
class LexiconState:
    generation: str  # the ChunkLog's
    last_id: int  # every chunk up to this id that the database held is in
    removals: int  # the log's removals up to this place are applied
    layout: int = LAYOUT

    def behind(self, chunk_log: ChunkLog) -> int | None:
        """Chunks added and removed since this state; None: it cannot follow.
        A build's first state (nothing in yet) never answers: it counts as further
        behind than a search catches up."""
        if self.generation != chunk_log.generation or self.layout != LAYOUT \
                or self.removals < chunk_log.oldest_kept - 1 or self.removals > chunk_log.removals \
                or self.last_id > chunk_log.last_id:
            return None
        if self.last_id == 0:
            return chunk_log.chunks + INLINE_CATCH_UP + 1 if chunk_log.chunks else 0
        return (chunk_log.last_id - self.last_id) + (chunk_log.removals - self.removals)


def _schema():
    import tantivy

    schema = tantivy.SchemaBuilder()
    schema.add_integer_field("id", indexed=True, fast=True)
    for field in FIELDS:
        schema.add_text_field(field, tokenizer_name="en_stem", index_option="freq")
    return schema.build()


class Lexicon:
    """One index's lexicon in one process; safe to share between threads. The
    process that holds its keeper's lock (a file beside it, held while the
    process lives) builds and updates it; others only read it."""

    def __init__(self, folder: Path, database: Path):
        self.folder = folder
        self.database = database
        self._lock = threading.RLock()  # the index, its searcher, its state
        self._busy = threading.Lock()  # held while written
        self._keeper_file = None  # open while this process keeps the lexicon
        self._index = None
        self._searcher = None
        self._writer = None
        self.state: LexiconState | None = None
        self._state_stamp: int | None = None
        self._failed_at = -RETRY_AFTER_S

    @property
    def _state_path(self) -> Path:
        return self.folder / "fathom-state.json"

    # -- searching --------------------------------------------------------------------------

    def ranked(self, store: Store, terms: list[str], limit: int,
               weights: tuple[float, float, float] = (1.0, 1.0, 1.0), *,
               keep: bool = True) -> list[tuple[int, float]] | None:
        """(chunk id, score) best first, or None where FTS5 is to answer: a
        small index, or a lexicon not yet built or far behind. The score is the
        sum of each field's BM25 times its weight (`weights`, in `FIELDS` order).
        `keep` False: only read it, never build or update it (a process about to exit)."""
        words = [t for t in terms if t.isalnum()]
        try:
            if not self._answers(store, keep):
                return None
            if not words:
                return []
            with self._lock:
                index, searcher = self._index, self._searcher
            query = index.parse_query(" ".join(words), list(FIELDS), field_boosts=dict(zip(FIELDS, weights)))
            hits = searcher.search(query, limit, count=False).hits
            ids = searcher.fast_field_values("id", [address for _, address in hits])
            return [(int(i), float(score)) for (score, _), i in zip(hits, ids) if i is not None]
        except Exception:  # noqa: BLE001 - a damaged lexicon: FTS5 answers, and it is built again
            log.exception("the lexicon %s failed; FTS5 answers", self.folder)
            self._drop(delete=True)
            return None

    def describe(self, store: Store) -> str:
        """What ranks a search's words now, in words (for status); changes nothing."""
        if store.chunk_log().chunks < LEXICON_MIN_CHUNKS:
            return "FTS5"
        with self._lock:
            state = self.state if self._index is not None else self._read_state()
        behind = state.behind(store.chunk_log()) if state is not None else None
        merging = self._keeper_file is not None and self._busy.locked()  # FTS5 answers then (`_answers`)
        if behind == 0 or (behind is not None and behind <= INLINE_CATCH_UP and not merging):
            return "the lexicon (tantivy)"
        doing = "being built" if self._busy.locked() else "not built yet" if behind is None else "behind"
        return f"FTS5, the rarer words (the lexicon is {doing})"

    def prepare(self, store: Store) -> None:
        """Start building (or catching up) now, before a search asks: when a
        large tree's phase 1 ends."""
        try:
            self._answers(store)
        except Exception:  # noqa: BLE001 - the next search tries again, FTS5 answering
            log.exception("the lexicon %s could not be prepared", self.folder)

    def build_now(self, store: Store) -> None:
        """Build or catch up in this thread (benchmarks; a process that will not search)."""
        if store.chunk_log().chunks < LEXICON_MIN_CHUNKS or not self._keep():
            return
        with self._busy:
            self._bring_up_to_date(store)

    def _answers(self, store: Store, keep: bool = True) -> bool:
        chunk_log = store.chunk_log()
        if chunk_log.chunks < LEXICON_MIN_CHUNKS:
            return False
        with self._lock:
            if self._index is None:
                self._open()
            elif self._keeper_file is None:
                self._reread_state()
            behind = self.state.behind(chunk_log) if self.state is not None else None
            if behind == 0:
                return True
            keeper = keep and self._keep()
            if behind is not None and behind <= INLINE_CATCH_UP and keeper:
                if not self._busy.acquire(blocking=False):
                    # Its own build is still merging: what this process just wrote is
                    # not in the lexicon yet, and FTS5 has it.
                    return False
                try:
                    self._writer_ready(KEEPING_HEAP_BYTES, 1)
                    self._catch_up(store, chunk_log)
                finally:
                    self._busy.release()
                return True
        if behind is None or behind > INLINE_CATCH_UP:
            if keeper:
                self._start_background()
            return False
        return True  # another process keeps it, and it is close behind

    # -- the folder ---------------------------------------------------------------------------

    def _keep(self) -> bool:
        """Whether this process keeps the lexicon: it takes the keeper's lock if free."""
        if self._keeper_file is not None:
            return True
        lock_path = self.folder.with_name(self.folder.name + ".lock")
        handle = open(lock_path, "a+b")  # noqa: SIM115 - held open while the process lives
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._keeper_file = handle
        return True

    def _open(self) -> None:
        import tantivy

        state = self._read_state()
        if state is None or state.layout != LAYOUT or not tantivy.Index.exists(str(self.folder)):
            return
        try:
            self._index = tantivy.Index.open(str(self.folder))
            self._index.reload()
            self._searcher = self._index.searcher()
            self.state = state
        except Exception as exc:  # noqa: BLE001 - unreadable: its keeper builds it again
            log.warning("the lexicon %s is unreadable (%s); FTS5 answers until it is built again", self.folder, exc)
            self._index = self._searcher = self.state = None

    def _create(self) -> None:
        """A new, empty lexicon (only its keeper makes one)."""
        import tantivy

        self._writer = None
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._index = tantivy.Index(_schema(), path=str(self.folder))
        self._searcher = self._index.searcher()
        self.state = None

    def _read_state(self) -> LexiconState | None:
        try:
            self._state_stamp = self._state_path.stat().st_mtime_ns
            return LexiconState(**json.loads(self._state_path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _reread_state(self) -> None:
        """What another process last committed: its state, then its searcher."""
        try:
            stamp = self._state_path.stat().st_mtime_ns
        except OSError:
            return
        if stamp != self._state_stamp:
            self.state = self._read_state()
            self._index.reload()
            self._searcher = self._index.searcher()

    def _save_state(self, state: LexiconState) -> None:
        partial = self._state_path.with_name(self._state_path.name + ".partial")
        partial.write_text(json.dumps(asdict(state)))
        os.replace(partial, self._state_path)
        self._state_stamp = self._state_path.stat().st_mtime_ns
        self.state = state

    def _drop(self, delete: bool) -> None:
        with self._lock:
            self._writer = self._index = self._searcher = self.state = None
            if delete and self._keeper_file is not None:
                shutil.rmtree(self.folder, ignore_errors=True)

    # -- writing (its keeper only) --------------------------------------------------------------

    def _writer_ready(self, heap: int, threads: int) -> None:
        if self._writer is None:
            self._writer = self._index.writer(heap_size=heap, num_threads=threads)

    def _start_background(self) -> None:
        if self._busy.locked() or time.monotonic() - self._failed_at < RETRY_AFTER_S:
            return

        def work() -> None:
            try:
                with self._busy:
                    store = Store(self.database, readonly=True)
                    try:
                        self._bring_up_to_date(store)
                    finally:
                        store.close()
            except Exception:  # noqa: BLE001 - FTS5 goes on answering
                log.exception("the lexicon %s could not be built; FTS5 answers", self.folder)
                self._failed_at = time.monotonic()
                self._drop(delete=False)

        threading.Thread(target=work, name="fathom-lexicon", daemon=True).start()

    def _bring_up_to_date(self, store: Store) -> None:
        """A build from the start, or a long catch-up, off the search's thread."""
        chunk_log = store.chunk_log()
        with self._lock:
            if self._index is None:
                self._open()
            if self._index is None or self.state is None or self.state.behind(chunk_log) is None:
                self._create()
                self._save_state(LexiconState(chunk_log.generation, 0, chunk_log.removals))
            self._writer = None  # the build's writer is larger, and lets go when done
            self._writer_ready(BUILD_HEAP_BYTES, 2)
        self._catch_up(store, chunk_log, commit_every=BUILD_COMMIT_EVERY)
        with self._lock:
            writer, self._writer = self._writer, None
        writer.wait_merging_threads()  # the build's segments merged before it lets go
        with self._lock:
            self._index.reload()
            self._searcher = self._index.searcher()

    def _catch_up(self, store: Store, chunk_log: ChunkLog, commit_every: int = 0) -> None:
        import tantivy

        writer, state = self._writer, self.state
        # Chunks past the saved last id are from a commit whose state was not saved.
        writer.delete_documents_by_query(tantivy.Query.range_query(
            self._index.schema, "id", tantivy.FieldType.Integer, state.last_id + 1, None))
        removed = store.removed_chunks_after(state.removals)
        for first in range(0, len(removed), 10_000):
            writer.delete_documents_by_query(
                tantivy.Query.term_set_query(self._index.schema, "id", removed[first:first + 10_000]))
        added, words = 0, ("", "")
        for rows in store.chunk_texts_after(state.last_id, chunk_log.last_id):
            for chunk_id, relpath, container, name, text in rows:
                if words[0] != relpath:
                    words = (relpath, path_words(relpath))
                fields = lexical_text(words[1], container, name, text)
                writer.add_document(tantivy.Document(id=chunk_id, name=fields.name, path=fields.path, body=fields.body))
            added += len(rows)
            if commit_every and added >= commit_every:
                self._commit(LexiconState(chunk_log.generation, rows[-1][0], chunk_log.removals))
                added = 0
        self._commit(LexiconState(chunk_log.generation, chunk_log.last_id, chunk_log.removals))

    def _commit(self, state: LexiconState) -> None:
        self._writer.commit()
        with self._lock:
            self._save_state(state)
            self._index.reload()
            self._searcher = self._index.searcher()


_lexicons: dict[str, Lexicon] = {}
_lexicons_lock = threading.Lock()


def lexicon_for(store: Store) -> Lexicon:
    """The one lexicon of this process for an index."""
    folder = store.path.with_name(f"{store.path.stem}.lexicon")
    with _lexicons_lock:
        found = _lexicons.get(str(folder))
        if found is None:
            found = _lexicons[str(folder)] = Lexicon(folder, store.path)
        return found
