"""Stage 5: turning texts into vectors, behind one interface (`interface.Embedder`)."""
from .interface import Embedder, EmbedderError, EmbedderIdentity

__all__ = ["Embedder", "EmbedderError", "EmbedderIdentity"]
