"""The engine layer: the one way the protocols (LSP, CLI, MCP) reach the pipeline."""
from .engine import Engine, EmbedderFactory, local_embedder
from .service import WorkspaceClosed, WorkspaceService

__all__ = ["EmbedderFactory", "Engine", "WorkspaceClosed", "WorkspaceService", "local_embedder"]
