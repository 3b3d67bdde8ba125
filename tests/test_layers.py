"""The layering ARCHITECTURE.md promises, checked on the source: which package
may import what. A protocol layer (lsp/, cli/) reaches the pipeline only through
the engine; only store/ knows SQL; only lsp/ knows JSON-RPC; only the embedding
process imports torch."""
import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "server" / "fathom"


@functools.cache  # every test reads the whole package: parsed once
def imports_of(path: Path) -> frozenset[str]:
    """Absolute names of every module `path` imports (relative ones resolved)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return frozenset(names)


SOURCES = sorted(PACKAGE.rglob("*.py"))


def modules_importing(prefix: str) -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in SOURCES
            if any(n == prefix or n.startswith(prefix + ".") for n in imports_of(p))}


@pytest.mark.parametrize("layer", ["lsp", "cli", "mcp"])
def test_protocol_layers_reach_the_pipeline_only_through_the_engine(layer):
    allowed = ("fathom.engine", "fathom.results", "fathom.config", f"fathom.{layer}")
    if layer == "cli":
        # `fathom serve` and `fathom mcp` hand the process over to their layers.
        allowed += ("fathom.lsp.server", "fathom.mcp.server")
    for path in (PACKAGE / layer).glob("*.py"):
        inside = {n for n in imports_of(path) if n.startswith("fathom.")}
        below = {n for n in inside if not n.startswith(allowed) and n not in ("fathom.__version__",)}
        assert not below, (path.name, below)


def test_only_the_store_knows_sql():
    assert modules_importing("apsw") <= {"store/database.py", "store/store.py", "store/snapshot.py"}


def test_only_the_engine_client_the_seed_download_the_query_door_and_the_agents_listener_open_sockets():
    assert modules_importing("httpx") | modules_importing("socket") <= {
        "embed/remote.py", "share/download.py", "engine/door.py", "mcp/server.py"}


def test_only_mcp_knows_the_mcp_sdk():
    assert {p for p in modules_importing("mcp") if not p.startswith("mcp/")} == set()


def test_only_lsp_knows_json_rpc():
    assert modules_importing("pygls") | modules_importing("lsprotocol") <= {
        "lsp/server.py", "lsp/progress.py"}


def test_only_the_embedding_process_imports_torch():
    assert modules_importing("torch") | modules_importing("sentence_transformers") <= {
        "embed/process.py", "embed/bert.py"}
