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


def identifier_parts(identifier: str) -> list[str]:
    """`parseHTTPDate2` -> parse, HTTP, Date, 2; snake_case splits on `_`."""
    parts: list[str] = []
    for piece in identifier.split("_"):
        parts.extend(_CAMEL_PART.findall(piece))
    return parts


_EXPANSIONS: dict[str, str] = {}
_EXPANSIONS_LIMIT = 200_000


def _expanded(match: re.Match) -> str:
    # Code repeats its identifiers: split each distinct one once.
    word = match.group()
    expansion = _EXPANSIONS.get(word)
    if expansion is None:
        parts = identifier_parts(word)
        expansion = word if len(parts) <= 1 else f"{word} {' '.join(parts)}"
        if len(_EXPANSIONS) >= _EXPANSIONS_LIMIT:
            _EXPANSIONS.clear()
        _EXPANSIONS[word] = expansion
    return expansion


def expand_identifiers(text: str) -> str:
    """Text with every compound identifier followed by its parts, for FTS5."""
    return IDENTIFIER.sub(_expanded, text)


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
