"""Stage 6: answering queries from the index.

`search` is hybrid: BM25 over identifier-split text and cosine KNN over the
vectors, fused by reciprocal rank, with a boost for chunks whose own name the
query spells out. A definition too long for one chunk is one hit however many
of its windows match: its range is the whole definition, its snippet the best
window's. `symbols` is fuzzy name matching for workspace/symbol.
"""
from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pathspec

from .models import Chunk, Range, SearchHit, SymbolHit
from .store import Store
from .textsplit import IDENTIFIER, identifier_parts, query_terms

RRF_K = 60
CANDIDATES = 100
LEXICAL_WEIGHT = 1.0
DENSE_WEIGHT = 1.0
NAME_BOOST = 1.0 / RRF_K  # worth a first place in one more ranking
SNIPPET_LINES = 6
SYMBOL_CANDIDATES = 5000
ONE_HIT_PER_DEFINITION = True
IMPUTE_DENSE_RANK = True
# A query word that begins a definition's name finds it ("slug" -> slugify,
# "serial" -> serializer); shorter words would begin half the names.
NAME_PREFIX_MIN_CHARS = 4
NAME_PREFIX_MATCH = True


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    partial: bool  # some chunks have no vector yet, or dense search was unavailable


def fts_expression(terms: list[str]) -> str:
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    if NAME_PREFIX_MATCH:
        quoted += [f"name : {q} *" for t, q in zip(terms, quoted) if len(t) >= NAME_PREFIX_MIN_CHARS]
    return " OR ".join(quoted)


class Searcher:
    def __init__(self, store: Store, embed_query: Callable[[str], bytes] | None):
        self.store = store
        self.embed_query = embed_query

    def search(self, query: str, limit: int = 20, path_globs: list[str] | None = None) -> SearchResult:
        terms = query_terms(query)
        pool = CANDIDATES if not path_globs else CANDIDATES * 5
        lexical = self.store.lexical(fts_expression(terms), pool) if terms else []
        dense: list[tuple[int, float]] = []
        dense_ok = False
        if self.embed_query is not None:
            try:
                dense = self.store.nearest(self.embed_query(query), pool)
                dense_ok = True
            except Exception:  # noqa: BLE001 - the embedder is down: lexical results still answer
                dense = []
        scores: dict[int, float] = {}
        for weight, ranking in ((LEXICAL_WEIGHT, lexical), (DENSE_WEIGHT, dense)):
            for rank, (chunk_id, _) in enumerate(ranking):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (RRF_K + rank + 1)
        pending = self.store.has_pending()
        if pending and dense and IMPUTE_DENSE_RANK:
            # While the index is still embedding, a chunk without a vector cannot
            # place in the dense ranking, and any chunk that has one would outrank
            # it on that alone. It is taken to rank on meaning as it does on words.
            unembedded = self.store.without_vectors([i for i, _ in lexical])
            for rank, (chunk_id, _) in enumerate(lexical):
                if chunk_id in unembedded:
                    scores[chunk_id] += DENSE_WEIGHT / (RRF_K + rank + 1)
        rows = self.store.chunk_rows(scores)
        wanted = set(terms)
        spelled = set(IDENTIFIER.findall(query))
        for chunk_id, (_path, chunk) in rows.items():
            if names_chunk(chunk.name, spelled, wanted):
                scores[chunk_id] += NAME_BOOST
        matcher = pathspec.GitIgnoreSpec.from_lines(path_globs) if path_globs else None
        hits: list[SearchHit] = []
        ranked = sorted(rows, key=lambda i: -scores[i])
        if matcher is not None:
            ranked = [i for i in ranked if matcher.match_file(rows[i][0])]
        extents = self._definition_extents(rows, ranked[: limit * 4]) if ONE_HIT_PER_DEFINITION else {}
        seen: set = set()
        for chunk_id in ranked:
            path, chunk = rows[chunk_id]
            rng = chunk.range
            extent = extents.get(chunk_id)
            if extent is not None:
                if extent in seen:
                    continue  # a lower-ranked window of a definition already listed
                seen.add(extent)
                rng = extent[1]
            snippet = "\n".join(chunk.text.split("\n")[:SNIPPET_LINES])
            hits.append(SearchHit(path, rng, chunk.name, chunk.kind, round(scores[chunk_id] * RRF_K, 6), snippet))
            if len(hits) >= limit:
                break
        return SearchResult(hits, partial=not dense_ok or pending)

    def _definition_extents(self, rows: dict[int, tuple[str, Chunk]], ids: list[int]) -> dict[int, tuple[str, Range]]:
        """For each of `ids` that is one window of a definition too long for one
        chunk, (path, the whole definition's range): the definition is one hit."""
        def key(i: int) -> tuple:
            path, chunk = rows[i]
            return path, chunk.name, chunk.container, chunk.kind

        repeated = Counter(key(i) for i in ids)
        windows = {i: rows[i] for i in ids if repeated[key(i)] > 1 or rows[i][1].continues_a_definition}
        if not windows:
            return {}
        symbols = self.store.definitions_of((path, chunk.name) for path, chunk in windows.values())
        by_key: dict[tuple, list[Range]] = {}
        for s in symbols:
            by_key.setdefault((s.relpath, s.name, s.container, s.kind), []).append(s.range)
        extents: dict[int, tuple[str, Range]] = {}
        for chunk_id, (path, chunk) in windows.items():
            r = chunk.range
            for d in by_key.get((path, chunk.name, chunk.container, chunk.kind), ()):
                if d.start_line <= r.end_line and r.start_line <= d.end_line:
                    extents[chunk_id] = (path, d)
                    break
        return extents

    def symbols(self, query: str, limit: int = 50) -> list[SymbolHit]:
        query = query.strip()
        if not query:
            return []
        chars = [c if c not in "%_\\" else "\\" + c for c in query]
        # Tiers 0-2 are all prefix matches: when there are enough of them, the
        # slower word-prefix and subsequence tiers cannot reach the top `limit`.
        prefixed = self.store.symbols_matching("".join(chars) + "%", SYMBOL_CANDIDATES)
        if len(prefixed) >= limit and len(prefixed) < SYMBOL_CANDIDATES:
            candidates = prefixed
        else:
            spread = "%" + "%".join(chars) + "%"
            candidates = prefixed + [h for h in self.store.symbols_matching(spread, SYMBOL_CANDIDATES)
                                     if not h.name.lower().startswith(query.lower())]
        ranked = []
        for hit in candidates:
            tier = symbol_tier(query, hit.name)
            if tier is not None:
                depth = hit.container.count(".") + (1 if hit.container else 0)
                ranked.append(((tier, len(hit.name), depth, hit.relpath.count("/"), hit.relpath, hit.range.start_line), hit))
        ranked.sort(key=lambda item: item[0])
        return [hit for _, hit in ranked[:limit]]


