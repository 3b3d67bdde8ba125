"""The engine layer: the one way the protocols (LSP, CLI, MCP) reach the pipeline."""
from .engine import Engine, EmbedderFactory, local_embedder
from .service import WorkspaceService

__all__ = ["EmbedderFactory", "Engine", "WorkspaceService", "local_embedder"]
