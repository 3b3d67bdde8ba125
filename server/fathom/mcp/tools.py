"""What the MCP tools do, apart from the protocol: arguments checked (a bad one is
`ToolArgumentError`, which the server turns into a tool error), the engine asked,
and the answer written as text an agent reads, held under a character budget."""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from ..engine import FIRST_INDEX_WAIT_S, Engine, InvalidFilter, NoDefinition, SearchFilters, SearchHit, SearchResult, has_words
from ..results import file_lines, partial_note, signatures

DEFAULT_MAX_CHARS = 16_000  # well inside the tool-result limits of Claude Code, Cursor and Copilot
MOST_CHARS = 200_000
LEAST_CHARS = 500
MOST_RESULTS = 50


class ToolArgumentError(ValueError):
    """An argument the agent can correct: the message says how."""


class FathomTools:
    def __init__(self, engine: Engine, root: Path):
        self.engine = engine
        self.root = Path(root).resolve()

    # -- the tools -------------------------------------------------------------------------

    def search_code(self, query: str, limit: int = 10, paths: list[str] | None = None,
                    include_tests: bool | None = None, max_chars: int = DEFAULT_MAX_CHARS,
                    language: list[str] | str | None = None, kind: list[str] | str | None = None,
                    exclude: list[str] | None = None) -> str:
        query = (query or "").strip()
        if not query:
            raise ToolArgumentError("query is empty: describe what the code does, e.g. "
                                    "'where are auth headers stripped on redirect'")
        if not has_words(query):
            raise ToolArgumentError(f"query {query!r} has no words: search_code matches words, names and meaning; "
                                    "describe what the code does")
        limit, max_chars = _limit(limit), _budget(max_chars)
        globs = [self._glob(p) for p in paths or []]
        leave_out = [self._glob(p) for p in exclude or []]
        try:
            filters = SearchFilters.parse(language=language, kind=kind, paths=globs, exclude=leave_out)
        except InvalidFilter as bad:
            raise ToolArgumentError(str(bad)) from None
        result = self.engine.search(self.root, query, limit, include_tests=include_tests, filters=filters,
                                    wait_for_answer=FIRST_INDEX_WAIT_S)
        return self._hits_text(f"results for {query!r}", result, max_chars)

    def find_symbol(self, name: str, limit: int = 20) -> str:
        name = (name or "").strip()
        if not name:
            raise ToolArgumentError("name is empty: give a symbol name or part of one, e.g. 'rebuild_auth' or 'RA'")
        hits = self.engine.symbols(self.root, name, _limit(limit), wait_for_answer=FIRST_INDEX_WAIT_S)
        if not hits:
            return f"no symbol matches {name!r}"
        lines = [f"{len(hits)} symbols matching {name!r}:"]
        for h, signature in zip(hits, signatures(self.root, hits)):
            qualified = f"{h.container}.{h.name}" if h.container else h.name
            line = f"{h.relpath}:{h.range.start_line + 1}  {h.kind.name.lower()} {qualified}"
            lines.append(f"{line}  — {signature}" if signature else line)
        return "\n".join(lines)

    def similar_code(self, path: str | None = None, line: int | None = None, code: str | None = None,
                     limit: int = 10, max_chars: int = DEFAULT_MAX_CHARS) -> str:
        limit, max_chars = _limit(limit), _budget(max_chars)
        if code is not None and code.strip():
            if path is not None or line is not None:
                raise ToolArgumentError("give either code, or path and line, not both")
            result = self.engine.similar(self.root, text=code, limit=limit, wait_for_answer=FIRST_INDEX_WAIT_S)
            return self._hits_text("definitions like the code given", result, max_chars)
        if path is None or line is None:
            raise ToolArgumentError("give code (a snippet), or path and line (1-based) of a definition")
        if isinstance(line, bool) or not isinstance(line, int) or line < 1:
            raise ToolArgumentError(f"line must be a line number from 1, not {line!r}")
        relpath = self._relpath(path)
        try:
            result = self.engine.similar(self.root, relpath=relpath, line=line - 1, limit=limit,
                                         wait_for_answer=FIRST_INDEX_WAIT_S)
        except NoDefinition as nothing:
            raise ToolArgumentError(f"{nothing}: point at a line inside a function, method or class") from None
        return self._hits_text(f"definitions like the one at {relpath}:{line}", result, max_chars)

    def index_status(self) -> str:
        status = self.engine.status(self.root)
        run = status.get("last_run") or {}
        words = (f"{status['files']:,} files, {status['chunks']:,} chunks, "
                 f"{status['pending']:,} waiting for vectors; state {status.get('state', 'not open')}; "
                 f"model {status['model']} ({status['provider']})")
        if run:
            words += f"; last run embedded {run.get('embedded', 0):,} texts in {run.get('seconds', 0):.1f} s"
        return words + "\n" + json.dumps(status, indent=1, default=str)

    # -- arguments ---------------------------------------------------------------------------

    def _glob(self, pattern: str) -> str:
        """A path glob relative to the workspace; one that climbs out of it is refused."""
        if not isinstance(pattern, str) or not pattern.strip():
            raise ToolArgumentError("paths holds an empty pattern")
        pattern = pattern.strip()
        candidate = Path(pattern)
        if candidate.is_absolute():
            try:
                pattern = candidate.resolve().relative_to(self.root).as_posix()
            except ValueError:
                raise ToolArgumentError(f"{pattern!r} is outside the workspace {self.root}") from None
        if ".." in PurePosixPath(pattern).parts:
            raise ToolArgumentError(f"{pattern!r} climbs out of the workspace: give globs relative to {self.root}")
        return pattern

    def _relpath(self, path: str) -> str:
        if not isinstance(path, str) or not path.strip():
            raise ToolArgumentError("path is empty")
        full = (self.root / path.strip()).resolve()
        try:
            relpath = full.relative_to(self.root).as_posix()
        except ValueError:
            raise ToolArgumentError(f"{path!r} is outside the workspace {self.root}") from None
        if not full.is_file():
            raise ToolArgumentError(f"no file {relpath} in the workspace")
        return relpath

    # -- answers -------------------------------------------------------------------------------

    def _hits_text(self, title: str, result: SearchResult, max_chars: int) -> str:
        if not result.hits:
            note = " (the index is still being built, or embedding is down: try again shortly)" if result.partial else ""
            return f"no {title}{note}"
        intro = f"{len(result.hits)} {title}"
        note = partial_note(result)
        if note:
            intro += f" ({note})"
        heads = [self._head(i, h) for i, h in enumerate(result.hits, 1)]
        bodies = [self._code(h) for h in result.hits]
        fences = len("\n```\n```\n") + 2
        room = max_chars - len(intro) - sum(len(h) + fences for h in heads)
        shares = _fair_shares([len(b) for b in bodies], max(0, room))
        parts = [intro]
        for head, body, share, hit in zip(heads, bodies, shares, result.hits):
            parts.append(head)
            parts.append("```\n" + _trim(body, share, hit) + "\n```")
        return "\n".join(parts)[:max_chars]

    @staticmethod
    def _head(rank: int, hit: SearchHit) -> str:
        qualified = f"{hit.container}.{hit.name}" if hit.container else hit.name
        return (f"{rank}. {hit.relpath}:{hit.range.start_line + 1}-{hit.range.end_line + 1}  "
                f"{hit.kind.name.lower()} {qualified}  score {hit.score:.3f}")

    def _code(self, hit: SearchHit) -> str:
        """The definition's lines as the file has them now (the snippet if it cannot be read)."""
        lines = file_lines(self.root, hit.relpath)
        if lines is None:
            return hit.snippet
        return "\n".join(lines[hit.range.start_line:hit.range.end_line + 1]) or hit.snippet



def _limit(limit) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MOST_RESULTS:
        raise ToolArgumentError(f"limit must be a whole number from 1 to {MOST_RESULTS}, not {limit!r}")
    return limit


def _budget(max_chars) -> int:
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or not LEAST_CHARS <= max_chars <= MOST_CHARS:
        raise ToolArgumentError(f"max_chars must be from {LEAST_CHARS} to {MOST_CHARS}, not {max_chars!r}")
    return max_chars


def _fair_shares(lengths: list[int], room: int) -> list[int]:
    """Characters for each body: short ones whole, the rest an equal share of what is left."""
    shares = [0] * len(lengths)
    left = room
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for n, i in enumerate(order):
        share = left // (len(order) - n)
        shares[i] = min(lengths[i], share)
        left -= shares[i]
    return shares


def _trim(body: str, share: int, hit: SearchHit) -> str:
    if len(body) <= share:
        return body
    marker = (f"… trimmed: lines {hit.range.start_line + 1}-{hit.range.end_line + 1} of {hit.relpath} "
              "hold the whole definition")
    keep = body[:max(0, share - len(marker) - 1)]
    if "\n" in keep:
        keep = keep[:keep.rindex("\n")]
    return f"{keep}\n{marker}" if keep else marker
