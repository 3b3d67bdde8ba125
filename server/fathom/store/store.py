"""Stage 4: the index's data. With `database.py`, the only code that knows SQL.

One SQLite file per workspace, opened through apsw (it bundles a current SQLite
with FTS5 and can load sqlite-vec everywhere). Vectors are keyed by the hash of
the text that was embedded, not by chunk, so a moved file, a copied function or
a branch switched back finds its vectors already there. The store writes what
the pipeline hands it (chunks, their full-text fields, vectors) and computes none of it.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import struct
from collections.abc import Iterable
from pathlib import Path

import apsw

from ..models import (
    CONTINUED, Chunk, ChunkedFile, ChunkLog, ChunkStatus, FileStat, IndexCounts, PendingEmbedding, Range, SymbolHit,
    SymbolKind, WaitingText,
)
import time

import numpy as np

from .database import IndexFile, damage_as_store_error
from .graph import (
    GRAPH_MIN_VECTORS, GraphState, VectorGraph, candidates_for, discard_graph, graph_for, graphs_beside,
)
from .schema import vector_tables

# bm25() weights for the name, path and body columns.
FTS_WEIGHTS = (8.0, 3.0, 1.0)
# Removals of chunks the log keeps (`ChunkLog`): an index that follows this one
# and falls further behind is built again.
KEPT_REMOVALS = 500_000
# A pending count that cost more than this is not taken again sooner than that
# many times its cost (a smaller index's is exact after every commit).
COSTLY_COUNT_S = 0.1
PENDING_RECOUNT_AFTER = 20
_clock = time.monotonic
# From this many chunks the pending count takes a connection of its own (a second a
# million chunks here).
COUNT_APART_FROM_CHUNKS = 250_000
# Vectors of this many models are kept (the one in use among them); a model
# used before the others is dropped first.
KEPT_VECTOR_MODELS = 3


@damage_as_store_error
class Store:
    def __init__(self, path: Path, *, readonly: bool = False):
        self.file = IndexFile(path, readonly=readonly)
        self.path = self.file.path
        self.readonly = readonly
        self.conn = self.file.conn
        self._writing = self.file.writing
        # Answers that take a full scan, kept until the next commit: (commit version, value).
        self._as_of: dict[str, tuple[tuple[int, int], object]] = {}
        # (commit version, pending count, when counted, what counting cost), monotonic seconds.
        self._pending_kept: tuple[tuple[int, int], int, float, float] | None = None

    @property
    def notice(self) -> str:
        """Set when an unusable database was moved aside; read once."""
        return self.file.notice

    def take_notice(self) -> str:
        notice, self.file.notice = self.file.notice, ""
        return notice

    @property
    def integrity_checked(self) -> bool:
        return self.file.integrity_checked

    def close(self) -> None:
        if not self.readonly:
            for graph in graphs_beside(self.path):
                graph.save_if_changed()
        self.file.close()

    @contextlib.contextmanager
    def all_or_nothing(self):
        """Writes made inside (each its own transaction elsewhere) become one:
        any error rolls every one of them back."""
        with self._writing():
            yield

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
            next_id = 1 + int(self.conn.execute("SELECT value FROM meta WHERE key='chunks_last_id'").fetchall()[0][0])
            for r in results:
                st = r.stat
                if r.status == ChunkStatus.UNCHANGED:
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
                if r.chunks and len(r.lexical) != len(r.chunks):
                    raise ValueError(f"{r.relpath}: chunks without their full-text fields (index.lexical)")
                # Ids chosen here rather than read back per row, so both tables
                # take one executemany per file, and never one used before (`ChunkLog`).
                # No other writer can interleave: SQLite holds the write lock for the
                # whole transaction.
                ids = range(next_id, next_id + len(r.chunks))
                next_id += len(r.chunks)
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
                    [(chunk_id, t.name, t.path, t.body) for chunk_id, t in zip(ids, r.lexical)],
                )
                written += len(r.chunks)
            self.conn.execute("UPDATE meta SET value=? WHERE key='chunks_last_id'", (str(next_id - 1),))
            self._trim_removals()
        return written

    def _replace_file(self, r: ChunkedFile) -> int:
        st = r.stat
        row = self.conn.execute("SELECT id FROM files WHERE path=?", (r.relpath,)).fetchall()
        if row:
            file_id = row[0][0]
            self._delete_file_contents(file_id)
            self.conn.execute(
                "UPDATE files SET size=?, mtime_ns=?, inode=?, hash=?, language=?, status=?, reason=? WHERE id=?",
                (st.size, st.mtime_ns, st.inode, r.content_hash, r.language, r.status.value, r.reason, file_id),
            )
            return file_id
        self.conn.execute(
            "INSERT INTO files (path, size, mtime_ns, inode, hash, language, status, reason)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (r.relpath, st.size, st.mtime_ns, st.inode, r.content_hash, r.language, r.status.value, r.reason),
        )
        return self.conn.last_insert_rowid()

    def _delete_file_contents(self, file_id: int) -> None:
        self.conn.execute("INSERT INTO chunk_removals (chunk_id) SELECT id FROM chunks WHERE file_id=? ORDER BY id",
                          (file_id,))
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
            self._trim_removals()
        return removed

    def _trim_removals(self) -> None:
        self.conn.execute("DELETE FROM chunk_removals WHERE seq <= (SELECT seq FROM sqlite_sequence"
                          " WHERE name='chunk_removals') - ?", (KEPT_REMOVALS,))

    # -- following the chunks (ChunkLog): the lexicon of large indexes ----------------------

    def chunk_log(self) -> ChunkLog:
        return self._until_next_commit("chunk_log", self._read_chunk_log)

    def _read_chunk_log(self) -> ChunkLog:
        meta = dict(self.conn.execute("SELECT key, value FROM meta WHERE key IN"
                                      " ('chunks_generation', 'chunks_last_id', 'chunks_removed_unlogged')"))
        logged = self.conn.execute("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name='chunk_removals'), 0),"
                                   " (SELECT min(seq) FROM chunk_removals)").fetchall()[0]
        removals = int(logged[0])
        oldest = int(logged[1]) if logged[1] is not None else removals + 1
        unlogged = int(meta.get("chunks_removed_unlogged", 0))
        return ChunkLog(meta.get("chunks_generation", ""), int(meta.get("chunks_last_id", 0)),
                        removals + unlogged, oldest + unlogged)

    def removed_chunks_after(self, place: int) -> list[int]:
        """Ids of the chunks removed after a place in the log (`ChunkLog.removals`), in order."""
        unlogged = int(self.get_meta("chunks_removed_unlogged", "0") or 0)
        return [cid for (cid,) in self.conn.execute(
            "SELECT chunk_id FROM chunk_removals WHERE seq > ? ORDER BY seq", (place - unlogged,))]

    def chunk_texts_after(self, last_id: int, until: int, batch: int = 2048):
        """Batches of (id, path, container, name, text) of the chunks with ids
        past `last_id` up to `until`, in id order."""
        while True:
            rows = self.conn.execute(
                "SELECT c.id, f.path, c.container, c.name, c.text FROM chunks c JOIN files f ON f.id = c.file_id"
                " WHERE c.id > ? AND c.id <= ? ORDER BY c.id LIMIT ?", (last_id, until, batch)).fetchall()
            if not rows:
                return
            yield rows
            last_id = rows[-1][0]

    def indexed_paths(self) -> set[str]:
        return {p for (p,) in self.conn.execute("SELECT path FROM files")}

    # -- vectors -----------------------------------------------------------------------

    def vector_model(self) -> tuple[str | None, int]:
        return self.get_meta("vector_model"), int(self.get_meta("vector_dim", "0") or 0)

    def _tables(self) -> tuple[str, str]:
        """(vec0 table, embedded table) of the model in use; a writer elsewhere may switch it."""
        return self._until_next_commit("tables", lambda: vector_tables(self._model_row(*self.vector_model())))

    def _model_row(self, model_id: str | None, dim: int) -> int | None:
        rows = self.conn.execute("SELECT id FROM vector_models WHERE model=? AND dim=?", (model_id, dim)).fetchall()
        return rows[0][0] if rows else None

    def use_vector_model(self, model_id: str, dim: int) -> bool:
        """Make this model's vectors the ones searched and written, keeping those
        of the models used before it; returns True when another model was in use."""
        current = self.vector_model()
        row = self._model_row(model_id, dim)
        if current == (model_id, dim) and row is not None and self._has_table(vector_tables(row)[0]):
            if self.get_meta(f"vectors_generation_{row}") is None:
                self._start_graph_state(row, from_table=True)
            return False
        with self._writing():
            if row is None:
                self.conn.execute("INSERT INTO vector_models (model, dim) VALUES (?, ?)", (model_id, int(dim)))
                row = self.conn.last_insert_rowid()
            vectors, embedded = vector_tables(row)
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {embedded}"
                              " (text_hash TEXT PRIMARY KEY, vector_id INTEGER NOT NULL) WITHOUT ROWID")
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {embedded}_vector ON {embedded}(vector_id)")
            if not self._has_table(vectors):
                self.conn.execute(f"DELETE FROM {embedded}")  # what it listed went with its table
                self.conn.execute(
                    f"CREATE VIRTUAL TABLE {vectors} USING vec0(embedding float[{int(dim)}] distance_metric=cosine)")
                self._start_graph_state(row, from_table=False)
            elif self.get_meta(f"vectors_generation_{row}") is None:
                self._start_graph_state(row, from_table=True)
            self.conn.execute("UPDATE vector_models SET used=? WHERE id=?", (time.time(), row))
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('vector_model', ?)", (model_id,))
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('vector_dim', ?)", (str(dim),))
            for (old,) in self.conn.execute("SELECT id FROM vector_models WHERE id != ? ORDER BY used DESC"
                                            " LIMIT -1 OFFSET ?", (row, KEPT_VECTOR_MODELS - 1)).fetchall():
                old_vectors, old_embedded = vector_tables(old)
                self.conn.execute(f"DROP TABLE IF EXISTS {old_vectors}")
                self.conn.execute(f"DELETE FROM {old_embedded}" if old == 1 else f"DROP TABLE IF EXISTS {old_embedded}")
                self.conn.execute("DELETE FROM vector_models WHERE id=?", (old,))
                self.conn.execute("DELETE FROM meta WHERE key IN (?, ?, ?)", _graph_keys(old))
                discard_graph(self._graph_path(old))
        return current[0] is not None

    # -- the vector graph (graph.py) of large indexes ----------------------------------------------

    def _start_graph_state(self, row: int, from_table: bool) -> None:
        """A new generation for a model's vector table: ids start past the
        highest present, and no graph written before describes it."""
        last_id, count = 0, 0
        if from_table:
            last_id, count = self.conn.execute(
                f"SELECT coalesce(max(vector_id), 0), count(*) FROM {vector_tables(row)[1]}").fetchall()[0]
        with self._writing():
            for key, value in zip(_graph_keys(row), (secrets.token_hex(8), last_id, last_id - count)):
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(value)))

    def _graph_state(self) -> GraphState | None:
        # Every search asks: read once per commit (a write of this connection counts as one).
        return self._until_next_commit("graph_state", self._read_graph_state)

    def _read_graph_state(self) -> GraphState | None:
        row = self._model_row(*self.vector_model())
        if row is None:
            return None
        values = dict(self.conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?, ?)", _graph_keys(row)))
        generation, last_id, removals = (values.get(k) for k in _graph_keys(row))
        if generation is None or last_id is None or removals is None:
            return None  # an index from before graphs: the next run's writer starts its state
        return GraphState(generation, int(last_id), int(removals))

    def _graph_path(self, row: int) -> Path:
        return self.path.with_name(f"{self.path.stem}.vectors-{int(row)}.usearch")

    def _graph(self) -> tuple[VectorGraph, GraphState] | None:
        """The graph of the model in use, when the index is large enough for one."""
        state = self._graph_state()
        if state is None or state.size < GRAPH_MIN_VECTORS:
            return None
        row = self._model_row(*self.vector_model())
        return graph_for(self._graph_path(row), self.vector_model()[1]), state

    def _graph_after_commit(self, change) -> None:
        """Tell this process's graph what was just committed (graph.py keeps it
        right if this is missed: a crash here costs a catch-up)."""
        if self.conn.in_transaction:
            return  # inside a caller's transaction (all_or_nothing): not committed yet, maybe never
        found = self._graph()
        if found is not None and found[0].ready:
            change(*found)

    def vectors_after(self, last_id: int, batch: int = 4096):
        """(ids, float32 vectors) of the model in use past `last_id`, in id order."""
        vectors, embedded = self._tables()
        dim = self.vector_model()[1]
        while True:
            ids = [vid for (vid,) in self.conn.execute(
                f"SELECT vector_id FROM {embedded} WHERE vector_id > ? ORDER BY vector_id LIMIT ?", (last_id, batch))]
            if not ids:
                return
            found = self._vectors_by_id(vectors, ids, dim)
            yield found
            last_id = ids[-1]

    def vector_ids(self) -> np.ndarray:
        return np.fromiter((vid for (vid,) in self.conn.execute(f"SELECT vector_id FROM {self._tables()[1]}")),
                           dtype=np.uint64)

    def _vectors_by_id(self, table: str, ids: list[int], dim: int) -> tuple[np.ndarray, np.ndarray]:
        rows = [self.conn.execute(f"SELECT rowid, embedding FROM {table} WHERE rowid = ?", (vid,)).fetchall()
                for vid in ids]
        rows = [r[0] for r in rows if r]
        keys = np.fromiter((r[0] for r in rows), dtype=np.uint64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return keys, matrix

    def _nearest_by_graph(self, graph: VectorGraph, state: GraphState, query: np.ndarray, k: int) -> dict[int, float]:
        """Candidates from the graph, re-ranked by their exact vectors: the
        similarities are the exact scan's, only the candidate set is approximate."""
        if not graph.ready or not graph.catch_up(state, self.vectors_after):
            graph.start_background(state, *_background_readers(self.path))
            if not graph.answers_for(state):
                return {}  # being built or brought up to date: the exact scan answers meanwhile
        candidates = graph.search(query, candidates_for(k))
        if not len(candidates):
            return {}
        # In id order: neighbouring ids share sqlite-vec's chunk of vectors (a third faster).
        ids, matrix = self._vectors_by_id(self._tables()[0], sorted(int(c) for c in candidates), len(query))
        similarity = matrix @ (query / max(float(np.linalg.norm(query)), 1e-12))
        norms = np.linalg.norm(matrix, axis=1)
        similarity = similarity / np.maximum(norms, 1e-12)
        best = np.argsort(-similarity, kind="stable")[:k]
        return {int(ids[i]): 1.0 - float(similarity[i]) for i in best}


    def vector_models(self) -> list[tuple[str, int, int]]:
        """(model, dim, vectors held) of every model the index keeps vectors of."""
        kept = []
        for row, model, dim in self.conn.execute("SELECT id, model, dim FROM vector_models ORDER BY used DESC").fetchall():
            embedded = vector_tables(row)[1]
            count = self.conn.execute(f"SELECT count(*) FROM {embedded}").fetchall()[0][0] \
                if self._has_table(embedded) else 0
            kept.append((model, dim, count))
        return kept

    def _has_vector_table(self) -> bool:
        return self._has_table(self._tables()[0])

    def _has_table(self, name: str) -> bool:
        return bool(self.conn.execute("SELECT 1 FROM sqlite_master WHERE name=?", (name,)).fetchall())

    def pending_embeddings(self) -> list[PendingEmbedding]:
        """Distinct texts that some chunk needs and no vector covers yet."""
        # With min() among the results, SQLite takes the other columns from that row.
        rows = self.conn.execute(
            "SELECT c.text_hash, c.header, c.text, f.path, min(c.id) AS first FROM chunks c"
            " JOIN files f ON f.id = c.file_id"
            f" WHERE c.embed AND NOT EXISTS (SELECT 1 FROM {self._tables()[1]} e WHERE e.text_hash = c.text_hash)"
            " GROUP BY c.text_hash ORDER BY first"
        )
        return [
            PendingEmbedding.of(h, header, text, path)
            for h, header, text, path, _first in rows
        ]

    def waiting_texts(self):
        """What `pending_embeddings` lists, without the texts, one at a time:
        (WaitingText, ...) in the order first written."""
        rows = self.conn.execute(
            "SELECT c.text_hash, f.path, c.header, length(c.header) + 1 + length(c.text), min(c.id) AS first"
            " FROM chunks c JOIN files f ON f.id = c.file_id"
            f" WHERE c.embed AND NOT EXISTS (SELECT 1 FROM {self._tables()[1]} e WHERE e.text_hash = c.text_hash)"
            " GROUP BY c.text_hash ORDER BY first"
        )
        for h, path, header, length, _first in rows:
            yield WaitingText(h, length, header.endswith(CONTINUED), path)

    def chunk_sources(self, text_hashes: list[str]) -> dict[str, tuple[str, str]]:
        """(header, text) of a chunk of each hash the index still holds."""
        found: dict[str, tuple[str, str]] = {}
        for first in range(0, len(text_hashes), 500):
            part = text_hashes[first:first + 500]
            marks = ",".join("?" * len(part))
            found.update((h, (header, text)) for h, header, text in self.conn.execute(
                f"SELECT text_hash, header, text FROM chunks WHERE text_hash IN ({marks}) GROUP BY text_hash", part))
        return found

    def distinct_texts(self) -> list[PendingEmbedding]:
        """Every distinct chunk text, embedded or not, in the order first written."""
        rows = self.conn.execute(
            "SELECT c.text_hash, c.header, c.text, f.path, min(c.id) AS first FROM chunks c"
            " JOIN files f ON f.id = c.file_id GROUP BY c.text_hash ORDER BY first"
        )
        return [PendingEmbedding.of(h, header, text, path) for h, header, text, path, _first in rows]

    def text_hashes(self, embedded_only: bool = False) -> set[str]:
        """Every distinct chunk text's hash; `embedded_only`: of those that are to have a vector."""
        where = " WHERE embed" if embedded_only else ""
        return {h for (h,) in self.conn.execute(f"SELECT DISTINCT text_hash FROM chunks{where}")}

    def pending_by_path(self) -> dict[str, int]:
        """path -> how many of its distinct texts still wait for a vector."""
        return dict(self.conn.execute(
            "SELECT f.path, count(DISTINCT c.text_hash) FROM chunks c JOIN files f ON f.id = c.file_id"
            f" WHERE c.embed AND NOT EXISTS (SELECT 1 FROM {self._tables()[1]} e WHERE e.text_hash = c.text_hash)"
            " GROUP BY f.path"))

    def keep_vectors_of(self, hashes: set[str]) -> int:
        """Drop every vector but those of `hashes` (an index part-way through
        embedding, rebuilt for an experiment); returns how many were dropped."""
        embedded = self._tables()[1]
        drop = [(h, vid) for h, vid in self.conn.execute(f"SELECT text_hash, vector_id FROM {embedded}") if h not in hashes]
        with self._writing():
            self._remove_vectors(drop)
        self._removed_after_commit(drop)
        return len(drop)

    def embedded_among(self, hashes: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(hashes), 500):
            part = hashes[i:i + 500]
            marks = ",".join("?" * len(part))
            found.update(h for (h,) in self.conn.execute(
                f"SELECT text_hash FROM {self._tables()[1]} WHERE text_hash IN ({marks})", part))
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
            f" (SELECT 1 FROM {self._tables()[1]} e WHERE e.text_hash = c.text_hash) LIMIT 1"
        ).fetchall()))

    def without_vectors(self, chunk_ids: list[int]) -> set[int]:
        """Those of `chunk_ids` whose text has no vector yet."""
        if not chunk_ids:
            return set()
        marks = ",".join("?" * len(chunk_ids))
        return {cid for (cid,) in self.conn.execute(
            f"SELECT c.id FROM chunks c WHERE c.id IN ({marks}) AND c.embed"
            f" AND NOT EXISTS (SELECT 1 FROM {self._tables()[1]} e WHERE e.text_hash = c.text_hash)", chunk_ids)}

    def pending_count(self) -> int:
        return self.conn.execute(
            "SELECT count(DISTINCT c.text_hash) FROM chunks c"
            f" WHERE c.embed AND NOT EXISTS (SELECT 1 FROM {self._tables()[1]} e WHERE e.text_hash = c.text_hash)"
        ).fetchall()[0][0]

    def write_vectors(self, items: Iterable[tuple[str, list[float] | bytes]]) -> int:
        """Phase 2: vectors as they arrive. Already known hashes are skipped."""
        vectors, embedded = self._tables()
        row = self._model_row(*self.vector_model())
        new_ids: list[int] = []
        blobs: list[bytes] = []
        with self._writing():
            state = self._graph_state()
            next_id = self.conn.execute(f"SELECT coalesce(max(vector_id), 0) + 1 FROM {embedded}").fetchall()[0][0]
            if state is not None:
                next_id = max(next_id, state.last_id + 1)  # an id once used is never used again
            for text_hash, vector in items:
                if self.conn.execute(f"SELECT 1 FROM {embedded} WHERE text_hash=?", (text_hash,)).fetchall():
                    continue
                blob = vector if isinstance(vector, bytes) else struct.pack(f"{len(vector)}f", *vector)
                self.conn.execute(f"INSERT INTO {vectors} (rowid, embedding) VALUES (?, ?)", (next_id, blob))
                self.conn.execute(f"INSERT INTO {embedded} VALUES (?, ?)", (text_hash, next_id))
                new_ids.append(next_id)
                blobs.append(blob)
                next_id += 1
            if new_ids and state is not None:
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_graph_keys(row)[1], str(new_ids[-1])))
        if new_ids:
            dim = len(blobs[0]) // 4
            self._graph_after_commit(lambda graph, state: graph.added(
                np.array(new_ids, dtype=np.uint64), np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(-1, dim),
                state))
        return len(new_ids)

    def _remove_vectors(self, drop: list[tuple[str, int]]) -> None:
        """Inside a write transaction: the vectors and their count of removals."""
        vectors, embedded = self._tables()
        for h, vid in drop:
            self.conn.execute(f"DELETE FROM {vectors} WHERE rowid=?", (vid,))
            self.conn.execute(f"DELETE FROM {embedded} WHERE text_hash=?", (h,))
        state = self._graph_state()
        if drop and state is not None:
            key = _graph_keys(self._model_row(*self.vector_model()))[2]
            self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, str(state.removals + len(drop))))

    def _removed_after_commit(self, drop: list[tuple[str, int]]) -> None:
        if drop:
            self._graph_after_commit(lambda graph, state: graph.removed(
                np.array([vid for _, vid in drop], dtype=np.uint64), state))

    def prune_vectors(self, keep_orphans: int) -> int:
        """Vectors no chunk uses are kept as a cache (a branch switched back costs
        nothing), but not without bound."""
        embedded = self._tables()[1]
        orphans = [
            (h, vid)
            for h, vid in self.conn.execute(
                f"SELECT e.text_hash, e.vector_id FROM {embedded} e"
                " WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.text_hash = e.text_hash)"
                " ORDER BY e.vector_id"
            )
        ]
        excess = orphans[: max(0, len(orphans) - keep_orphans)]
        if not excess:
            return 0
        with self._writing():
            self._remove_vectors(excess)
        self._removed_after_commit(excess)
        return len(excess)

    # -- reading -----------------------------------------------------------------------

    def is_empty(self) -> bool:
        return not self.conn.execute("SELECT 1 FROM files LIMIT 1").fetchall()

    def counts(self, with_pending: bool = True) -> IndexCounts:
        """`with_pending` False: `pending` is None. Counting what is pending is a
        full scan (24 ms on django, seconds on the kernel's 2.7M chunks): editors
        ask for status on every progress report, so it is done once per commit,
        and not at all for a caller that does not show it."""
        sizes = self._until_next_commit("sizes", self._sizes)
        if not with_pending:
            return sizes
        return IndexCounts(sizes.files, sizes.symbols, sizes.chunks, self._pending_not_too_often())

    def _count_pending_apart(self) -> int:
        """On a large index the count takes seconds: it runs on a connection of its
        own, so that the searches sharing this one do not wait behind it."""
        if self.chunk_count() < COUNT_APART_FROM_CHUNKS:
            return self.pending_count()
        other = Store(self.path, readonly=True)
        try:
            return other.pending_count()
        finally:
            other.close()

    def _pending_not_too_often(self) -> int:
        """What is pending, counted again after a commit; on a large index not
        sooner than `PENDING_RECOUNT_AFTER` times what the last count cost:
        every status request would otherwise scan every chunk (11 s on the
        kernel's 2.7M), and while it embeds commits come every second."""
        version, now = self._commit_version(), _clock()
        kept = self._pending_kept
        if kept is not None and (kept[0] == version or kept[3] > COSTLY_COUNT_S
                                 and now - kept[2] < PENDING_RECOUNT_AFTER * kept[3]):
            return kept[1]
        value = self._count_pending_apart()
        done = _clock()
        self._pending_kept = (version, value, done, done - now)
        return value

    def _sizes(self) -> IndexCounts:
        # Chunks from the chunk log: counting them reads every row (70 ms on the kernel's 2.7M).
        files, symbols = self.conn.execute(
            "SELECT (SELECT count(*) FROM files WHERE status='indexed'), (SELECT count(*) FROM symbols)"
        ).fetchall()[0]
        return IndexCounts(files, symbols, self.chunk_count(), None)

    def chunk_count(self) -> int:
        """The number of chunks, from the chunk log (no count)."""
        return self.chunk_log().chunks

    def chunk_ids_end(self) -> int:
        """One past the largest chunk id: at least the number of chunks, read at once."""
        return self.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM chunks").fetchall()[0][0]

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

    def lexical_probe(self, fts_query: str, rows: int) -> tuple[int, int]:
        """(rows read, the last one's id) of the first `rows` rows, in id order,
        that hold an FTS5 MATCH expression: a bounded read of how common it is."""
        try:
            found = self.conn.execute(
                "SELECT count(*), coalesce(max(rowid), 0) FROM"
                " (SELECT rowid FROM chunk_text WHERE chunk_text MATCH ? LIMIT ?)", (fts_query, rows)
            ).fetchall()
        except apsw.SQLError:
            return 0, 0
        return int(found[0][0]), int(found[0][1])

    def nearest(self, vector: bytes, k: int, text_vector: bytes | None = None,
                text_shift: float = 0.0) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the chunks nearest to a query vector.
        With `text_vector` (the question as the model reads the index's own
        texts, where `vector` is its question encoder's), the chunks that are not
        code (Markdown sections, plain text) are ranked by that one instead, their
        similarity plus `text_shift`."""
        if text_vector is None:
            return [(chunk_id, similarity) for chunk_id, similarity, _ in self._nearest(vector, k)]
        text = int(SymbolKind.File)
        found = [(chunk_id, similarity) for chunk_id, similarity, kind in self._nearest(vector, k) if kind != text]
        found += [(chunk_id, similarity + text_shift)
                  for chunk_id, similarity, kind in self._nearest(text_vector, k) if kind == text]
        found.sort(key=lambda hit: (-hit[1], hit[0]))
        return found[:k]

    def _nearest(self, vector: bytes, k: int) -> list[tuple[int, float, int]]:
        """(chunk id, cosine similarity, chunk kind), nearest first."""
        if not self._has_vector_table():
            return []
        distance: dict[int, float] = {}
        found = self._graph()
        if found is not None:
            distance = self._nearest_by_graph(*found, np.frombuffer(vector, dtype=np.float32), k)
        if not distance:
            # Two statements on purpose: joined in one, SQLite's planner runs the KNN
            # once per chunk row (seconds instead of milliseconds).
            neighbours = self.conn.execute(
                f"SELECT rowid, distance FROM {self._tables()[0]} WHERE embedding MATCH ? AND k = ?", (vector, k)
            ).fetchall()
            if not neighbours:
                return []
            distance = {int(rowid): float(d) for rowid, d in neighbours}
        marks = ",".join("?" * len(distance))
        rows = self.conn.execute(
            f"SELECT c.id, e.vector_id, c.kind FROM {self._tables()[1]} e JOIN chunks c ON c.text_hash = e.text_hash"
            f" WHERE e.vector_id IN ({marks})",
            list(distance),
        ).fetchall()
        rows.sort(key=lambda r: (distance[r[1]], r[0]))
        return [(int(chunk_id), 1.0 - distance[vector_id], kind) for chunk_id, vector_id, kind in rows]

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

    def languages_of(self, paths: Iterable[str]) -> dict[str, str]:
        """path -> the language its file was chunked as."""
        paths = list(paths)
        found: dict[str, str] = {}
        for i in range(0, len(paths), 500):
            part = paths[i:i + 500]
            found.update(self.conn.execute(
                f"SELECT path, language FROM files WHERE path IN ({','.join('?' * len(part))})", part).fetchall())
        return found

    def chunks_at(self, relpath: str, line: int) -> list[tuple[int, Chunk]]:
        """The chunks of a file whose range holds a line (0-based), innermost first."""
        rows = self.conn.execute(
            "SELECT c.id, c.name, c.kind, c.container, c.sl, c.sc, c.el, c.ec, c.header, c.text"
            " FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? AND c.sl <= ? AND c.el >= ?"
            " ORDER BY c.el - c.sl, c.id", (relpath, line, line))
        return [(cid, Chunk(name, SymbolKind(kind), container, Range(sl, sc, el, ec), header, text))
                for cid, name, kind, container, sl, sc, el, ec, header, text in rows]

    def chunk_spans_named(self, paths_and_names: Iterable[tuple[str, str]]) -> list[tuple[str, str, Range]]:
        """(path, name, range) of every chunk called `name` in `path`, for each pair, in line order."""
        pairs = set(paths_and_names)
        if not pairs:
            return []
        paths = sorted({path for path, _ in pairs})
        names = sorted({name for _, name in pairs})
        rows = self.conn.execute(
            "SELECT f.path, c.name, c.sl, c.sc, c.el, c.ec FROM chunks c JOIN files f ON f.id = c.file_id"
            f" WHERE f.path IN ({','.join('?' * len(paths))}) AND c.name IN ({','.join('?' * len(names))})"
            " ORDER BY f.path, c.sl, c.sc", paths + names)
        return [(path, name, Range(sl, sc, el, ec)) for path, name, sl, sc, el, ec in rows if (path, name) in pairs]

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

    def symbol_names(self) -> list[str]:
        """Every distinct symbol name (for search/symbol_table.py)."""
        return [name for (name,) in self.conn.execute("SELECT DISTINCT name FROM symbols")]

    def symbol_containers(self) -> list[str]:
        """Every distinct non-empty container (`Console`, `Outer.Inner`, a Go receiver's type)."""
        return [c for (c,) in self.conn.execute("SELECT DISTINCT container FROM symbols WHERE container != ''")]

    def symbols_within(self, container: str, limit: int) -> list[SymbolHit]:
        """The symbols whose container is exactly this one, in source order."""
        # `container != ''` lets SQLite use the partial index `symbols_container`.
        return _symbol_hits(self.conn.execute(
            f"{_SYMBOL_COLUMNS} WHERE s.container = ? AND s.container != '' ORDER BY f.path, s.sl, s.sc LIMIT ?",
            (container, limit)))

    def symbols_named(self, names: list[str], per_name: int) -> list[SymbolHit]:
        """The symbols of exactly these names, at most `per_name` of each."""
        hits: list[SymbolHit] = []
        for name in names:
            # The first term is what the name index (NOCASE) can answer; the second keeps the case.
            hits.extend(_symbol_hits(self.conn.execute(
                f"{_SYMBOL_COLUMNS} WHERE s.name = ? COLLATE NOCASE AND s.name = ? LIMIT ?", (name, name, per_name))))
        return hits

    def chunks_of_names(self, names: list[str], per_name: int, most_names: int | None = None) -> dict[int, str]:
        """Chunk id -> name for the chunks of the definitions of exactly these
        names (each window of a long one), at most `per_name` definitions of each,
        from the first `most_names` names that have any (a macro is a name without a chunk)."""
        found: dict[int, str] = {}
        named = 0
        for name in names:
            if most_names is not None and named >= most_names:
                break
            before = len(found)
            for (chunk_id,) in self.conn.execute(
                "SELECT c.id FROM (SELECT file_id, sl, el FROM symbols WHERE name = ? COLLATE NOCASE AND name = ?"
                " LIMIT ?) s JOIN chunks c ON c.file_id = s.file_id AND c.name = ? AND c.sl <= s.el AND s.sl <= c.el",
                (name, name, per_name, name),
            ):
                found[int(chunk_id)] = name
            named += len(found) > before
        return found

    def symbol_count(self) -> int:
        """Symbols in the index: the largest rowid, an upper bound read from the table's end."""
        return self._until_next_commit("symbol_count", lambda: self.conn.execute(
            "SELECT coalesce(max(id), 0) FROM symbols").fetchall()[0][0])

    def change_stamp(self) -> tuple:
        """Changes whenever any connection of any process commits: the size and
        mtime of the database and its write-ahead log."""
        stamp = []
        for suffix in ("", "-wal"):
            try:
                st = os.stat(f"{self.path}{suffix}")
                stamp += [st.st_size, st.st_mtime_ns]
            except OSError:
                stamp += [0, 0]
        return tuple(stamp)

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchall()[0][0] == "ok"


_SYMBOL_COLUMNS = (
    "SELECT s.name, s.kind, s.container, f.path, s.sl, s.sc, s.el, s.ec"
    " FROM symbols s JOIN files f ON f.id = s.file_id"
)


def _graph_keys(row: int) -> tuple[str, str, str]:
    """The meta keys of a model's vector table's GraphState."""
    return f"vectors_generation_{row}", f"vectors_last_id_{row}", f"vectors_removed_{row}"


def _background_readers(path: Path):
    """(vectors_after, vector_ids) over a connection of their own, for a graph
    built off the search's thread; closed when the work is done."""
    holder: dict[str, Store] = {}

    def store() -> Store:
        if "store" not in holder:
            holder["store"] = Store(path, readonly=True)
        return holder["store"]

    def done() -> None:
        if "store" in holder:
            holder.pop("store").close()

    return (lambda last_id: store().vectors_after(last_id)), (lambda: store().vector_ids()), done


def _symbol_hits(rows) -> list[SymbolHit]:
    return [
        SymbolHit(name, SymbolKind(kind), container, path, Range(sl, sc, el, ec))
        for name, kind, container, path, sl, sc, el, ec in rows
    ]


def _range_row(r: Range) -> tuple[int, int, int, int]:
    return r.start_line, r.start_char, r.end_line, r.end_char



