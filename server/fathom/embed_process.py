"""The body of the one long-lived embedding process (see `embedder`).

It loads the model once and then serves requests from its pipe. Query requests
jump ahead of document requests: documents are encoded in small length-sorted
sub-batches and waiting queries are served between them, so a search waits for
at most one sub-batch, never for an index build.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections import deque

from .config import force_offline

# A sub-batch holds at most this many texts and this many characters: small
# enough that a query behind it waits ~0.1 s on a laptop CPU, large enough to
# keep the matrix multiplications efficient.
SUB_BATCH_TEXTS = 64
SUB_BATCH_CHARS = 12_000


def pick_device(preference: str) -> str:
    import torch

    if preference not in ("", "auto"):
        return preference
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def main(conn, load_path: str, device_preference: str, threads: int) -> None:
    os.dup2(2, 1)  # stdout may be the LSP stream: nothing here may write to it
    sys.stdout = sys.stderr
    force_offline()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    try:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        device = pick_device(device_preference)
        model = SentenceTransformer(load_path, device=device)
        if device == "cuda":
            model.half()
        model.eval()
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = dimension()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which explains it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", dim, device))

    queries: deque = deque()
    documents: deque = deque()
    wake = threading.Condition()
    closed = threading.Event()

    def read_requests() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "stop":
                break
            with wake:
                (queries if message[0] == "query" else documents).append(message)
                wake.notify()
        closed.set()
        with wake:
            wake.notify()

    threading.Thread(target=read_requests, daemon=True).start()

    def encode(texts: list[str]) -> bytes:
        with torch.inference_mode():
            vectors = model.encode(
                texts, batch_size=len(texts), normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return vectors.astype("float32").tobytes()

    def serve_queries() -> None:
        while queries:
            _, request_id, texts = queries.popleft()
            conn.send(("done", request_id, encode(texts)))

    while not closed.is_set():
        with wake:
            while not queries and not documents and not closed.is_set():
                wake.wait()
        serve_queries()
        if not documents:
            continue
        _, request_id, texts = documents.popleft()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[bytes] = [b""] * len(texts)
        start = 0
        while start < len(order):
            end, chars = start, 0
            while end < len(order) and end - start < SUB_BATCH_TEXTS and (
                end == start or chars + len(texts[order[end]]) <= SUB_BATCH_CHARS
            ):
                chars += len(texts[order[end]])
                end += 1
            batch = order[start:end]
            raw = encode([texts[i] for i in batch])
            width = len(raw) // len(batch)
            for j, i in enumerate(batch):
                out[i] = raw[j * width:(j + 1) * width]
            start = end
            serve_queries()
        conn.send(("done", request_id, b"".join(out)))
