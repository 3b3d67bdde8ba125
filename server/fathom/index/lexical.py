"""What the full-text index stores of each chunk: identifiers split into words
(`textsplit`), so `parseHttpDate` is found by "http date". Made in the chunk
worker, beside the chunks, so the one process that writes the index only writes."""
from __future__ import annotations

from dataclasses import replace

from ..models import ChunkedFile, LexicalText
from ..textsplit import expand_identifiers


def with_lexical(result: ChunkedFile) -> ChunkedFile:
    path_words = expand_identifiers(result.relpath.replace("/", " ").replace(".", " "))
    lexical = [
        LexicalText(expand_identifiers(f"{c.container} {c.name}"), path_words, expand_identifiers(c.text))
        for c in result.chunks
    ]
    return replace(result, lexical=lexical)
