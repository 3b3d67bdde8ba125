"""Stage 5 through a serving engine: any server that answers OpenAI's
`POST {url}/embeddings` (Text Embeddings Inference, vLLM, Infinity, Ollama,
LM Studio, llama.cpp's `llama-server`).

Document batches go out concurrently (`concurrency` requests, `batch_size` texts
each, on a pool of that many connections); queries have a client of their own, so
they never wait behind index batches. Busy answers (429, 5xx), timeouts and
dropped connections are tried again with a doubling, jittered back-off that
honours `Retry-After`; when the tries are spent the batch fails with
`EmbedderError` and its texts stay pending in the index, which is the queue.
What no retry can mend (a refused key, no endpoint at that URL, TLS) fails at
once with `EmbedderRefused`. The API key travels in one header to that URL
only: it is in no message, no log and no setting.
"""
from __future__ import annotations

import base64
import json
import math
import os
import random
import struct
import threading
import time
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from ..config import EngineSettings
from .interface import EmbedderClosed, EmbedderError, EmbedderIdentity, EmbedderInputError, EmbedderRefused
from .modelspec import ModelSpec

# 408 and 409 are what some proxies answer for a request they gave up on.
RETRIED_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
# A query finds the engine down from a recent failure without asking it again:
# search answers lexically at once rather than wait on a dead engine.
KNOWN_DOWN_SECONDS = 5.0


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # tries per batch: about a minute of back-off in all
    first_delay: float = 0.5
    longest_delay: float = 20.0
    longest_retry_after: float = 60.0  # a `Retry-After` longer than this is cut to it
    timeout: float = 120.0  # seconds to wait for one answer


# The first request only finds out whether the engine answers and how wide its
# vectors are: a wrong URL is reported within seconds, not after a minute of tries.
PROBE_POLICY = RetryPolicy(attempts=3, first_delay=0.5, longest_delay=2.0, longest_retry_after=5.0, timeout=60.0)
QUERY_TIMEOUT_SECONDS = 5.0


