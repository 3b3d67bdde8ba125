"""The body of the one long-lived embedding process (see `local`).

It loads the model once and then serves requests from its pipe. Documents are
encoded in length-sorted sub-batches (padding is what makes unsorted batches
slow); queries are encoded on a second thread at once, never queued behind an
index build.
"""
from __future__ import annotations

import copy
import ctypes
import functools
import logging
import os
import queue
import sys
import threading
import traceback
import warnings
from collections import deque

from ..config import force_offline
from ..signals import ignore_ctrl_c
from .messages import EmbedRequest, Failed, LoadFailed, Ready, Stop, Vectors

# How many texts go through the model at once. On a CPU small batches win
# (measured on 2 cores, MiniLM, ~150-token chunks: 16 texts 24 chunks/s, 32 19/s,
# 64 17/s: the activations of bigger batches fall out of cache); a GPU wants
# large ones to fill its cores. The character cap keeps one batch of long texts
# from growing the padded activations past what the device holds comfortably.
BATCH_TEXTS = {"cpu": 16, "default": 256}
BATCH_CHARS_PER_TEXT = 1_000
# How far document embedding steps back for the user's own processes (a nice
# value: at +10 a busy core gives it about a tenth of its time).
DOCUMENT_NICENESS = 10
# How long a closing process waits for the query it is encoding (the parent
# waits 5 s for the whole process before it kills it).
QUERY_AT_CLOSE_SECONDS = 2.0


def batch_texts(device: str) -> int:
    return BATCH_TEXTS.get(device, BATCH_TEXTS["default"])


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
    try:
        _serve(conn, load_path, device_preference, threads)
    except BaseException:  # noqa: BLE001 - shown on stderr (the server's log), then the same exit
        traceback.print_exc()
        _leave(1)
    _leave(0)


