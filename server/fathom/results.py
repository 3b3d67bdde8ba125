"""How results are shown, shared by the doors: the JSON shapes of the CLI's --json and the
LSP requests, and a definition's signature read from its file (the CLI and MCP)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .models import SearchHit, SymbolHit

if TYPE_CHECKING:  # the search package is not loaded for a symbol lookup's JSON
    from .search import SearchResult


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


# A symbol's signature: the line naming it, looked for this far into the definition, cut at this length.
SIGNATURE_SEARCH_LINES = 12
SIGNATURE_CHARS = 200
# A comment at a line's end (`# noqa`, `// keep`), after a space: not part of how to call it.
_TRAILING_COMMENT = re.compile(r"\s+(?:#|//)(?!\S*[\"']).*$")


def file_lines(root: Path, relpath: str) -> list[str] | None:
    """A workspace file's lines as it has them now; None if it cannot be read
    (or the path leads out of the workspace)."""
    try:
        path = (root / relpath).resolve()
        path.relative_to(root.resolve())
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().split("\n")
    except (OSError, ValueError):
        return None


def signature_of(lines: list[str] | None, hit: SymbolHit) -> str:
    """The line that names a definition (past its decorators and doc comments), with
    the lines its parameter list runs on to, on one line: an agent sees how to call
    it without reading the file."""
    if not lines:
        return ""
    name, start = hit.name, hit.range.start_line
    last = min(hit.range.end_line, start + SIGNATURE_SEARCH_LINES)
    first = next((i for i in range(start, last + 1) if i < len(lines) and name in lines[i]), start)
    parts, depth = [], 0
    for text in lines[first:last + 1]:
        text = _TRAILING_COMMENT.sub("", text).strip()
        parts.append(text)
        depth += text.count("(") + text.count("[") - text.count(")") - text.count("]")
        if depth <= 0:
            break
    line = ""
    for part in (p for p in parts if p):
        # Lines are joined by a space, except just inside the brackets they open and close;
        # the code on each line is kept as it is written.
        line += part if not line or line.endswith(("(", "[")) or part.startswith((")", "]")) else " " + part
    return line if len(line) <= SIGNATURE_CHARS else line[:SIGNATURE_CHARS - 1] + "…"


def signatures(root: Path, hits: list[SymbolHit]) -> list[str]:
    """Each symbol's `signature_of`, each file read once."""
    files: dict[str, list[str] | None] = {}
    for hit in hits:
        if hit.relpath not in files:
            files[hit.relpath] = file_lines(root, hit.relpath)
    return [signature_of(files[hit.relpath], hit) for hit in hits]


def partial_note(result: SearchResult) -> str | None:
    """Why an answer is partial, in the words every door shows; None when it is whole."""
    if result.words_only:
        return "partial: ranked by names and words alone, without the model"
    if result.partial:
        return "partial: some code is not embedded yet, so these lean on names and words"
    return None