def names_chunk(name: str, spelled: set[str], wanted: set[str]) -> bool:
    """Whether the query names this chunk: it spells a compound identifier
    (`user_cache_dir`, `parseHttpDate`) or says all of its parts ("user cache
    dir"), or it is just a word or two and one is the name ("Console"). A single
    word inside a sentence does not count: descriptions mention related types
    ("return a Style for the console") far more often than the code itself."""
    parts = [p.lower() for p in identifier_parts(name)]
    if len(parts) > 1:
        return name in spelled or set(parts) <= wanted
    return len(wanted) <= 2 and name.lower() in wanted


def symbol_tier(query: str, name: str) -> int | None:
    """0 exact, 1 exact ignoring case, 2 prefix, 3 word-prefix (camel/snake humps),
    4 subsequence; None when the name does not match at all."""
    if name == query:
        return 0
    q, n = query.lower(), name.lower()
    if n == q:
        return 1
    if n.startswith(q):
        return 2
    parts = tuple(p.lower() for p in identifier_parts(name))
    if parts and _hump_match(q.replace("_", ""), parts):
        return 3
    it = iter(n)
    if all(c in it for c in q):
        return 4
    return None


@functools.lru_cache(maxsize=65536)
def _hump_match(q: str, parts: tuple[str, ...]) -> bool:
    """Whether q is a concatenation of prefixes of some parts, in order."""
    if not q:
        return True
    for j, part in enumerate(parts):
        k = 0
        while k < len(part) and k < len(q) and part[k] == q[k]:
            k += 1
            if _hump_match(q[k:], parts[j + 1:]):
                return True
    return False
