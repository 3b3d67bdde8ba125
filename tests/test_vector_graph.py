"""The vector graph of large indexes (store/graph.py): the same answers as the
exact scan, and never out of step with the database, whatever was interrupted."""
import time
from pathlib import Path

import numpy as np
import pytest

from fathom.models import Chunk, ChunkedFile, FileStat, Range, SymbolKind
from fathom.index.lexical import with_lexical
from fathom.store import Store
from fathom.store import graph as graph_module

DIM = 384  # the default model's: 8-bit scalars of a much shorter vector lose its order


@pytest.fixture(autouse=True)
def small_graphs(monkeypatch):
    # The threshold is for real indexes; a test's few hundred vectors stand in.
    monkeypatch.setattr(graph_module, "GRAPH_MIN_VECTORS", 50)
    monkeypatch.setattr("fathom.store.store.GRAPH_MIN_VECTORS", 50)
    # One thread builds the same graph on every run, busy machine or not: the recall
    # checked below is then a fact about the code, not about how threads interleaved.
    monkeypatch.setattr(graph_module, "ADD_THREADS", 1)
    graph_module._graphs.clear()
    yield
    graph_module._graphs.clear()


def a_new_process():
    """What another process would find: no graph in memory, only the files."""
    graph_module._graphs.clear()


def fill(store: Store, names: range, rng: np.random.Generator) -> dict[str, np.ndarray]:
    files, vectors = [], {}
    for i in names:
        chunk = Chunk(f"f{i}", SymbolKind.Function, "", Range(0, 0, 1, 1), f"m{i}.py | f{i}", f"def f{i}(): return {i}")
        files.append(with_lexical(ChunkedFile(f"m{i}.py", FileStat(1, 1, i), f"h{i}", "python", "indexed", "", [], [chunk])))
        vectors[chunk.text_hash] = rng.normal(size=DIM).astype(np.float32)
    store.write_files(files)
    store.use_vector_model("test-model", DIM)
    store.write_vectors((h, v.tobytes()) for h, v in vectors.items())
    return vectors


def exact(store: Store, query: np.ndarray, k: int) -> list[int]:
    vectors, _ = store._tables()
    return [rowid for rowid, _ in store.conn.execute(
        f"SELECT rowid, distance FROM {vectors} WHERE embedding MATCH ? AND k = ?", (query.tobytes(), k))]


def graph_answer(store: Store, query: np.ndarray, k: int) -> list[tuple[int, float]]:
    """nearest() once the graph has caught up with the database."""
    graph, state = store._graph()
    deadline = time.monotonic() + 60
    store.nearest(query.tobytes(), k)
    while not (graph.ready and graph.state == store._graph_state()):
        assert time.monotonic() < deadline, "the graph never caught up"
        time.sleep(0.05)
        store.nearest(query.tobytes(), k)
    return store.nearest(query.tobytes(), k)


def same_as_exact(store: Store, rng: np.random.Generator, k: int = 10) -> None:
    """The graph's answers against the exact scan's: nearly the same neighbours
    (HNSW is approximate, and random vectors are its hardest case: the benchmark
    holds real ones to recall@10 >= 0.98), each with exactly the exact scan's similarity."""
    recalls = []
    for _ in range(20):
        query = rng.normal(size=DIM).astype(np.float32)
        by_graph = graph_answer(store, query, k)
        chunk_of_vector = dict(store.conn.execute(
            "SELECT e.vector_id, c.id FROM embedded e JOIN chunks c ON c.text_hash = e.text_hash"))
        vectors = store._tables()[0]
        exact_scores = {chunk_of_vector[rowid]: 1.0 - distance for rowid, distance in store.conn.execute(
            f"SELECT rowid, distance FROM {vectors} WHERE embedding MATCH ? AND k = ?", (query.tobytes(), len(chunk_of_vector)))}
        expected = [chunk_of_vector[v] for v in exact(store, query, k)]
        recalls.append(len({cid for cid, _ in by_graph} & set(expected)) / k)
        for cid, score in by_graph:
            assert abs(score - exact_scores[cid]) < 1e-5  # re-ranked by the exact vectors
        scores = [s for _, s in by_graph]
        assert len(by_graph) == k and scores == sorted(scores, reverse=True)
    assert sum(recalls) / len(recalls) >= 0.95, recalls