def _leave(status: int) -> None:
    """End the process without the interpreter's and the native libraries'
    teardown. Torch's thread pools, torn down at exit beside the threads that
    used them, abort the process now and then ("terminate called without an
    active exception", SIGABRT: measured in 1 of 4 to 12 closes, more often with a
    query in flight or the CPU busy), which a desktop's crash reporter shows the
    user as a crash on every few editor closes. Nothing here is left to flush
    but the standard streams; the pipe closes with the process."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _serve(conn, load_path: str, device_preference: str, threads: int) -> None:
    os.dup2(2, 1)  # stdout may be the LSP stream: nothing here may write to it
    sys.stdout = sys.stderr
    ignore_ctrl_c()  # Ctrl-C is the parent's to handle; it closes us
    force_offline()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    loaded: dict = {}
    # Importing torch and loading the model is seconds of CPU that the first
    # index's symbols and lexical search (and the user's editor) need more: it
    # runs on a thread of its own at the background priority.
    loader = threading.Thread(target=_load_model, args=(load_path, device_preference, threads, loaded),
                              name="load", daemon=True)
    loader.start()
    loader.join()
    try:
        if "error" in loaded:
            conn.send(LoadFailed(loaded["error"]))
            return
        conn.send(Ready(loaded["dim"], loaded["device"], loaded["backend"], batch_texts(loaded["device"]),
                        loaded.get("warning", ""), loaded.get("questions") is not None))
    except OSError:  # the parent is gone: nobody to serve
        return
    import torch

    encoder = loaded["encoder"]
    asking = loaded.get("questions") or encoder

    documents: deque = deque()
    queries: queue.SimpleQueue = queue.SimpleQueue()
    wake = threading.Condition()
    closed = threading.Event()
    send_lock = threading.Lock()
    # Fast tokenizers refuse to be used from two threads at once ("Already borrowed").
    tokenizer_lock = threading.Lock()

    def send(message: Vectors | Failed) -> None:
        try:
            with send_lock:
                conn.send(message)
        except OSError:  # the parent is gone (killed, say): nobody to answer, nothing to report
            closed.set()

    def answer(request: EmbedRequest, encode_texts) -> None:
        """Vectors for a request, or why not: one bad input never ends a thread
        that every later request waits on."""
        try:
            reply: Vectors | Failed = Vectors(request.request_id, encode_texts(request.texts))
        except _Abandoned:
            return
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails that request alone
            reply = Failed(request.request_id, f"{type(exc).__name__}: {exc}")
        send(reply)

    def read_requests() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, Stop):
                break
            if message.query:
                queries.put(message)
                continue
            with wake:
                documents.append(message)
                wake.notify()
        closed.set()
        queries.put(None)
        with wake:
            wake.notify()

    def encode(texts: list[str], by=encoder) -> bytes:
        with tokenizer_lock:  # one tokenizer, shared by the question encoder
            tokens = by.tokenize(texts)
        with torch.inference_mode():
            vectors = torch.nn.functional.normalize(by.embed(tokens).float(), dim=1)
        return vectors.cpu().numpy().astype("float32").tobytes()

    def ask(texts: list[str]) -> bytes:
        return encode(texts, asking)

    def serve_queries() -> None:
        # Its own thread, so a query is encoded alongside a document batch instead of
        # waiting for it: a search during indexing costs tens of milliseconds, not seconds.
        while (message := queries.get()) is not None and not closed.is_set():
            answer(message, ask if message.question else encode)

    max_texts = batch_texts(loaded["device"])
    max_chars = max_texts * BATCH_CHARS_PER_TEXT

    def serve_documents() -> None:
        # Background work yields to the user's own (a build, the editor); the
        # query thread keeps its priority, so a search stays quick meanwhile.
        # Threads the math library starts from here inherit the lower priority.
        lower_this_threads_priority(DOCUMENT_NICENESS)
        while not closed.is_set():
            with wake:
                while not documents and not closed.is_set():
                    wake.wait()
            if not documents:
                continue
            answer(documents.popleft(), encode_sorted)
            if not documents:
                _return_freed_memory()

    def encode_sorted(texts: list[str]) -> bytes:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[bytes] = [b""] * len(texts)
        start = 0
        while start < len(order):
            if closed.is_set():
                # Closed, or the parent died: the rest of a request of hundreds of
                # texts would be seconds of CPU for vectors nobody reads.
                raise _Abandoned
            end, chars = start, 0
            while end < len(order) and end - start < max_texts and (
                end == start or chars + len(texts[order[end]]) <= max_chars
            ):
                chars += len(texts[order[end]])
                end += 1
            batch = order[start:end]
            raw = encode([texts[i] for i in batch])
            width = len(raw) // len(batch)
            for j, i in enumerate(batch):
                out[i] = raw[j * width:(j + 1) * width]
            start = end
        return b"".join(out)

    threading.Thread(target=read_requests, daemon=True).start()
    queries_thread = threading.Thread(target=serve_queries, daemon=True, name="queries")
    queries_thread.start()
    documents_thread = threading.Thread(target=serve_documents, daemon=True, name="documents")
    documents_thread.start()
    documents_thread.join()
    queries_thread.join(QUERY_AT_CLOSE_SECONDS)  # the query in hand is answered; a hung one is not waited for


class _Abandoned(Exception):
    """A document request left unfinished because nobody will read its vectors."""


def _load_model(load_path: str, device_preference: str, threads: int, loaded: dict) -> None:
    lower_this_threads_priority(DOCUMENT_NICENESS)
    try:
        import torch

        if threads:
            torch.set_num_threads(threads)
        device = pick_device(device_preference)
        # Only on the CPU: that is where start-up and memory matter most, and the
        # only device where the two paths are checked against each other here.
        encoder = _plain_bert(load_path) if device == "cpu" else None
        if encoder is None:
            encoder = _SentenceTransformersEncoder(load_path, device)
        loaded.update(encoder=encoder, device=device, dim=encoder.dim, backend=encoder.backend)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which explains it
        loaded["error"] = f"{type(exc).__name__}: {exc}"
        return
    try:
        loaded["questions"] = encoder.for_questions()
    except Exception as exc:  # noqa: BLE001 - questions are then read as code is: search still works
        loaded["warning"] = f"the model's question layers were not loaded ({type(exc).__name__}: {exc}); " \
                            "questions are read by the model itself"


def _plain_bert(load_path: str):
    from . import bert

    try:
        return bert.load(load_path)
    except Exception:  # noqa: BLE001 - sentence-transformers reads what this cannot
        return None


class _SentenceTransformersEncoder:
    """Any model sentence-transformers can load, behind `bert`'s two steps."""

    backend = "sentence-transformers"

    def __init__(self, load_path: str, device: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise RuntimeError(
                f"{load_path} is not a plain BERT model, which Fathom runs on torch alone: it needs "
                "sentence-transformers, the `models` extra (pip install 'fathom-lsp[models]', or "
                "`pip install sentence-transformers`)") from None

        import torch

        # Weights saved in float16 load as float16, which a CPU runs slowly and less exactly.
        model = SentenceTransformer(load_path, device=device, model_kwargs={"dtype": torch.float32})
        if device == "cuda":
            model.half()
        model.eval()
        self.model, self.device, self.load_path = model, device, load_path
        self._preprocess = getattr(model, "preprocess", None) or model.tokenize
        dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = dimension()

    def for_questions(self) -> _SentenceTransformersEncoder | None:
        """As `bert.BertEncoder.for_questions`: a copy of the model with its question layers."""
        from . import bert

        path = bert.question_layers(self.load_path)
        if path is None:
            return None
        asking = copy.copy(self)
        asking.model = copy.deepcopy(self.model)
        transformer = asking.model[0].auto_model
        transformer.load_state_dict(bert.read_question_layers(path, transformer.state_dict()), strict=False)
        return asking

    def tokenize(self, texts: list[str]):
        return self._preprocess(texts)

    def embed(self, features):
        import torch

        features = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        return self.model(features)["sentence_embedding"]


def lower_this_threads_priority(increment: int) -> None:
    """Raise the calling thread's nice value. Linux keeps one per thread;
    elsewhere it would be the whole process's, queries included, so nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + increment)
    except OSError:
        pass


def _return_freed_memory() -> None:
    """Between indexing bursts the process idles for hours: hand the batches'
    freed activations back to the OS (glibc keeps them otherwise)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, say)
        return None
