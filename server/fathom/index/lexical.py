"""What the full-text index stores of each chunk: identifiers split into words
(`textsplit`), so `parseHttpDate` is found by "http date". Made by the run just
before it writes a batch: made in the chunk workers instead, the extra text
pickled back cost more than it saved (django's phase 1: 2.32 -> 2.39 s)."""
from __future__ import annotations

from dataclasses import replace

from ..models import ChunkedFile, LexicalText
from ..textsplit import expand_identifiers


def with_lexical(result: ChunkedFile) -> ChunkedFile:
    if not result.chunks:
        return result
    path_words = expand_identifiers(result.relpath.replace("/", " ").replace(".", " "))
    lexical = [
        LexicalText(expand_identifiers(f"{c.container} {c.name}"), path_words, expand_identifiers(c.text))
        for c in result.chunks
    ]
    return replace(result, lexical=lexical)
