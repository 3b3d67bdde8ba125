"""Stage 6: natural-language search over the index.

Hybrid: BM25 over identifier-split text and cosine KNN over the vectors, each
ranking's scores scaled to [0, 1] and mixed, with a boost for chunks whose own
name the query spells out. Containers (which list their members' signatures)
and test code rank below what matches as well. A definition too long for one
chunk is one hit however many of its windows match: its range is the whole
definition, its snippet the best window's.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from ..models import Chunk, Range, SearchHit, SymbolHit, SymbolKind, embed_text
from ..index.policy import is_release_notes, is_test_chunk
from ..store import Store
from ..textsplit import IDENTIFIER, clean_query, has_words, identifier_parts, query_terms
from .filters import SearchFilters
from .fulltext import bounded, is_bounded, phrases
from .lexicon import lexicon_for
from .shape import shape_similarity, shingles
from .symbols import rank_symbols, symbol_table

SNIPPET_LINES = 6
CONTAINER_KINDS = frozenset({SymbolKind.Class, SymbolKind.Struct, SymbolKind.Interface, SymbolKind.Enum,
                             SymbolKind.Module, SymbolKind.Namespace})
TEST_WORDS = frozenset({"test", "tests", "testing", "tested", "spec", "specs", "fixture", "fixtures", "mock", "mocks"})
# Words of a question about what changed when: release notes rank as any text.
CHANGE_WORDS = frozenset({
    "changelog", "changelogs", "changed", "release", "releases", "released", "history", "news", "version",
    "versions", "deprecated", "deprecation", "upgrade", "upgrading", "breaking",
})
LOOKUP_WORDS = 3  # a query of this many words or fewer looks a name up; longer ones describe
# On a large index: the names that cover most of the query's words, and definitions read of each.
NAME_LEG_NAMES = 15
NAME_LEG_DEFINITIONS = 10
NAME_LEG_SPARE = 3  # names asked for per name wanted, for those that turn out to have no chunk
# A query pasted whole from a file (an agent's snippet, a log) is read by its beginning: the
# model reads its first 256 tokens anyway, and FTS5's OR of every word grew with their square
# (20,000 words: 3.7 s on a 273-chunk index, 40,000: 14 s) in a thread of the server.
MAX_QUERY_CHARS = 16_000
MAX_QUERY_TERMS = 64


@dataclass(frozen=True)
class SearchOptions:
    """The ranking's levers. The defaults are the product; benchmarks pass others
    to measure what each is worth (`benchmarks/quality/levers.py`)."""

    rrf_k: int = 60
    candidates: int = 100
    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    name_boost_ranks: float = 1.0  # the name boost, in first places of one more ranking
    one_hit_per_definition: bool = True
    impute_dense_rank: bool = True
    # A query word that begins a definition's name finds it ("slug" -> slugify,
    # "serial" -> serializer); shorter words would begin half the names.
    name_prefix_match: bool = True
    name_prefix_min_chars: int = 4
    # "rrf": reciprocal-rank fusion; "convex": each ranking's scores normalised to
    # [0, 1] over its candidates, then dense_share * dense + (1 - dense_share) * lexical.
    fusion: str = "convex"
    dense_share: float | None = None  # None: what the model's vectors earn (levers_for)
    convex_name_boost: float = 0.2
    # The share of the name boost a query of more than LOOKUP_WORDS words gives (a
    # sentence, not a lookup). None: what the model's vectors earn (levers_for).
    sentence_name_boost: float | None = None
    lexical_from_zero: bool = True
    # A name many candidates share (`get`, `String`) says little about which is meant:
    # its boost is divided among them.
    shared_name_boost: bool = False
    # A type whose name a sentence merely mentions ("obtains an instance of
    # LocalDate from…") is what the code works with, not what is asked for: types
    # are boosted by name only when the query is a short lookup or spells the name.
    type_boost_needs_lookup: bool = True
    # The same for every name: a sentence's words that happen to spell one do not boost it.
    name_boost_needs_lookup: bool = False
    # A container (class, struct, impl, module) lists its members' signatures and
    # would stand in for them; scaled by this, it loses to a member that matches as well.
    container_weight: float = 0.8
    # Find-similar: the nearest definitions' cosine mixed with this share of their
    # identifier-blind shape likeness to the source (search/shape.py), so that a
    # copy with its names changed comes before code that merely shares the names.
    similar_shape_share: float = 0.3
    # Test code answers questions about the project's behaviour second: scaled by
    # this unless the query asks for tests (or the caller includes them).
    test_code_weight: float = 0.2
    # Release notes (CHANGELOG.md, docs/releases/…) mention most of what the code
    # does and say when it changed, not where or how: scaled by this unless the
    # query asks about changes.
    release_notes_weight: float = 0.5
    # On a large index, the words too common to rank by are left to the meaning
    # half (search/fulltext.py): FTS5 would score every row that holds them.
    bound_lexical: bool = True
    # On a large index the full-text ranking comes from the lexicon (search/lexicon.py)
    # once it is built, every word kept; FTS5 (bounded) answers until then.
    use_lexicon: bool = True
    # Its weights of the name, path and body fields. Tantivy scores each field apart
    # (its own lengths and word rarity) where FTS5 weighs term counts into one score:
    # a short field holding a word already scores high on its own, so the name weighs
    # far less than FTS5's 8 (chosen on held-out evals: RESULTS 17).
    lexicon_weights: tuple[float, float, float] = (1.0, 0.3, 1.0)
    # Where the model reads questions with an encoder of its own, prose is ranked
    # against the model's own reading of the question, whose cosines stand on
    # another scale than the encoder's with code: this is added to them.
    # None: what the model earns (`levers_for`).
    prose_shift: float | None = None

    @property
    def name_boost(self) -> float:
        if self.fusion == "convex":
            return self.name_boost_ranks * self.convex_name_boost
        return self.name_boost_ranks / self.rrf_k

    @property
    def score_scale(self) -> float:
        """What a hit's score is multiplied by when shown: RRF sums are tiny."""
        return self.rrf_k if self.fusion == "rrf" else 1.0


