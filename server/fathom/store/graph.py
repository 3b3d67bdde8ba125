"""An approximate nearest-neighbour graph over one model's vectors, for indexes
too large for sqlite-vec's exact scan (its PyPI build has no SIMD: about 1 ms
a thousand vectors here, a second at a million).

The graph is usearch's HNSW with 8-bit scalars, in a file beside the database.
The database stays the truth: the graph is keyed by the vectors' ids there,
and what it holds is described by a `GraphState` the database keeps in step
with every vector written or removed (ids are never reused). A graph whose
state is behind the database's catches up by adding the ids past its last one;
one that missed a removal, or was written for a vector table since dropped, is
compared id for id or rebuilt. So a crash between a commit and the graph's
update, or during a save (files are replaced whole, by rename), costs a catch-up
on the next open, never a wrong answer. This module knows no SQL: the store
hands it arrays.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Below this many vectors the exact scan answers within ~50 ms here and the graph
# is not worth its memory.
GRAPH_MIN_VECTORS = 50_000
# The graph is asked for this many candidates per result wanted, past the first
# OVERSAMPLED results one more each; the store re-ranks them by their exact float
# vectors. Each costs a point read of sqlite-vec's table (about 0.2 ms at a
# million vectors): the graph's own search breadth (EXPANSION_SEARCH) is what buys
# recall, and a search's pool of 100 needs exact order at its top, not its tail.
OVERSAMPLE = 2
OVERSAMPLED = 20


def candidates_for(k: int) -> int:
    """How many candidates the graph is asked for, for `k` results."""
    return k * OVERSAMPLE if k <= OVERSAMPLED else k + OVERSAMPLED * (OVERSAMPLE - 1)
# HNSW parameters: neighbours per node, and the candidate lists kept while
# adding and while searching (recall against cost, measured in RESULTS 17).
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 128
# A catch-up this large runs in the background (exact search meanwhile); a
# smaller one runs inside the search that finds the graph behind.
INLINE_CATCH_UP = 5_000
# Vectors added under one hold of the lock that searches take.
ADD_SLICE = 256
# Threads of a catch-up's adds (0: every core, usearch's default). The graph then
# depends on how the threads interleave: nearly the same neighbours, not the same graph.
ADD_THREADS = 0


@dataclass(frozen=True)
class GraphState:
    """What a graph holds, in the database's terms."""
    generation: str  # the vector table's: a table dropped and made again starts a new one
    last_id: int  # the highest vector id ever written to that table
    removals: int  # vectors removed from it so far

    @property
    def size(self) -> int:
        return self.last_id - self.removals


# (ids, float32 vectors) in batches, of the vectors with ids past a given one.
VectorsAfter = Callable[[int], Iterator[tuple[np.ndarray, np.ndarray]]]


