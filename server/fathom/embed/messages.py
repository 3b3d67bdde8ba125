"""What travels on the pipe between `local.LocalEmbedder` and `process.main`."""
from __future__ import annotations

from dataclasses import dataclass


# Parent -> child.
@dataclass(frozen=True)
class EmbedRequest:
    request_id: int
    texts: list[str]
    query: bool  # a query: encoded at once on its own thread, at normal priority


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