@dataclass(frozen=True)
class SearchResult:
    hits: list[SearchHit]
    partial: bool  # some chunks have no vector yet, or dense search was unavailable
    # Dense search was unavailable (the model not running, or the index's vectors
    # another model's): ranked by names and words alone.
    words_only: bool = False


def fts_expression(terms: list[str], options: SearchOptions = SearchOptions()) -> str:
    return " OR ".join(phrases(terms, options.name_prefix_match, options.name_prefix_min_chars))




def is_section(path: str, chunk: Chunk) -> bool:
    """A document's section (Markdown, reStructuredText…), named by its heading:
    a chunk of the file as a whole is named by the file."""
    return chunk.kind == SymbolKind.File and not chunk.container and chunk.name != path.rsplit("/", 1)[-1]


def section_runs(spans: list[tuple[str, str, Range]]) -> list[tuple[str, str, Range]]:
    """(path, name, whole range) of each section: a run of chunks of its name
    that follow each other line after line (`Store.chunk_spans_named`, in line
    order). Its paragraphs and code blocks are chunks of their own, and a long
    one is cut into windows; a later section of the same heading is another."""
    runs: list[tuple[str, str, Range]] = []
    for path, name, rng in spans:
        last = runs[-1] if runs else None
        if last is not None and last[:2] == (path, name) and rng.start_line <= last[2].end_line + 1:
            end = max((last[2].end_line, last[2].end_char), (rng.end_line, rng.end_char))
            runs[-1] = (path, name, Range(last[2].start_line, last[2].start_char, *end))
        else:
            runs.append((path, name, rng))
    return runs


class NoDefinition(LookupError):
    """Find-similar was pointed at a line no indexed definition holds."""


