"""What the full-text index stores of each chunk: identifiers split into words
(`textsplit`), so `parseHttpDate` is found by "http date". Made in the chunk
workers: in the main process it was a third of that process's work, which is
what bounds a large tree's phase 1 (the kernel's drivers/net: main process
38.8 -> 23.6 s of CPU); the extra text pickled back costs the workers less."""
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
