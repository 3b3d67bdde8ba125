"""Every distinct symbol name of a large index, held in memory for fuzzy lookups.

SQLite answers a subsequence (`LIKE '%k%m%c%'`) by scanning every symbol: about
0.1 s at the kernel's 860k. Here the names are one string, lower-cased, one per
line, shortest first; a prefix or a subsequence is one regular-expression scan
of it (C, about 10 ms a megabyte), and the first matches are the shortest
names, which the ranking puts first anyway. Rows are then read by name.

The table is built from the index and rebuilt in the background when the index
has changed and the table is older than `REBUILD_AFTER_S`; until then queries
read the table they have (a name added meanwhile is missed for that long, a
name removed finds no rows).
"""
from __future__ import annotations

import bisect
import itertools
import re
import threading
import time
from collections.abc import Callable

import numpy as np

from ..textsplit import identifier_parts

# Below this many symbols SQLite's scan is fast enough and always current.
SYMBOL_TABLE_MIN = 50_000
REBUILD_AFTER_S = 10.0
# Names that hold every character of a query are checked for order this many at a time.
CANDIDATES_A_SCAN = 65536
# A name's part stands for a longer word it begins ("alloc" for "allocate") from
# this length and half the word's.
SHORTEST_STEM = 3
# A word stands for longer parts it begins ("lock" for "locked") from this length.
SHORTEST_WORD_PREFIX = 4


# Which characters a name holds, one bit each (the rest share the last bit): a
# name lacking one of the query's characters is passed over without a look.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789_"
_OTHER_BIT = 63


def _char_bits(text: str) -> int:
    bits = 0
    for c in set(text):
        i = _ALPHABET.find(c)
        bits |= 1 << (i if i >= 0 else _OTHER_BIT)
    return bits