# What a model's vectors earn of the levers SearchOptions leaves as None, chosen on
# validation projects of the model's training sources, never on an eval:
# - dense_share: a code-tuned model's cosine says more than a general one's (RESULTS 10d);
# - sentence_name_boost: a code-tuned model reads what a sentence asks for better than
#   a name the sentence happens to spell or begin; boosting those names cost it
#   0.007-0.008 of strict MRR@10 on three validation projects (lookups keep the whole
#   boost: RESULTS 10t).
# - prose_shift: the tuned model's question layers were trained to keep their cosines
#   with code below the section a Markdown heading asks for (RESULTS 10v), so prose
#   then stands higher than it needs to; -0.05 is where a validation project of API
#   docs (undici) kept its code questions' figure and doubled its prose questions'.
GENERAL_MODEL_LEVERS = {"dense_share": 0.5, "sentence_name_boost": 1.0, "prose_shift": 0.0}
_TUNED = {"dense_share": 0.7, "sentence_name_boost": 0.0, "prose_shift": -0.05}
# v4 is v3 trained further (a stage, its question layers again): v3's levers, not chosen again.
TUNED_MODEL_LEVERS = {"fathom-code-minilm-v3": _TUNED, "fathom-code-minilm-v4": _TUNED}


def levers_for(options: SearchOptions, model_id: str | None) -> SearchOptions:
    """`options` with each lever left as None set to what `model_id`'s vectors earn."""
    earned = {**GENERAL_MODEL_LEVERS, **TUNED_MODEL_LEVERS.get(model_id or "", {})}
    return replace(options, **{name: value for name, value in earned.items() if getattr(options, name) is None})


