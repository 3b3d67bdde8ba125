"""The stdio JSON-RPC client the tests and the benchmarks share (`benchmarks/harness.py`)."""
from benchmarks.harness import LspClient, RpcError

__all__ = ["LspClient", "RpcError"]
