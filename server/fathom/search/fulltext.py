"""The full-text half of a search: which FTS5 expression a query's words become.

FTS5 ranks by scoring every row that holds any phrase of the expression, and
its BM25 first counts every row of each phrase for the phrase's weight: the cost
is the sum of the phrases' row counts, whatever the limit. On a small index that
is milliseconds. On the kernel's 2.7M chunks, "driver" alone is in 1.6M rows
(its path column) and one question costs 0.3-3 s. There, each phrase's row
count is estimated first from a short read of its rows, and the rarest phrases
are kept while their rows fit a budget: the words a question shares with a
quarter of the tree say least about which code it means (BM25 weighs them
least), and the meaning half of the search still reads them. Names that hold
the words are found apart from FTS5, in the symbol table (`SymbolTable.names_covering`),
and the name-prefix phrases are left out: FTS5 reads every word a prefix begins
before it returns a row, so even their count costs what the whole list does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Below this many chunks every phrase is kept: the whole expression is fast enough.
BOUNDED_FROM_CHUNKS = 250_000
# Rows read of each phrase to estimate how many hold it.
PROBE_ROWS = 2_000
# Rows the kept phrases may hold together: FTS5 scores about 500 a millisecond on
# these 2 cores. A smaller budget is faster and finds less (RESULTS 17, the kernel:
# 10,000 rows p95 58 ms and MRR@10 0.185; 100,000 rows 0.420, every word 0.378 at 1.7 s).
MATCHED_ROWS_BUDGET = 100_000
NAME_COLUMN = "name : "
PREFIX = " *"


class PhraseCounts(Protocol):
    def chunk_count(self) -> int: ...

    def chunk_ids_end(self) -> int: ...

    def lexical_probe(self, fts_query: str, rows: int) -> tuple[int, int]: ...


@dataclass(frozen=True)
class FulltextQuery:
    expression: str  # empty: no phrase fits the budget, the lexical half is left out
    dropped: tuple[str, ...] = ()  # phrases left out for holding too many rows


def phrases(terms: list[str], name_prefix_match: bool, name_prefix_min_chars: int) -> list[str]:
    """Each word as a phrase of any column; a long enough word also as the
    start of a name ("slug" finds slugify)."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in terms]
    if name_prefix_match:
        quoted += [f"{NAME_COLUMN}{q}{PREFIX}" for t, q in zip(terms, quoted) if len(t) >= name_prefix_min_chars]
    return quoted


def is_bounded(index: PhraseCounts) -> bool:
    return index.chunk_count() >= BOUNDED_FROM_CHUNKS


def bounded(index: PhraseCounts, quoted: list[str]) -> FulltextQuery:
    """The phrases as one OR expression; on a large index only the rarest that
    fit `MATCHED_ROWS_BUDGET` rows."""
    end = index.chunk_ids_end()
    if not is_bounded(index) or not quoted:
        return FulltextQuery(" OR ".join(quoted))
    estimates = []
    for order, phrase in enumerate(quoted):
        if phrase.endswith(PREFIX):
            continue
        # A phrase of one column costs what the word costs in every column: FTS5
        # keeps one list of rows per word and reads the column from each entry.
        found, last_id = index.lexical_probe(phrase.removeprefix(NAME_COLUMN), PROBE_ROWS + 1)
        # Rows are read in id order: where the probe's last row lies says how
        # densely the phrase covers the ids (rows of one folder cluster; close enough).
        estimate = found if found <= PROBE_ROWS else PROBE_ROWS * end / max(last_id, 1)
        estimates.append((estimate, order, phrase))
    kept, held = [], 0.0
    dropped = [(order, phrase) for order, phrase in enumerate(quoted) if phrase.endswith(PREFIX)]
    for estimate, order, phrase in sorted(estimates):
        if held + estimate <= MATCHED_ROWS_BUDGET:
            kept.append((order, phrase))
            held += estimate
        else:
            dropped.append((order, phrase))
    return FulltextQuery(" OR ".join(p for _, p in sorted(kept)), tuple(p for _, p in sorted(dropped)))
