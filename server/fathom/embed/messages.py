"""What travels on the pipe between `local.LocalEmbedder` and `process.main`."""
from __future__ import annotations

from dataclasses import dataclass


# Parent -> child.
@dataclass(frozen=True)
class EmbedRequest:
    request_id: int
    texts: list[str]
    query: bool  # a query: encoded at once on its own thread, at normal priority
    question: bool = False  # a question in words: the model's question encoder, where it has one


@dataclass(frozen=True)
class Stop:
    pass


# Child -> parent.
@dataclass(frozen=True)
class Ready:
    dim: int
    device: str
    backend: str  # what runs the model: "torch" alone or "sentence-transformers"
    batch_size: int  # texts encoded at once on this device
    warning: str = ""  # loaded, but not all of it: for the log
    questions: bool = False  # questions are read by the model's question layers


@dataclass(frozen=True)
class LoadFailed:
    error: str


@dataclass(frozen=True)
class Failed:
    request_id: int
    error: str  # the model could not encode these texts; the process goes on serving


@dataclass(frozen=True)
class Vectors:
    request_id: int
    raw: bytes  # float32 vectors, one per text, back to back