def embeddings_endpoint(base_url: str) -> httpx.URL:
    """`{url}/embeddings` (the OpenAI client's convention: the base URL usually
    ends in `/v1`); EmbedderRefused when the setting is no http(s) URL."""
    try:
        url = httpx.URL(base_url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise EmbedderRefused(f"embedding.url {base_url!r} is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise EmbedderRefused(f"embedding.url {base_url!r} is not an http(s) URL")
    path = url.path.rstrip("/")
    return url.copy_with(path=path if path.endswith("/embeddings") else f"{path}/embeddings", query=None)


class RemoteEmbedder:
    """`interface.Embedder` over an OpenAI-compatible embeddings endpoint."""

    def __init__(self, spec: ModelSpec, engine: EngineSettings, retry: RetryPolicy = RetryPolicy(),
                 api_key: str | None = None):
        self.spec = spec
        self.engine = engine
        self.retry = retry
        self.dim: int | None = None
        self._endpoint_error: EmbedderRefused | None = None
        try:
            self.endpoint = embeddings_endpoint(engine.url)
        except EmbedderRefused as exc:
            self.endpoint, self._endpoint_error = None, exc
        key = api_key if api_key is not None else os.environ.get("FATHOM_EMBED_API_KEY", "")
        self._headers = {"Authorization": f"Bearer {key.strip()}"} if key and key.strip() else {}
        self._lock = threading.Lock()  # guards the clients, the pool and the state below
        self._start_lock = threading.Lock()
        self._documents: httpx.Client | None = None
        self._queries: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future] = set()
        self._started = False
        self._down: str | None = None  # why the last try failed, while it stands
        self._down_at = 0.0
        self._closed = threading.Event()

    # -- what the pipeline reads ---------------------------------------------------------

    provider = "openai-compatible"

    @property
    def model_id(self) -> str:
        return self.spec.model_id

    @property
    def device(self) -> str | None:
        """Where the model runs, as status shows it: the engine's host."""
        if self.endpoint is None:
            return None
        port = f":{self.endpoint.port}" if self.endpoint.port else ""
        return f"{self.endpoint.host}{port}"

    @property
    def batch_size(self) -> int:
        return self.engine.batch_size

    @property
    def request_size(self) -> int:
        return self.engine.batch_size  # one HTTP request per call: each batch is written as it arrives

    @property
    def requests_in_flight(self) -> int:
        return 2 * self.engine.concurrency  # a batch waits ready for each connection that frees up

    reads_questions_apart = False  # an engine serves one encoder

    @property
    def alive(self) -> bool:
        return self._started and self._down is None and not self._closed.is_set()

    @property
    def pid(self) -> int | None:
        return None

    @property
    def error(self) -> str | None:
        """Why the engine cannot be used now, if it cannot."""
        return self._down

    def identity(self) -> EmbedderIdentity:
        self.ensure_started()
        return EmbedderIdentity(self.model_id, self.dim or 0, self.provider)

    # -- starting: one probe -------------------------------------------------------------

    def ensure_started(self) -> None:
        """Ask the engine for one vector: it answers, and how wide its vectors are."""
        with self._start_lock:
            if self._closed.is_set():
                raise EmbedderClosed("embedder is closed")
            if self.alive:
                return
            if self._endpoint_error is not None:
                self._mark_down(str(self._endpoint_error))
                raise self._endpoint_error
            try:
                vector = self._post(self._client(query=True), ["fathom: are you there?"], PROBE_POLICY)[0]
            except EmbedderInputError as exc:
                self._mark_down(str(exc))
                raise EmbedderRefused(f"the engine at {self.engine.url} refused model {self.engine.model!r}: "
                                      f"{exc}") from None
            except EmbedderError as exc:
                self._mark_down(str(exc))
                raise
            with self._lock:
                self.dim = len(vector) // 4
                self._started, self._down = True, None

    # -- embedding -----------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> Future:
        """Future of one float32 vector (bytes) per text, in order: one request."""
        future: Future = Future()
        if not texts:
            future.set_result([])
            return future
        with self._lock:
            if self._closed.is_set():
                future.set_exception(EmbedderClosed("embedder is closed"))
                return future
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.engine.concurrency, thread_name_prefix="fathom-engine")
            self._pending.add(future)
            pool = self._pool
        pool.submit(self._embed_batch, list(texts), future)
        return future

    def _embed_batch(self, texts: list[str], future: Future) -> None:
        try:
            vectors = self._post(self._client(query=False), texts, self.retry)
        except EmbedderError as exc:
            if not isinstance(exc, EmbedderInputError):
                self._mark_down(str(exc))
            _settle(future, error=exc)
        except Exception as exc:  # noqa: BLE001 - whatever it was, the batch stays pending, and says why
            _settle(future, error=EmbedderError(f"engine request failed: {exc}"))
        else:
            self._up()
            _settle(future, result=vectors)
        finally:
            with self._lock:
                self._pending.discard(future)

    def embed_query(self, text: str, timeout: float = 30.0, *, as_code: bool = False) -> bytes:
        """One query's vector, on the query connection, tried once: a search
        that cannot have it answers lexically. An engine serves one encoder:
        a question and a snippet are read alike."""
        if self._down is not None and time.monotonic() - self._down_at < KNOWN_DOWN_SECONDS:
            raise EmbedderError(self._down)
        once = RetryPolicy(attempts=1, timeout=min(timeout, QUERY_TIMEOUT_SECONDS))
        try:
            vector = self._post(self._client(query=True), [text], once)[0]
        except EmbedderError as exc:
            self._mark_down(str(exc))
            raise
        self._up()
        return vector

    # -- one request, tried again as the policy allows -------------------------------------

    def _post(self, client: httpx.Client, texts: list[str], policy: RetryPolicy) -> list[bytes]:
        if self.endpoint is None:
            raise self._endpoint_error or EmbedderRefused("no embedding.url")
        payload = {"model": self.engine.model, "input": texts, "encoding_format": "float"}
        delay, why = policy.first_delay, "engine unreachable"
        for attempt in range(policy.attempts):
            if self._closed.is_set():
                raise EmbedderClosed("embedder is closed")
            wait = None
            try:
                response = client.post(self.endpoint, json=payload, timeout=policy.timeout)
                body = response.content
            except httpx.TimeoutException:
                why = f"engine unreachable: no answer from {self.engine.url} within {policy.timeout:.0f} s"
            except httpx.ConnectError as exc:
                if _is_tls(exc):
                    raise EmbedderRefused(f"TLS failed with {self.engine.url}: {exc}") from None
                why = f"engine unreachable: cannot connect to {self.engine.url} ({exc})"
            except httpx.TransportError as exc:  # a connection cut mid-answer, among others
                why = f"engine unreachable: the connection to {self.engine.url} broke ({exc or type(exc).__name__})"
            else:
                status = response.status_code
                if status == 200:
                    return self._vectors(body, len(texts))
                if status in (401, 403):
                    raise EmbedderRefused(f"the engine at {self.engine.url} refused the request ({status}): "
                                          "check FATHOM_EMBED_API_KEY")
                if status == 404:
                    raise EmbedderRefused(f"no embeddings endpoint at {self.endpoint} (404): embedding.url is "
                                          "the API's base URL, which often ends in /v1")
                if status not in RETRIED_STATUSES:
                    raise EmbedderInputError(f"the engine answered {status}: {_excerpt(body)}")
                why = f"engine busy: {status} from {self.engine.url}"
                wait = _retry_after(response.headers.get("retry-after"), policy.longest_retry_after)
            if attempt + 1 < policy.attempts:
                pause = wait if wait is not None else min(delay, policy.longest_delay) * random.uniform(0.5, 1.0)
                delay *= 2
                if self._closed.wait(pause):
                    raise EmbedderClosed("embedder is closed")
        raise EmbedderError(why)

    def _vectors(self, body: bytes, count: int) -> list[bytes]:
        """The answer's vectors in request order, unit length, as float32 bytes."""
        try:
            items = json.loads(body)["data"]
            items = sorted(items, key=lambda item: item.get("index", 0))
            vectors = [_floats(item["embedding"]) for item in items]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EmbedderInputError(f"the engine's answer is not an embeddings list ({exc}): "
                                     f"{_excerpt(body)}") from None
        if len(vectors) != count:
            raise EmbedderInputError(f"the engine answered {len(vectors)} vectors for {count} texts")
        widths = {len(v) for v in vectors}
        if len(widths) != 1 or 0 in widths:
            raise EmbedderInputError(f"the engine answered vectors of widths {sorted(widths)}")
        width = widths.pop()
        if self.dim is not None and width != self.dim:
            raise EmbedderRefused(f"the engine now answers {width}-dim vectors for {self.engine.model!r}, "
                                  f"{self.dim}-dim before: has the model behind {self.engine.url} changed?")
        out = []
        for v in vectors:
            norm = math.sqrt(math.fsum(x * x for x in v))
            if not math.isfinite(norm):
                raise EmbedderInputError("the engine answered a vector that is not finite")
            out.append(struct.pack(f"{width}f", *(x / norm for x in v)) if norm else struct.pack(f"{width}f", *v))
        return out

    # -- connections and state ---------------------------------------------------------------

    def _client(self, query: bool) -> httpx.Client:
        with self._lock:
            if self._closed.is_set():
                raise EmbedderClosed("embedder is closed")
            attr = "_queries" if query else "_documents"
            client = getattr(self, attr)
            if client is None:
                size = 2 if query else self.engine.concurrency
                # trust_env=False: no proxy from the environment ever sees the key or the code.
                client = httpx.Client(headers=self._headers, trust_env=False, follow_redirects=False,
                                      limits=httpx.Limits(max_connections=size, max_keepalive_connections=size))
                setattr(self, attr, client)
            return client

    def _mark_down(self, why: str) -> None:
        with self._lock:
            self._down, self._down_at = why, time.monotonic()

    def _up(self) -> None:
        with self._lock:
            if self._started:
                self._down = None

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            pool, self._pool = self._pool, None
            clients = [c for c in (self._documents, self._queries) if c is not None]
            self._documents = self._queries = None
            pending, self._pending = list(self._pending), set()
        for future in pending:
            _settle(future, error=EmbedderClosed("embedder is closed"))
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for client in clients:
            client.close()


def _settle(future: Future, result=None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # already failed by close()
        pass


def _floats(embedding) -> list[float]:
    if isinstance(embedding, str):  # base64 float32, from a server that ignores encoding_format
        raw = base64.b64decode(embedding)
        return list(struct.unpack(f"{len(raw) // 4}f", raw))
    return [float(x) for x in embedding]


def _retry_after(value: str | None, longest: float) -> float | None:
    """Seconds from a `Retry-After` header (seconds, or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), longest)


def _is_tls(exc: Exception) -> bool:
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}".lower()
    return "ssl" in text or "certificate" in text or "tls" in text


def _excerpt(body: bytes) -> str:
    return body[:300].decode("utf-8", "replace").strip() or "(empty body)"