class Searcher:
    def __init__(self, store: Store, embed_query: Callable[[str], bytes] | None,
                 options: SearchOptions = SearchOptions(), model_id: str | None = None, *,
                 keep_lexicon: bool = True, embed_as_text: Callable[[str], bytes | None] | None = None):
        """`model_id`: the model `embed_query` embeds with; the dense half is left
        out while the index's vectors are another model's (until a run switches).
        `embed_as_text`: the question as the model reads the index's own texts,
        where `embed_query` is a question encoder of its own (None otherwise):
        what Markdown and plain text are ranked against (the question encoder
        learnt to find code, and reads prose worse: RESULTS 10n).
        `keep_lexicon` False: a large index's lexicon is read if built, never built
        or updated here (a one-shot process would leave the work half done)."""
        self.store = store
        self.embed_query = embed_query
        self.embed_as_text = embed_as_text
        self.options = levers_for(options, model_id)
        self.model_id = model_id
        self.keep_lexicon = keep_lexicon

    def search(self, query: str, limit: int = 20, path_globs: list[str] | None = None,
               include_tests: bool | None = None, filters: SearchFilters | None = None) -> SearchResult:
        """`include_tests`: None ranks test code below the project's own unless the
        query asks for tests; False leaves it out; True ranks it as any code.
        `filters` (and `path_globs`, the same as its `paths`) narrow the hits."""
        o = self.options
        filters = filters or SearchFilters()
        if path_globs:
            filters = replace(filters, paths=filters.paths + tuple(path_globs))
        query = clean_query(query[:MAX_QUERY_CHARS])
        if not has_words(query):
            return SearchResult([], partial=False)
        terms = query_terms(query)[:MAX_QUERY_TERMS]
        if include_tests is None and TEST_WORDS & set(terms):
            include_tests = True
        pool = o.candidates if not filters else o.candidates * 5
        lexical = self._lexical(terms, pool) if terms else []
        # While the index is still embedding, a chunk without a vector cannot
        # place in the dense ranking, and any chunk that has one would outrank
        # it on that alone. It is taken to rank on meaning as it does on words.
        # Which chunks lack one is read before the dense ranking: a vector that
        # lands in between puts its chunk in one of the two, never in neither.
        unembedded = self.store.without_vectors([i for i, _ in lexical]) \
            if o.impute_dense_rank and self.store.has_pending() else set()
        dense: list[tuple[int, float]] = []
        dense_ok = False
        if self.embed_query is not None and (self.model_id is None or self.store.vector_model()[0] == self.model_id):
            try:
                vector = self.embed_query(query)
                dense = self.store.nearest(vector, pool, self.embed_as_text(query) if self.embed_as_text else None,
                                           o.prose_shift)
                dense_ok = True
            except Exception:  # noqa: BLE001 - the embedder is down: lexical results still answer
                dense = []
        unembedded = unembedded - {i for i, _ in dense} if dense else set()
        pending = self.store.has_pending()
        fuse = convex_fusion if o.fusion == "convex" else rrf_fusion
        scores = fuse(lexical, dense, unembedded, o)
        rows = self.store.chunk_rows(scores)
        wanted = set(terms)
        spelled = set(IDENTIFIER.findall(query))
        named = [i for i, (_path, chunk) in rows.items()
                 if names_chunk(chunk.name, spelled, wanted)
                 and not ((o.name_boost_needs_lookup or o.type_boost_needs_lookup and chunk.kind in CONTAINER_KINDS)
                          and len(wanted) > LOOKUP_WORDS and chunk.name not in spelled)]
        sharing = Counter(rows[i][1].name for i in named) if o.shared_name_boost else Counter()
        boost = o.name_boost * (o.sentence_name_boost if len(wanted) > LOOKUP_WORDS else 1.0)
        for chunk_id in named:
            scores[chunk_id] += boost / max(1, sharing[rows[chunk_id][1].name])
        history_asked = bool(CHANGE_WORDS & set(terms))
        for chunk_id, (path, chunk) in list(rows.items()):
            if chunk.kind in CONTAINER_KINDS:
                scores[chunk_id] *= o.container_weight
            if not history_asked and is_release_notes(path):
                scores[chunk_id] *= o.release_notes_weight
            if include_tests is not True and is_test_chunk(path, chunk.container):
                if include_tests is False:
                    del rows[chunk_id]
                else:
                    scores[chunk_id] *= o.test_code_weight
        ranked = sorted(rows, key=lambda i: -scores[i])
        if filters.paths or filters.exclude:
            through = filters.path_matcher()
            ranked = [i for i in ranked if through(rows[i][0])]
        if filters.kinds:
            ranked = [i for i in ranked if rows[i][1].kind in filters.kinds]
        if filters.languages:
            language = self.store.languages_of({rows[i][0] for i in ranked})
            ranked = [i for i in ranked if language.get(rows[i][0]) in filters.languages]
        hits = self._hits(rows, ranked, scores, limit)
        return SearchResult(hits, partial=not dense_ok or pending, words_only=not dense_ok)

    def _lexical(self, terms: list[str], pool: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score) for the query's words, best first. On a large
        index only its rarer words go to FTS5 (search/fulltext.py), and the
        definitions whose names hold the words come from the symbol table, each
        scored as the best BM25 hit times the share of the words its name covers."""
        lexical = self._fulltext(terms, pool)
        if not (self.options.bound_lexical and is_bounded(self.store)):
            return lexical
        table = symbol_table(self.store)
        if table is None:
            return lexical
        # Past names with no chunk (C macros and typedefs are symbols only) to those that have one.
        covering = dict(table.names_covering(terms, NAME_LEG_NAMES * NAME_LEG_SPARE))
        best = lexical[0][1] if lexical else 1.0
        scores = dict(lexical)
        for chunk_id, name in self.store.chunks_of_names(list(covering), NAME_LEG_DEFINITIONS, NAME_LEG_NAMES).items():
            scores[chunk_id] = max(scores.get(chunk_id, 0.0), best * covering[name] / len(terms))
        return sorted(scores.items(), key=lambda item: -item[1])

    def _fulltext(self, terms: list[str], pool: int) -> list[tuple[int, float]]:
        """The BM25 ranking of the query's words: the lexicon's on a large index,
        FTS5's otherwise (only the rarer words on a large index without one yet)."""
        o = self.options
        if o.use_lexicon:
            ranked = lexicon_for(self.store).ranked(self.store, terms, pool, o.lexicon_weights,
                                                     keep=self.keep_lexicon)
            if ranked is not None:
                return ranked
        quoted = phrases(terms, o.name_prefix_match, o.name_prefix_min_chars)
        if not (o.bound_lexical and is_bounded(self.store)):
            return self.store.lexical(" OR ".join(quoted), pool)
        expression = bounded(self.store, quoted).expression
        return self.store.lexical(expression, pool) if expression else []

    def words_ranked_by(self) -> str:
        """Which full-text ranking a search over this index uses now (status)."""
        return lexicon_for(self.store).describe(self.store) if self.options.use_lexicon else "FTS5"

    def prepare(self) -> None:
        """What a large index's searches need, started ahead of them (the lexicon)."""
        if self.options.use_lexicon:
            lexicon_for(self.store).prepare(self.store)

    def similar_to(self, *, text: str | None = None, relpath: str | None = None, line: int | None = None,
                   limit: int = 10) -> SearchResult:
        """Definitions like a snippet (`text`), or like the innermost definition
        holding `line` (0-based) of `relpath`, which is left out of the answer.
        No vectors to compare (the embedder down, another model's index): none, partial."""
        source = None
        if text is None:
            found = self.store.chunks_at(relpath or "", line or 0)
            if not found:
                raise NoDefinition(f"no indexed definition at {relpath}:{(line or 0) + 1}")
            chunk = found[0][1]
            text, source, code = embed_text(chunk.header, chunk.text), (relpath, chunk.range), chunk.text
        else:
            code = text
        if self.embed_query is None or self.model_id is not None and self.store.vector_model()[0] != self.model_id:
            return SearchResult([], partial=True)
        try:
            vector = self.embed_query(text)
        except Exception:  # noqa: BLE001 - the embedder is down: nothing to compare with
            return SearchResult([], partial=True)
        return self.similar(vector, limit, source, code)

    def similar(self, vector: bytes, limit: int, source: tuple[str, Range] | None = None,
                code: str | None = None) -> SearchResult:
        """Definitions nearest in meaning to a vector (a definition's, or a
        snippet's), leaving out the `source` definition (path, range) itself;
        with the source's `code`, ranked by meaning and shape together."""
        nearest = self.store.nearest(vector, limit * 4 + 8)
        scores = dict(nearest)
        rows = self.store.chunk_rows(scores)
        share = self.options.similar_shape_share
        if code is not None and share > 0:
            mine = shingles(code)
            scores = {i: (1 - share) * cosine + share * shape_similarity(mine, shingles(rows[i][1].text))
                      if i in rows else cosine for i, cosine in scores.items()}
            nearest = sorted(scores.items(), key=lambda kv: -kv[1])
        ranked = [i for i, _ in nearest if i in rows]
        if source is not None:
            path, place = source
            ranked = [i for i in ranked if not (rows[i][0] == path and rows[i][1].range.start_line <= place.end_line
                                                and place.start_line <= rows[i][1].range.end_line)]
        hits = self._hits(rows, ranked, scores, limit + 4, scale=1.0)
        if source is not None:  # another window of the same long definition stands for it whole
            path, place = source
            hits = [h for h in hits if not (h.relpath == path and h.range.start_line <= place.start_line
                                            and place.end_line <= h.range.end_line)]
        return SearchResult(hits[:limit], partial=self.store.has_pending())

    def _hits(self, rows: dict[int, tuple[str, Chunk]], ranked: list[int], scores: dict[int, float], limit: int,
              scale: float | None = None) -> list[SearchHit]:
        """The ranked chunks as hits: one per definition, one per location and per text."""
        o = self.options
        scale = o.score_scale if scale is None else scale
        hits: list[SearchHit] = []
        extents = self._definition_extents(rows, ranked[: limit * 4]) if o.one_hit_per_definition else {}
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
            # One location once, and one text once: copies of a file (vendored
            # twice, generated per platform) would fill the list with the same lines.
            place, text = (path, rng.start_line, rng.end_line), (chunk.header, chunk.text)
            if place in seen or text in seen:
                continue
            seen.update((place, text))
            later_window = extent is not None and chunk.range.start_line > rng.start_line
            snippet = snippet_of(self._opening_text(path, chunk, rng) if later_window else chunk.text)
            hits.append(SearchHit(path, rng, chunk.name, chunk.kind, round(scores[chunk_id] * scale, 6),
                                  snippet, chunk.container))
            if len(hits) >= limit:
                break
        return hits

    def _definition_extents(self, rows: dict[int, tuple[str, Chunk]], ids: list[int]) -> dict[int, tuple[str, Range]]:
        """For each of `ids` that is one window of a definition too long for one
        chunk, or one block of a document's section, (path, the whole definition's
        or section's range): the definition or section is one hit."""
        def key(i: int) -> tuple:
            path, chunk = rows[i]
            return path, chunk.name, chunk.container, chunk.kind

        repeated = Counter(key(i) for i in ids)
        windows = {i: rows[i] for i in ids
                   if repeated[key(i)] > 1 or rows[i][1].continues_a_definition or is_section(*rows[i])}
        if not windows:
            return {}
        symbols = self.store.definitions_of((path, chunk.name) for path, chunk in windows.values())
        by_key: dict[tuple, list[Range]] = {}
        for s in symbols:
            by_key.setdefault((s.relpath, s.name, s.container, s.kind), []).append(s.range)
        # A document's section has no symbol: its extent is the run of its heading's chunks.
        sections = {i: rows[i] for i in windows if is_section(*rows[i])}
        for path, name, rng in section_runs(self.store.chunk_spans_named(
                (path, chunk.name) for path, chunk in sections.values())):
            by_key.setdefault((path, name, "", SymbolKind.File), []).append(rng)
        extents: dict[int, tuple[str, Range]] = {}
        for chunk_id, (path, chunk) in windows.items():
            r = chunk.range
            for d in by_key.get((path, chunk.name, chunk.container, chunk.kind), ()):
                if d.start_line <= r.end_line and r.start_line <= d.end_line:
                    extents[chunk_id] = (path, d)
                    break
        return extents

    def _opening_text(self, path: str, window: Chunk, whole: Range) -> str:
        """The text of a long definition's first window: its hit is listed at the
        definition's first line, so it shows the signature found there, not the
        lines of the window that matched."""
        for _, chunk in self.store.chunks_at(path, whole.start_line):
            if (chunk.name, chunk.container, chunk.kind) == (window.name, window.container, window.kind):
                return chunk.text
        return window.text

    def symbols(self, query: str, limit: int = 50) -> list[SymbolHit]:
        return rank_symbols(self.store, query, limit)