def test_a_large_index_answers_from_the_graph_as_the_exact_scan_does(tmp_path):
    rng = np.random.default_rng(1)
    store = Store(tmp_path / "index.db")
    fill(store, range(300), rng)
    assert store._graph() is not None
    same_as_exact(store, rng)
    store.close()
    assert (tmp_path / "index.vectors-1.usearch").is_file()  # the writer's close saves it


def test_a_small_index_keeps_the_exact_scan(tmp_path):
    rng = np.random.default_rng(2)
    store = Store(tmp_path / "index.db")
    fill(store, range(20), rng)
    assert store._graph() is None
    assert len(store.nearest(rng.normal(size=DIM).astype(np.float32).tobytes(), 5)) == 5


def a_saved_graph(tmp_path, rng) -> Path:
    """An index of 300 vectors whose graph was built, checked and saved by a writer that closed."""
    store = Store(tmp_path / "index.db")
    fill(store, range(300), rng)
    same_as_exact(store, rng)
    store.close()
    return tmp_path / "index.vectors-1.usearch"


def test_a_graph_saved_before_later_writes_catches_up_on_the_next_open(tmp_path):
    rng = np.random.default_rng(3)
    saved = a_saved_graph(tmp_path, rng).read_bytes()

    # Another process adds and removes vectors, then dies before saving its graph.
    a_new_process()
    store = Store(tmp_path / "index.db")
    fill(store, range(300, 420), rng)
    store.remove_files([f"m{i}.py" for i in range(0, 40)])
    assert store.prune_vectors(keep_orphans=0) == 40
    (tmp_path / "index.vectors-1.usearch").write_bytes(saved)

    a_new_process()
    store = Store(tmp_path / "index.db")
    same_as_exact(store, rng)
    graph, _ = store._graph()
    held = set(np.asarray(graph._index.keys).tolist())
    assert held == {int(v) for (v,) in store.conn.execute("SELECT vector_id FROM embedded")}


def test_a_damaged_graph_file_is_built_again_from_the_database(tmp_path):
    rng = np.random.default_rng(4)
    path = a_saved_graph(tmp_path, rng)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])

    a_new_process()
    store = Store(tmp_path / "index.db")
    same_as_exact(store, rng)


def test_vector_ids_are_never_reused_so_a_graph_never_holds_another_vector_under_an_id(tmp_path):
    rng = np.random.default_rng(5)
    store = Store(tmp_path / "index.db")
    fill(store, range(100), rng)
    last = store._graph_state().last_id
    store.remove_files([f"m{i}.py" for i in range(90, 100)])  # the highest ids
    store.prune_vectors(keep_orphans=0)
    fill(store, range(100, 110), rng)
    ids = [v for (v,) in store.conn.execute("SELECT vector_id FROM embedded ORDER BY vector_id")]
    assert ids[-10:] == list(range(last + 1, last + 11))
    assert store._graph_state().size == len(ids) == 100


def test_another_model_table_starts_a_new_graph(tmp_path):
    rng = np.random.default_rng(6)
    store = Store(tmp_path / "index.db")
    fill(store, range(200), rng)
    same_as_exact(store, rng)
    first = store._graph_state()
    for model in ("b", "c", "d"):  # three more models: the first one's table is dropped
        store.use_vector_model(model, DIM)
    assert not (tmp_path / "index.vectors-1.usearch").exists()
    store.use_vector_model("test-model", DIM)
    assert store._graph_state().generation != first.generation
