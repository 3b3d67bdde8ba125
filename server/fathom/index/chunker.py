"""Stage 3: turn one file's text into symbols and chunks.

Runs inside the chunk pool's worker processes (see `pool`), so it must stay
light to import: no torch, no SQL. `chunk_source` is a pure function of the
text: the tree-sitter side is `definitions`, the token window `fit`, and no
state of one file is kept for the next.
"""
from __future__ import annotations

import re

from ..models import Chunk, Range, Symbol, SymbolKind
from .definitions import Def, Grammars, share_lines_once, sibling_before
from .names import MAX_NAME
from .fit import Fitter, SourceLines
from .languages import language_for
from .tokens import TokenCounter

WINDOW_LINES = 40
# How much of a file's start tells its language where its name does not (`#!`, a C++ `.h`).
LANGUAGE_HEAD_CHARS = 65536
# CommonMark: a heading is one to six `#` and then a space or the line's end;
# a fence is three backticks or tildes, up to three spaces in.
_ATX_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_FENCE = re.compile(r" {0,3}(?:```|~~~)")


def _documents(node) -> bool:
    """Whether a node above a definition may be its documentation: a comment (Haskell's
    Haddock ones are `haddock` nodes), Elixir's attributes (`@doc`, `@spec`), a Julia
    docstring."""
    if "comment" in node.type or node.type == "haddock":
        return True
    if node.type == "unary_operator":
        return node.text.startswith((b"@doc", b"@spec", b"@impl"))
    return node.type == "string_literal" and node.parent is not None \
        and node.parent.type in ("source_file", "block", "module_definition")


# What a grammar puts beside a definition rather than in it, though it is the
# definition's: Rust's `#[inline]`, Dart's `@override`, a TypeScript member's decorator.
ATTACHED_ABOVE = frozenset({"attribute_item", "annotation", "decorator"})