class VectorGraph:
    """One model's graph in one process; safe to share between threads."""

    def __init__(self, path: Path, dim: int):
        self.path = path
        self.dim = dim
        self._lock = threading.Lock()
        self._index = None
        self.state: GraphState | None = None
        self._unsaved = 0
        self._busy = threading.Lock()  # held while loading or catching up in the background

    @property
    def ready(self) -> bool:
        return self._index is not None

    def _new_index(self):
        from usearch.index import Index

        return Index(ndim=self.dim, metric="cos", dtype="i8", connectivity=CONNECTIVITY,
                     expansion_add=EXPANSION_ADD, expansion_search=EXPANSION_SEARCH)

    # -- keeping step with the database ----------------------------------------------------

    def bring_up_to(self, target: GraphState, vectors_after: VectorsAfter,
                    all_ids: Callable[[], np.ndarray]) -> None:
        """Load the saved graph (or start an empty one) and make it hold exactly
        the database's vectors at `target`. Slow at first: run it off the
        search path (`start_background`)."""
        with self._busy:
            if self._index is None:
                self._load(target.generation)
            current = self.state
            if current is None or current.generation != target.generation:
                self._reset(target.generation)
                current = self.state
            if current.removals != target.removals or current.last_id > target.last_id:
                self._reconcile(target, all_ids())
            self._add_after(self.state.last_id, vectors_after)
            with self._lock:
                self.state = target
            if self._unsaved:
                self.save()

    def catch_up(self, target: GraphState, vectors_after: VectorsAfter) -> bool:
        """The quick path, inside a search: only additions since the graph's
        state. False when more than that is needed (`bring_up_to`)."""
        current = self.state
        if current is None or current.generation != target.generation or current.removals != target.removals \
                or current.last_id > target.last_id or target.last_id - current.last_id > INLINE_CATCH_UP:
            return False
        if not self._busy.acquire(blocking=False):
            return False
        try:
            self._add_after(current.last_id, vectors_after)
            with self._lock:
                self.state = target
        finally:
            self._busy.release()
        return True

    def start_background(self, target: GraphState, vectors_after: VectorsAfter,
                         all_ids: Callable[[], np.ndarray], done: Callable[[], None] = lambda: None) -> None:
        if self._busy.locked():
            return

        def work() -> None:
            try:
                self.bring_up_to(target, vectors_after, all_ids)
            except Exception:
                log.exception("the vector graph could not be built; exact search goes on")
            finally:
                done()

        threading.Thread(target=work, name="fathom-vector-graph", daemon=True).start()

    def added(self, ids: np.ndarray, vectors: np.ndarray, target: GraphState) -> None:
        """Vectors just committed by this process's writer."""
        with self._lock:
            if self._index is None or self.state is None or self._busy.locked() \
                    or self.state.generation != target.generation or self.state.removals != target.removals:
                return  # a catch-up will bring them in
            keep = ~np.asarray(self._index.contains(ids), dtype=bool) if len(ids) else np.zeros(0, dtype=bool)
            if keep.any():
                self._index.add(ids[keep], vectors[keep], threads=1)
                self._unsaved += int(keep.sum())
            self.state = target

    def removed(self, ids: np.ndarray, target: GraphState) -> None:
        with self._lock:
            if self._index is None or self.state is None or self._busy.locked() \
                    or self.state.generation != target.generation:
                return
            self._index.remove(ids)
            self._unsaved += len(ids)
            self.state = target

    def _add_after(self, last_id: int, vectors_after: VectorsAfter) -> None:
        for ids, vectors in vectors_after(last_id):
            # A slice at a time under the lock: a search waits for one slice (a
            # tenth of a second), not for a batch read from the database.
            for first in range(0, len(ids), ADD_SLICE):
                part, rows = ids[first:first + ADD_SLICE], vectors[first:first + ADD_SLICE]
                with self._lock:
                    keep = ~np.asarray(self._index.contains(part), dtype=bool)
                    if keep.any():
                        self._index.add(part[keep], rows[keep], threads=ADD_THREADS)
                        self._unsaved += int(keep.sum())

    def _reconcile(self, target: GraphState, ids_in_database: np.ndarray) -> None:
        with self._lock:
            held = np.asarray(self._index.keys, dtype=np.uint64)
            stale = np.setdiff1d(held, ids_in_database.astype(np.uint64), assume_unique=True)
            if len(stale):
                self._index.remove(stale)
                self._unsaved += len(stale)
            # Ids in the database the graph lacks, below its last one (a save that
            # lost adds): take the graph back to a state that re-adds them.
            missing = np.setdiff1d(ids_in_database.astype(np.uint64), held, assume_unique=True)
            last = int(missing.min()) - 1 if len(missing) else min(self.state.last_id, target.last_id)
            self.state = GraphState(target.generation, min(last, target.last_id), target.removals)

    # -- the file ----------------------------------------------------------------------------

    @property
    def _state_path(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    def _reset(self, generation: str) -> None:
        with self._lock:
            self._index = self._new_index()
            self.state = GraphState(generation, 0, 0)

    def _load(self, generation: str) -> None:
        try:
            state = GraphState(**json.loads(self._state_path.read_text()))
            if state.generation != generation:
                raise ValueError("written for another vector table")
            index = self._new_index()
            index.load(str(self.path))
            if index.ndim != self.dim:
                raise ValueError(f"{index.ndim} dimensions, not {self.dim}")
        except FileNotFoundError:
            self._reset(generation)
            return
        except Exception as exc:  # unreadable, truncated, another model's: built again from the database
            log.warning("the vector graph %s is rebuilt: %s", self.path, exc)
            self._reset(generation)
            return
        with self._lock:
            self._index, self.state = index, state

    def save(self) -> None:
        """The graph first, then its state: a crash between them leaves a state
        behind the graph, which the next catch-up corrects."""
        with self._lock:
            if self._index is None or self.state is None:
                return
            partial = self.path.with_name(self.path.name + ".partial")
            try:
                self._index.save(str(partial))
                os.replace(partial, self.path)
                state_partial = self._state_path.with_name(self._state_path.name + ".partial")
                state_partial.write_text(json.dumps(asdict(self.state)))
                os.replace(state_partial, self._state_path)
                self._unsaved = 0
            except OSError as exc:
                log.warning("the vector graph could not be saved (%s); the next open catches up", exc)

    def save_if_changed(self) -> None:
        if self._unsaved and not self._busy.locked():
            self.save()

    # -- searching ------------------------------------------------------------------------------

    def answers_for(self, target: GraphState) -> bool:
        """Whether the graph holds (nearly) what the database does: not while
        it is built or far behind, when the exact scan answers instead."""
        state = self.state
        return self.ready and state is not None and state.generation == target.generation \
            and state.removals == target.removals and target.last_id - state.last_id <= INLINE_CATCH_UP

    def search(self, vector: np.ndarray, count: int) -> np.ndarray:
        """Ids of about the `count` nearest vectors, nearest first."""
        with self._lock:
            if self._index is None or len(self._index) == 0:
                return np.empty(0, dtype=np.uint64)
            return np.asarray(self._index.search(vector, count).keys, dtype=np.uint64)

    def bytes_in_memory(self) -> int:
        with self._lock:
            return int(self._index.memory_usage) if self._index is not None else 0



_graphs: dict[tuple[str, str], VectorGraph] = {}
_graphs_lock = threading.Lock()


def graph_for(path: Path, dim: int) -> VectorGraph:
    """The one graph of this process for a graph file."""
    key = (str(path), str(dim))
    with _graphs_lock:
        graph = _graphs.get(key)
        if graph is None:
            graph = _graphs[key] = VectorGraph(path, dim)
        return graph


def graphs_beside(database: Path) -> list[VectorGraph]:
    with _graphs_lock:
        return [g for (p, _), g in _graphs.items() if Path(p).parent == database.parent]


def discard_graph(path: Path) -> None:
    """A dropped vector table's graph: out of this process and off the disk."""
    with _graphs_lock:
        for key in [key for key in _graphs if key[0] == str(path)]:
            del _graphs[key]
    for stale in (path, path.with_name(path.name + ".json")):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
