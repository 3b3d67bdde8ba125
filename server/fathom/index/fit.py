"""Fitting a definition's lines into the model's token window.

A body that fits is one chunk; a longer one becomes consecutive line windows,
each headed by the definition's name and first line (`CONTINUED`), never
truncated. Token counts are the tokenizer's own (`tokens.TokenCounter`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..models import CONTINUED, Chunk, Range, SymbolKind
from .tokens import TokenCounter


@dataclass
class SourceLines:
    """One file's text and lines, with each line's token count computed once
    (one tokenizer pass) the first time a body needs them."""

    text: str
    lines: list[str]
    _counts: list[int] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, text: str) -> "SourceLines":
        return cls(text, text.split("\n"))

    def token_counts(self, counter: TokenCounter) -> list[int]:
        if self._counts is None:
            self._counts = counter.count_per_line(self.text, self.lines)
        return self._counts


class Fitter:
    def __init__(self, counter: TokenCounter, max_tokens: int):
        self.counter = counter
        # [CLS] and [SEP] take two of the model's positions.
        self.max_tokens = max_tokens - 2

    def fit(self, source: "SourceLines", relpath: str, name: str, kind: SymbolKind, container: str, rng: Range,
            body: list[tuple[int, str]]) -> list[Chunk]:
        """The chunks of one definition, section or block: one if it fits the
        model's window, else consecutive line windows, each under the budget."""
        qualified = f"{container}.{name}" if container else name
        # No path in what the model reads: vectors are cached by the hash of that
        # text, and a moved folder or a copied function must find them again.
        # Path words still reach search through the lexical index's path column.
        header = qualified if kind not in (SymbolKind.Module, SymbolKind.File) else ""
        if kind in (SymbolKind.Module, SymbolKind.File) and name != relpath.rsplit("/", 1)[-1]:
            header = name  # a document section's heading
        text = "\n".join(t for _, t in body)
        budget = self.max_tokens - self.counter.count(header) - 1
        if len(text) <= budget:
            return [Chunk(name, kind, container, rng, header, text)]
        counts = self._body_counts(source, body)
        if sum(counts) <= budget:
            return [Chunk(name, kind, container, rng, header, text)]
        # Too long for the model: consecutive line windows, each under the budget.
        signature = body[0][1].strip()[:200]
        cont_header = f"{header}\n{signature}{CONTINUED}" if header else f"{signature}{CONTINUED}"
        cont_budget = max(16, self.max_tokens - self.counter.count(cont_header) - 1)
        parts: list[list[tuple[int, str]]] = [[]]
        used = 0
        for (line_no, line_text), n in zip(body, counts):
            limit = budget if len(parts) == 1 else cont_budget
            if n > cont_budget:  # one enormous line (minified code): cut it
                for piece in self._cut_line(line_text, cont_budget):
                    parts.append([(line_no, piece)])
                parts.append([])
                used = 0
                continue
            if parts[-1] and used + n + 1 > limit:
                parts.append([])
                used = 0
            parts[-1].append((line_no, line_text))
            used += n + 1
        chunks = []
        for i, part in enumerate(p for p in parts if p):
            first, last = part[0][0], part[-1][0]
            part_range = Range(
                first, rng.start_char if first == rng.start_line else 0,
                last, rng.end_char if last == rng.end_line else len(source.lines[last]) if last < len(source.lines) else 0,
            )
            chunks.append(
                Chunk(name, kind, container, part_range, header if i == 0 else cont_header,
                      "\n".join(t for _, t in part))
            )
        return chunks

    def _body_counts(self, source: "SourceLines", body: list[tuple[int, str]]) -> list[int]:
        """Tokens per body line: whole source lines from the file's one
        tokenizer pass, altered ones (a collapsed nested definition) counted alone."""
        lines = source.lines
        counts = source.token_counts(self.counter)
        return [counts[i] if i < len(lines) and t == lines[i] else self.counter.count(t) for i, t in body]

    def _cut_line(self, line: str, budget: int) -> list[str]:
        pieces, i = [], 0
        step = max(8, budget * 2)
        while i < len(line):
            size = step
            while size > 8 and self.counter.count(line[i:i + size]) > budget:
                size = size * 3 // 4
            pieces.append(line[i:i + size])
            i += size
        return pieces