# Lines above a definition's signature: decorators, attributes, comments, blanks.
_PREAMBLE = re.compile(r"\s*(?:@|#\[|//|/\*|\*|#(?!include|define|if|pragma)|$)")


def snippet_of(text: str) -> str:
    """A hit's first lines, from its signature: `def name(self)`, not `@property`."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if not _PREAMBLE.match(line)), 0)
    return "\n".join(lines[start:start + SNIPPET_LINES])


def rrf_fusion(lexical: list[tuple[int, float]], dense: list[tuple[int, float]], unembedded: set[int],
               o: SearchOptions) -> dict[int, float]:
    scores: dict[int, float] = {}
    for weight, ranking in ((o.lexical_weight, lexical), (o.dense_weight, dense)):
        for rank, (chunk_id, _) in enumerate(ranking):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (o.rrf_k + rank + 1)
    for rank, (chunk_id, _) in enumerate(lexical):
        if chunk_id in unembedded:
            scores[chunk_id] += o.dense_weight / (o.rrf_k + rank + 1)
    return scores


def convex_fusion(lexical: list[tuple[int, float]], dense: list[tuple[int, float]], unembedded: set[int],
                  o: SearchOptions) -> dict[int, float]:
    """Score-aware fusion: a ranking's scores scaled to [0, 1] over its own
    candidates, so a far-ahead first place stays far ahead after fusion."""
    def normalised(ranking: list[tuple[int, float]], from_zero: bool) -> dict[int, float]:
        if not ranking:
            return {}
        values = [s for _, s in ranking]
        low, high = (0.0 if from_zero else min(values)), max(values)
        span = high - low
        return {i: (s - low) / span if span > 0 else 1.0 for i, s in ranking}

    # BM25 is zero for no match, so its scale starts there; cosine similarities
    # of unrelated texts sit well above zero, so theirs starts at the pool's last.
    words, meaning = normalised(lexical, o.lexical_from_zero), normalised(dense, False)
    share = o.dense_share
    scores = {i: (1 - share) * o.lexical_weight * s for i, s in words.items()}
    for i, s in meaning.items():
        scores[i] = scores.get(i, 0.0) + share * o.dense_weight * s
    for i in unembedded:
        scores[i] += share * o.dense_weight * words.get(i, 0.0)
    return scores


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


