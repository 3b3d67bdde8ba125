"""The JSON shapes of results, shared by the CLI's --json and the LSP requests."""
from __future__ import annotations

from pathlib import Path

from .models import SearchHit, SymbolHit


def file_uri(root: Path, relpath: str) -> str:
    return (root / relpath).as_uri()


def search_hit_json(root: Path, hit: SearchHit) -> dict:
    return {
        "path": hit.relpath,
        "uri": file_uri(root, hit.relpath),
        "range": hit.range.to_lsp(),
        "name": hit.name,
        "container": hit.container,
        "kind": hit.kind.name,
        "score": hit.score,
        "snippet": hit.snippet,
    }


def symbol_hit_json(root: Path, hit: SymbolHit) -> dict:
    return {
        "name": hit.name,
        "kind": hit.kind.name,
        "container": hit.container,
        "path": hit.relpath,
        "uri": file_uri(root, hit.relpath),
        "range": hit.range.to_lsp(),
    }
