"""Identifier-aware words, shared by what the lexical index stores and what a
query asks, so `parseHttpDate`, `parse_http_date` and "http date" meet."""
from __future__ import annotations

import re

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_WORD = re.compile(r"[A-Za-z0-9]+")

STOPWORDS = frozenset(
    """
    a an and are as at be by can do does for from how i in into is it its of on or that the
    their there this to was we what when where which who why will with you your our us my
    code function method find show get me all any some
    """.split()
)


def clean_query(text: str) -> str:
    """A query as text that can be encoded: lone surrogates (JSON may carry
    them; a shell hands undecodable bytes over as them) become U+FFFD."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def has_words(text: str) -> bool:
    """Whether a query holds a letter or digit: one of only punctuation (`?`,
    `...`) has nothing for the words to match and gives the model nothing to
    read, so any hits it brought back would be arbitrary."""
    return any(ch.isalnum() for ch in text)


def identifier_parts(identifier: str) -> list[str]:
    """`parseHTTPDate2` -> parse, HTTP, Date, 2; snake_case splits on `_`."""
    parts: list[str] = []
    for piece in identifier.split("_"):
        parts.extend(_CAMEL_PART.findall(piece))
    return parts


# identifier -> its parts joined by spaces, "" for an identifier of one part.
_PARTS: dict[str, str] = {}
_PARTS_LIMIT = 200_000


def _parts_text(identifier: str) -> str:
    parts = identifier_parts(identifier)
    return " ".join(parts) if len(parts) > 1 else ""


def expand_identifiers(text: str) -> str:
    """Text for FTS5, followed by the parts of each compound identifier in it
    (once per occurrence, each identifier's parts side by side). The ranking
    reads words and their counts, and phrases only within one identifier, so
    parts at the end rank as they would inline, and the whole pass stays in C
    but for each distinct identifier's first split."""
    identifiers = IDENTIFIER.findall(text)
    try:
        parts = list(map(_PARTS.__getitem__, identifiers))
    except KeyError:
        if len(_PARTS) >= _PARTS_LIMIT:
            _PARTS.clear()
        for identifier in set(identifiers).difference(_PARTS):
            _PARTS[identifier] = _parts_text(identifier)
        parts = list(map(_PARTS.__getitem__, identifiers))
    extra = " ".join(filter(None, parts))
    return f"{text}\n{extra}" if extra else text


def query_terms(query: str) -> list[str]:
    """Lower-cased words of a query, identifiers split, stopwords dropped
    (unless nothing else is left), in first-seen order."""
    words: list[str] = []
    for match in IDENTIFIER.finditer(query):
        token = match.group()
        words.append(token.lower())
        words.extend(p.lower() for p in identifier_parts(token))
    words.extend(w.lower() for w in _WORD.findall(query) if w.isdigit())
    seen: dict[str, None] = {}
    for w in words:
        if w and w not in seen:
            seen[w] = None
    kept = [w for w in seen if w not in STOPWORDS and len(w) > 1]
    return kept or list(seen)
