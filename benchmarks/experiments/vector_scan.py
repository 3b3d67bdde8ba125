"""The dense half of a search at scale: sqlite-vec's vec0 scan against a
two-stage scan (Hamming distance over each vector's sign bits, then cosine over
the nearest N), on the vectors of an existing Fathom index.

    .venv/bin/python -m benchmarks.experiments.vector_scan INDEX.db [--questions TREE]

INDEX.db is left as it is: its vectors are copied into a scratch database in
both layouts. Timings use random unit queries (a scan costs the same whatever
the vectors say, so an index filled by `scale/search_in_process.py` will do). With
`--questions TREE`, the index must hold the default model's real vectors: the
first sentences of TREE's docstrings (as in `quality/eval_python.py`) are embedded and
each two-stage top 100 is compared with the exact top 100.
"""
from __future__ import annotations

import argparse
import random
import statistics
import struct
import tempfile
import time
from pathlib import Path


import apsw  # noqa: E402

from fathom.store import _vec_extension

K = 100
CANDIDATES = (1000, 2000, 4000)
QUESTIONS = 600


def connect(path: Path, readonly: bool = False) -> apsw.Connection:
    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY if readonly else
                           apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE)
    conn.enable_load_extension(True)
    conn.load_extension(_vec_extension())
    return conn


def copy_vectors(index: Path, scratch: Path) -> tuple[apsw.Connection, int, int]:
    source = connect(index, readonly=True)
    rows = source.execute("SELECT rowid, embedding FROM vectors").fetchall()
    dim = len(rows[0][1]) // 4
    conn = connect(scratch)
    with conn:
        conn.execute(f"CREATE VIRTUAL TABLE flat USING vec0(embedding float[{dim}] distance_metric=cosine)")
        conn.executemany("INSERT INTO flat (rowid, embedding) VALUES (?, ?)", rows)
        conn.execute("CREATE TABLE signed (id INTEGER PRIMARY KEY, embedding BLOB NOT NULL, signs BLOB NOT NULL)")
        conn.execute("INSERT INTO signed SELECT rowid, embedding, vec_quantize_binary(embedding) FROM flat")
        conn.execute("CREATE INDEX signed_signs ON signed(signs)")
    return conn, len(rows), dim


def exact(conn: apsw.Connection, query: bytes) -> list[int]:
    return [r for r, _d in conn.execute(
        "SELECT rowid, distance FROM flat WHERE embedding MATCH ? AND k = ?", (query, K))]


def two_stage(conn: apsw.Connection, query: bytes, candidates: int) -> list[int]:
    ids = [r for (r,) in conn.execute(
        "SELECT id FROM signed INDEXED BY signed_signs"
        " ORDER BY vec_distance_hamming(vec_bit(signs), vec_quantize_binary(?)) LIMIT ?", (query, candidates))]
    marks = ",".join("?" * len(ids))
    return [r for r, _d in conn.execute(
        f"SELECT id, vec_distance_cosine(embedding, ?) AS d FROM signed WHERE id IN ({marks})"
        " ORDER BY d, id LIMIT ?", [query, *ids, K])]


def p50_ms(search, queries: list[bytes]) -> float:
    times = []
    for q in queries:
        start = time.perf_counter()
        search(q)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def random_queries(dim: int, n: int) -> list[bytes]:
    rnd = random.Random(1)
    out = []
    for _ in range(n):
        v = [rnd.gauss(0, 1) for _ in range(dim)]
        norm = sum(x * x for x in v) ** 0.5
        out.append(struct.pack(f"{dim}f", *(x / norm for x in v)))
    return out


def docstring_queries(tree: Path) -> list[bytes]:
    import torch
    from quality_eval import prepare

    from fathom.embed import bert as bert_encoder
    from fathom.config import DEFAULT_MODEL
    from fathom.embed.modelspec import resolve_model

    with tempfile.TemporaryDirectory() as work:
        questions, _units, _roots = prepare([tree], Path(work))
    texts = [q.text for q in questions][:QUESTIONS]
    encoder = bert_encoder.load(resolve_model(DEFAULT_MODEL).load_path)
    out = []
    for i in range(0, len(texts), 64):
        vectors = torch.nn.functional.normalize(encoder.embed(encoder.tokenize(texts[i:i + 64])), dim=1)
        out.extend(row.numpy().astype("float32").tobytes() for row in vectors)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("--questions", type=Path, help="a source tree whose docstrings become queries")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        conn, count, dim = copy_vectors(args.index, Path(scratch) / "scan.db")
        queries = random_queries(dim, 24)
        for q in queries[:2]:
            exact(conn, q), two_stage(conn, q, CANDIDATES[0])
        print(f"{count:,} vectors of {dim} dimensions, {len(queries)} random queries, p50:")
        print(f"  vec0 scan, top {K}: {p50_ms(lambda q: exact(conn, q), queries):.1f} ms")
        for n in CANDIDATES:
            print(f"  signs then cosine over {n:,}: {p50_ms(lambda q: two_stage(conn, q, n), queries):.1f} ms")
        if args.questions:
            asked = docstring_queries(args.questions)
            truths = [exact(conn, q) for q in asked]
            print(f"{len(asked)} docstring questions from {args.questions}, against the exact top {K}:")
            for n in CANDIDATES:
                found = [two_stage(conn, q, n) for q in asked]
                overlap100 = statistics.mean(len(set(f) & set(t)) / K for f, t in zip(found, truths))
                overlap10 = statistics.mean(len(set(f[:10]) & set(t[:10])) / 10 for f, t in zip(found, truths))
                same10 = statistics.mean(f[:10] == t[:10] for f, t in zip(found, truths))
                print(f"  {n:,} candidates: overlap@100 {overlap100:.4f}, overlap@10 {overlap10:.4f}, "
                      f"identical top 10 for {same10:.1%}")
        conn.close()


if __name__ == "__main__":
    main()
