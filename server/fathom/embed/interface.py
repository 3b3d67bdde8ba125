"""The one interface every embedding provider implements: the local embedding
process today, remote serving engines next, and the tests' fake. The pipeline
and the engine see only this."""
from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class EmbedderError(RuntimeError):
    """The provider cannot embed now (not started, dead, closed, unreachable).
    Texts it was given stay pending in the index, so nothing is lost."""


class EmbedderClosed(EmbedderError):
    """Closed on purpose (the server is shutting down, a setting changed): not a
    fault to report, and nothing to retry."""


class EmbedderInputError(EmbedderError):
    """The provider is fine but could not encode these texts."""


class EmbedderRefused(EmbedderError):
    """Trying again cannot help until the user changes something: a serving
    engine refused the API key, has no embeddings endpoint at that URL, failed
    TLS, or answered vectors of another width than before."""


@dataclass(frozen=True)
class EmbedderIdentity:
    """What vectors from this provider are comparable with: an index keeps the
    vectors of one identity (model and dimension) and recomputes on a change."""

    model_id: str
    dim: int
    provider: str  # "local" (this machine's embedding process), or a remote engine's kind


@runtime_checkable
class Embedder(Protocol):
    @property
    def model_id(self) -> str:
        """The model's name, known before it is loaded."""

    @property
    def dim(self) -> int | None:
        """Vector width, known once started."""

    @property
    def device(self) -> str | None:
        """Where the model runs ("cpu", "cuda", a URL's host…), once started."""

    @property
    def batch_size(self) -> int:
        """Texts the provider encodes at once: the pipeline sends a few of these per request."""

    @property
    def request_size(self) -> int:
        """Texts the pipeline hands over per `embed_documents` call."""

    @property
    def requests_in_flight(self) -> int:
        """Calls the pipeline keeps outstanding: enough to keep the provider busy
        while the vectors of finished ones are written."""

    @property
    def alive(self) -> bool: ...

    @property
    def reads_questions_apart(self) -> bool:
        """Questions are read by an encoder of their own (`bert.QUESTION_LAYERS`),
        known once started: `embed_query(as_code=True)` is then the other reading."""

    @property
    def pid(self) -> int | None:
        """The local process serving it, if any."""

    def identity(self) -> EmbedderIdentity:
        """Model, dimension and provider; starts the provider if needed."""

    def ensure_started(self) -> None:
        """Start the provider if it is not running and wait until it answers; raises EmbedderError."""

    def embed_documents(self, texts: list[str]) -> Future:
        """Future of one float32 vector (bytes) per text, in order; fails with EmbedderError."""

    def embed_query(self, text: str, timeout: float = 30.0, *, as_code: bool = False) -> bytes:
        """One query's vector, ahead of any document batch; raises EmbedderError.
        A question is read by the model's question encoder where it has one
        (`bert.QUESTION_LAYERS`); `as_code`: a snippet searched for its like,
        read as the index's own texts are."""

    def close(self) -> None: ...
