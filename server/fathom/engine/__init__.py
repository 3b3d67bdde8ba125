"""The engine layer: the one way the protocols (LSP, CLI, MCP) reach the pipeline.

A protocol layer imports from here (and `results`, `config`) only: the engine, the
workspace it serves, the progress interface it reports through, and its errors.
"""
from ..index.progress import Progress
from ..models import RunStats, SearchHit, SymbolHit
from ..signals import Terminated, serve_until_signalled, terminate_as_interrupt
from ..search import InvalidFilter, NoDefinition, SearchFilters, SearchResult
from ..share.seed import SeedError
from ..store import IndexUnwritable, StoreError
from ..textsplit import has_words
from .engine import EmbedderFactory, Engine, NotBuiltUnasked, default_embedder
from .service import FIRST_INDEX_WAIT_S, WorkspaceClosed, WorkspaceService

__all__ = [
    "FIRST_INDEX_WAIT_S", "EmbedderFactory", "Engine", "InvalidFilter", "NoDefinition", "NotBuiltUnasked", "SearchFilters", "IndexUnwritable", "Progress", "RunStats", "SearchHit", "SearchResult", "SeedError", "StoreError",
    "SymbolHit", "Terminated", "WorkspaceClosed", "WorkspaceService", "default_embedder", "has_words", "serve_until_signalled", "terminate_as_interrupt",
]