class SymbolTable:
    def __init__(self, names: list[str]):
        # Shortest first, then alphabetical: the order the ranking breaks ties in
        # (three stable sorts on C keys: much faster than one on tuples).
        names = sorted({n for n in names if "\n" not in n})
        names.sort(key=str.lower)
        names.sort(key=len)
        self.names = names
        lowered = [n.lower() for n in names]
        self.text = "\n" + "\n".join(lowered) + "\n"
        lengths = np.fromiter((len(n) for n in lowered), dtype=np.int64, count=len(lowered))
        self.starts = np.empty(len(lowered) + 1, dtype=np.int64)  # and, last, where one past the end begins
        self.starts[0] = 1
        np.cumsum(lengths + 1, out=self.starts[1:])
        self.starts[1:] += 1
        # One character a byte (others as "?"): positions stay those of the text.
        self.raw = raw = np.frombuffer(self.text.encode("ascii", "replace"), dtype=np.uint8)
        known = np.frombuffer((_ALPHABET + "\n").encode(), dtype=np.uint8)
        self.masks = np.zeros(len(lowered), dtype=np.uint64)
        # One character's positions at a time: all of them at once held 37 arrays the
        # size of the text (a 900 MB peak for the kernel's names).
        for bit, at in itertools.chain(((i, raw == ord(c)) for i, c in enumerate(_ALPHABET)),
                                       [(_OTHER_BIT, ~np.isin(raw, known))]):
            lines = np.searchsorted(self.starts, np.flatnonzero(at), side="right") - 1
            np.bitwise_or.at(self.masks, lines, np.uint64(1 << bit))
        self._index_parts(lowered)

    def _index_parts(self, lowered: list[str]) -> None:
        """Each identifier part (`pci`, `register`, `driver` of `pci_register_driver`)
        -> the lines of the names that hold it: one sorted array, sliced per part."""
        holders: dict[str, list[int]] = {}
        self.part_counts = np.zeros(len(lowered), dtype=np.int16)
        for line, name in enumerate(self.names):
            parts = {p.lower() for p in identifier_parts(name)} or {lowered[line]}
            self.part_counts[line] = len(parts)
            for part in parts:
                holders.setdefault(part, []).append(line)
        self.parts = sorted(holders)
        self.part_starts = np.zeros(len(self.parts) + 1, dtype=np.int64)
        np.cumsum([len(holders[p]) for p in self.parts], out=self.part_starts[1:])
        self.part_lines = np.fromiter((line for p in self.parts for line in holders[p]), dtype=np.int32,
                                      count=int(self.part_starts[-1]))
        self._part_at = {p: i for i, p in enumerate(self.parts)}
    def __len__(self) -> int:
        return len(self.names)

    def _line(self, position: int) -> int:
        return int(np.searchsorted(self.starts, position, side="right")) - 1

    def starting_with(self, query: str, limit: int) -> list[str]:
        """Names that start with `query` (any case), shortest first."""
        found = []
        for match in re.finditer("\n" + re.escape(query.lower()), self.text):
            line = self._line(match.start() + 1)
            if line < len(self.names):
                found.append(self.names[line])
                if len(found) >= limit:
                    break
        return found

    def containing_in_order(self, query: str, limit: int) -> list[str]:
        """Names holding `query`'s characters in order (any case), shortest first."""
        chars = [c for c in query.lower() if c != "\n"]
        if not chars:
            return []
        wanted = np.uint64(_char_bits("".join(chars)))
        candidates = np.flatnonzero((self.masks & wanted) == wanted)
        # Each match starts at a line's newline (a literal: the scan jumps between
        # them) and each gap excludes the next character, so the leftmost match is
        # found without backtracking, and each name is tried once.
        gaps = "".join(f"[^\n{re.escape(c)}]*{re.escape(c)}" for c in chars)
        pattern = re.compile("\n" + gaps)
        found: list[str] = []
        for first in range(0, len(candidates), CANDIDATES_A_SCAN):
            lines = candidates[first:first + CANDIDATES_A_SCAN]
            text, offsets = self._lines_text(lines)
            for match in pattern.finditer(text):
                line = int(lines[int(np.searchsorted(offsets, match.start(), side="right")) - 1])
                if not self.names[line].isascii() and not re.search(gaps, self.names[line].lower()):
                    continue  # "?" stood in for another character
                found.append(self.names[line])
                if len(found) >= limit:
                    return found
        return found

    def names_covering(self, words: list[str], limit: int) -> list[tuple[str, int]]:
        """(name, how many of `words` it covers) for the names whose parts cover
        the most words, fewest other parts and shortest first: "register a pci
        driver" -> pci_register_driver. A part covers a word it equals, begins
        ("alloc", "allocate": at least half of it) or is begun by ("lock", "locked"). At least two
        words must be covered, unless one is all that was asked."""
        holding = [self._lines_with_part_for(w) for w in dict.fromkeys(words)]
        holding = [lines for lines in holding if len(lines)]
        if not holding:
            return []
        covered = np.bincount(np.concatenate(holding), minlength=len(self.names))
        need = min(2, len(words))
        lines = np.flatnonzero(covered >= need)
        if not len(lines):
            return []
        # Most words covered, then fewest parts the query does not ask for, then shortest (the table's order).
        order = np.lexsort((lines, self.part_counts[lines] - covered[lines], -covered[lines]))[:limit]
        return [(self.names[int(lines[i])], int(covered[lines[i]])) for i in order]

    def _lines_with_part_for(self, word: str) -> np.ndarray:
        """The lines of the names with a part that covers `word`, each once."""
        shortest = max(SHORTEST_STEM, (len(word) + 1) // 2)
        found = [self._part_at[word[:k]] for k in range(shortest, len(word) + 1) if word[:k] in self._part_at]
        if len(word) >= SHORTEST_WORD_PREFIX:
            first = bisect.bisect_left(self.parts, word)
            last = bisect.bisect_left(self.parts, word + "\uffff")
            found.extend(range(first, last))
        if not found:
            return np.empty(0, dtype=np.int32)
        return np.unique(np.concatenate([self.part_lines[self.part_starts[i]:self.part_starts[i + 1]]
                                         for i in set(found)]))

    def _lines_text(self, lines: np.ndarray) -> tuple[str, np.ndarray]:
        """These lines of the text as one string, each after a newline, and the
        position of each one's newline in it; gathered in numpy, one byte a character."""
        begins, ends = self.starts[lines], self.starts[lines + 1]
        lengths = ends - begins
        offsets = np.zeros(len(lines) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        positions = np.repeat(begins - offsets[:-1], lengths) + np.arange(offsets[-1])
        # A newline first, so that every line begins after one (a match starts on it).
        return "\n" + self.raw[positions].tobytes().decode("ascii"), offsets


class KeptTable:
    """One index's table in this process, rebuilt off the query's thread."""

    def __init__(self) -> None:
        self.table: SymbolTable | None = None
        self.version: object = None
        self.built_at = 0.0
        self._building = threading.Lock()

    def current(self, version: object, load: Callable[[], list[str]]) -> SymbolTable | None:
        """The table, or None while the first is built (seconds for a million
        names); built, and rebuilt when stale, in the background by `load`, which
        reads the index on a connection of its own so that queries do not wait."""
        stale = self.table is None or (version != self.version and time.monotonic() - self.built_at > REBUILD_AFTER_S)
        if stale and self._building.acquire(blocking=False):
            def rebuild() -> None:
                try:
                    table = SymbolTable(load())
                    self.table, self.version, self.built_at = table, version, time.monotonic()
                finally:
                    self._building.release()

            threading.Thread(target=rebuild, name="fathom-symbol-table", daemon=True).start()
        return self.table


_kept: dict[str, KeptTable] = {}
_kept_lock = threading.Lock()


def kept_table(key: str) -> KeptTable:
    with _kept_lock:
        return _kept.setdefault(key, KeptTable())
