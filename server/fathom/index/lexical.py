"""What the full-text index stores of each chunk: identifiers split into words
(`textsplit`), so `parseHttpDate` is found by "http date". Made in the chunk
workers: in the main process it was a third of that process's work, which is
what bounds a large tree's phase 1 (the kernel's drivers/net: main process
38.8 -> 23.6 s of CPU); the extra text pickled back costs the workers less.
The lexicon of large indexes (search/lexicon.py) makes the same fields again
from the stored chunks."""
from __future__ import annotations

from dataclasses import replace

from ..models import ChunkedFile, LexicalText
from ..textsplit import expand_identifiers


def path_words(relpath: str) -> str:
    return expand_identifiers(relpath.replace("/", " ").replace(".", " "))


def lexical_text(words_of_path: str, container: str, name: str, text: str) -> LexicalText:
    return LexicalText(expand_identifiers(f"{container} {name}"), words_of_path, expand_identifiers(text))


def with_lexical(result: ChunkedFile) -> ChunkedFile:
    if not result.chunks:
        return result
    words = path_words(result.relpath)
    return replace(result, lexical=[lexical_text(words, c.container, c.name, c.text) for c in result.chunks])