class Chunker:
    def __init__(self, counter: TokenCounter, max_tokens: int):
        self.counter = counter
        self.fitter = Fitter(counter, max_tokens)
        self.grammars = Grammars()

    def chunk_source(self, relpath: str, text: str) -> tuple[str, list[Symbol], list[Chunk]]:
        lang = language_for(relpath, text[:LANGUAGE_HEAD_CHARS])
        source = SourceLines.of(text)
        last = len(source.lines) - 1
        if lang is None or not text.strip():
            return lang or "text", [], self._windows(source, relpath, 0, last)
        try:
            symbols, chunks = self._chunk_code(source, relpath, lang)
        except Exception:  # a grammar's failure costs the file its symbols, not its text
            symbols = []
            chunks = self._windows(source, relpath, 0, last)
        return lang, symbols, chunks

    # -- code ------------------------------------------------------------------------

    def _chunk_code(self, source: SourceLines, relpath: str, lang: str):
        data = source.text.encode("utf-8")
        lines = source.lines
        line_bytes = data.split(b"\n")
        defs = self.grammars.definitions(lang, data, relpath)

        def char_col(line: int, byte_col: int) -> int:
            raw = line_bytes[line][:byte_col] if line < len(line_bytes) else b""
            return len(raw.decode("utf-8", "replace").encode("utf-16-le")) // 2

        def node_range(node) -> Range:
            (sl, sc), (el, ec) = node.start_point, node.end_point
            return Range(sl, char_col(sl, sc), el, char_col(el, ec))

        def span_range(d: Def) -> Range:
            start, (end_line, end_col) = node_range(d.start_node), d.end_point
            return Range(start.start_line, start.start_char, end_line, char_col(end_line, end_col))

        symbols = [
            Symbol(d.name, d.kind, d.qualified_container, span_range(d))
            for d in defs
            if d.spec.symbol
        ]

        share_lines_once(defs)
        chunked = [d for d in defs if d.chunked]
        children: dict[int, list[Def]] = {}
        for d in chunked:
            if d.parent is not None and d.parent.spec.role == "scope":  # a function's chunk keeps its nested ones whole
                children.setdefault(id(d.parent), []).append(d)

        chunks: list[Chunk] = []
        covered = [False] * len(lines)
        windowed: set[int] = set()  # functions too long for one chunk
        for d in chunked:
            nested = d.parent is not None and d.parent.spec.role == "function"
            if nested and id(d.parent) not in windowed:
                # A function that fits one chunk shows its nested ones whole: a chunk
                # of their own would only crowd it (and its neighbours) out of a
                # page. In one cut into windows, a nested function is found whole,
                # by its own name, instead of in whichever windows hold its lines.
                continue
            first = d.start_node
            start = self._leading_comment_start(first, lines)
            end = d.end_point[0]
            if d.parent is None:
                for i in range(start, min(end, len(lines) - 1) + 1):
                    covered[i] = True
            body = self._collapsed(lines, start, end, children.get(id(d), []))
            rng = Range(start, 0 if start < first.start_point[0] else char_col(start, first.start_point[1]),
                        end, char_col(end, d.end_point[1]))
            fitted = self.fitter.fit(source, relpath, d.name, d.kind, d.qualified_container, rng, body)
            if len(fitted) > 1:
                windowed.add(id(d))
            chunks.extend(fitted)

        # Module-level code outside every definition: imports, constants, scripts.
        block_start = None
        for i in range(len(lines) + 1):
            inside = i < len(lines) and not covered[i]
            if inside and block_start is None:
                block_start = i
            elif not inside and block_start is not None:
                chunks.extend(self._module_block(source, relpath, block_start, i - 1))
                block_start = None
        chunks.sort(key=lambda c: (c.range.start_line, c.range.end_line))
        return symbols, chunks

    @staticmethod
    def _leading_comment_start(node, lines: list[str]) -> int:
        """Doc comments above a definition belong to its chunk: those that touch it,
        and a `/**` block a blank line above it (a common JSDoc layout). So do the
        attributes between a doc comment and the definition (ATTACHED_ABOVE); with
        no doc above them they stay out, boilerplate (`#[inline]` on every method)
        that would make a crate's chunks read alike."""
        start = reached = node.start_point[0]
        prev = sibling_before(node)
        while prev is not None and (_documents(prev) or prev.type in ATTACHED_ABOVE):
            gap = reached - 1 - prev.end_point[0]
            if gap > 1 or (gap == 1 and not (lines[prev.start_point[0]].lstrip().startswith("/**")
                                             and not lines[reached - 1].strip())):
                break
            reached = prev.start_point[0]
            if prev.type not in ATTACHED_ABOVE:
                start = reached
            prev = prev.prev_named_sibling
        return start

    @staticmethod
    def _collapsed(lines: list[str], start: int, end: int, nested: list[Def]) -> list[tuple[int, str]]:
        """The definition's own lines, each nested chunked definition shown by its
        first line only (it has a chunk of its own)."""
        hidden: set[int] = set()
        for child in nested:
            c_start, c_end = child.node.start_point[0], child.end_point[0]
            if c_start > start and c_end <= end:
                hidden.update(range(c_start + 1, c_end + 1))
        out: list[tuple[int, str]] = []
        for i in range(start, min(end, len(lines) - 1) + 1):
            if i not in hidden:
                out.append((i, lines[i]))
            elif i - 1 not in hidden:
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                out.append((i, indent + "..."))
        return out

    def _module_block(self, source: SourceLines, relpath: str, start: int, end: int) -> list[Chunk]:
        lines = source.lines
        while start <= end and not lines[start].strip():
            start += 1
        while end >= start and not lines[end].strip():
            end -= 1
        if start > end:
            return []
        name = relpath.rsplit("/", 1)[-1]
        body = [(i, lines[i]) for i in range(start, end + 1)]
        rng = Range(start, 0, end, len(lines[end]))
        return self.fitter.fit(source, relpath, name, SymbolKind.Module, "", rng, body)

    # -- plain text ------------------------------------------------------------------

    def _windows(self, source: SourceLines, relpath: str, start: int, end: int) -> list[Chunk]:
        """Markdown, YAML, unknown text: sections at headings, then line windows."""
        lines = source.lines
        name = relpath.rsplit("/", 1)[-1]
        chunks: list[Chunk] = []
        section_start, title = start, name
        markdown = relpath.endswith((".md", ".markdown", ".mdx"))
        fenced = False
        for i in range(start, end + 2):
            # A `# comment` in a fenced shell or Python block is not a heading:
            # it would cut the section and retitle its rest after the comment.
            if markdown and i <= end and _FENCE.match(lines[i]):
                fenced = not fenced
            heading = markdown and i <= end and not fenced and _ATX_HEADING.match(lines[i]) is not None
            if i == end + 1 or (heading and i > section_start):
                s = section_start
                while s < i:
                    e = min(i - 1, s + WINDOW_LINES - 1)
                    body = [(j, lines[j]) for j in range(s, e + 1)]
                    if any(text.strip() for _, text in body):
                        rng = Range(s, 0, e, len(lines[e]))
                        chunks.extend(self.fitter.fit(source, relpath, title, SymbolKind.File, "", rng, body))
                    s = e + 1
                section_start = i
            if heading:
                title = lines[i].lstrip("#").strip()[:MAX_NAME] or name
        return chunks

    # -- fitting the model's window --------------------------------------------------
