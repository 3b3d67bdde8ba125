"""Fuzzy symbol search for workspace/symbol: exact > prefix > camel/snake humps > subsequence."""
from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from ..index.policy import MINIFIED_LINE_CHARS
from ..models import SymbolHit
from ..store import Store
from ..textsplit import clean_query, identifier_parts
from .symbol_table import SYMBOL_TABLE_MIN, SymbolTable, kept_table

SYMBOL_CANDIDATES = 5000
# From the in-memory table: names tried for the word-prefix and subsequence
# tiers (shortest first), and rows read of any one name.
TABLE_CANDIDATE_NAMES = 1500
ROWS_PER_NAME = 200
# A name asked within its container (`Console.print`): the name's best hits
# looked through for those in a matching container.
QUALIFIED_CANDIDATES = 1000
_QUALIFIER = re.compile(r"\.|::|#")


def rank_symbols(store: Store, query: str, limit: int = 50) -> list[SymbolHit]:
    query = clean_query(query).strip()
    if not query or len(query) > MINIFIED_LINE_CHARS:
        # No indexed name is longer (a file with a line past it is skipped as minified), and
        # SQLite refuses a LIKE pattern over 50,000 bytes with an error rather than no match.
        return []
    plain = _rank_names(store, query, limit)
    qualified = _qualified(query)
    if qualified is None:
        return plain
    # A name spelt with a dot itself (`a.b`) comes first, then the name asked within its container.
    container, name = qualified
    exact = [hit for hit in plain if symbol_tier(query, hit.name) in (0, 1)]
    if not name:
        within = _members(store, container, limit)
    elif not container:
        # `.send`: the name as a member of anything, then anywhere else.
        named = _rank_names(store, name, QUALIFIED_CANDIDATES)
        within = [hit for hit in named if hit.container] + [hit for hit in named if not hit.container]
    else:
        tiers = {hit: _container_tier(container, hit.container) for hit in _rank_names(store, name, QUALIFIED_CANDIDATES)}
        within = sorted((hit for hit, tier in tiers.items() if tier is not None),
                        key=lambda hit: (symbol_tier(name, hit.name), tiers[hit]))
    return list(dict.fromkeys(exact + within + plain))[:limit]


def _qualified(query: str) -> tuple[str, str] | None:
    """`Console.print`, `Vec::push`, `Foo#bar`, `rich.console.Console.print`:
    (the innermost container asked, the name); `Console.` asks every member
    (name ""), `.print` the name within any container (container ""); None for
    a plain name."""
    if any(c.isspace() for c in query):
        return None
    parts = _QUALIFIER.split(query)
    containers = [part for part in parts[:-1] if part]
    if len(parts) < 2 or not (containers or parts[-1]):
        return None
    return (containers[-1] if containers else "", parts[-1])


def _members(store: Store, asked: str, limit: int) -> list[SymbolHit]:
    """The members of the containers that answer `asked`, best container first
    (as `_container_tier` ranks them, then the shortest), each in source order."""
    holding = _holding_in_order(asked, store.symbol_containers())
    # Exact and prefix tiers are a few string comparisons each; humps cost far
    # more, and a short `a.` is held by most of a large tree's containers, so
    # they are ranked only when the better tiers' members leave room.
    tiers = {c: tier for c in holding if (tier := _prefix_tier(asked, c)) is not None}
    hits = _members_of(store, sorted(tiers, key=lambda c: (tiers[c], len(c), c)), limit)
    if len(hits) < limit:
        rest = sorted((c for c in holding if c not in tiers), key=lambda c: (len(c), c))
        humped = (c for c in rest if _container_tier(asked, c) is not None)  # ranked only as far as needed
        hits += _members_of(store, humped, limit - len(hits))
    return hits


def _members_of(store: Store, containers: Iterable[str], limit: int) -> list[SymbolHit]:
    hits: list[SymbolHit] = []
    for container in containers:
        if len(hits) >= limit:
            break
        hits.extend(store.symbols_within(container, limit - len(hits)))
    return hits


def _prefix_tier(asked: str, container: str) -> int | None:
    """`_container_tier` where it is 0, 1 or 2 (exact, exact ignoring case,
    prefix), else None."""
    parts = [container, *_QUALIFIER.split(container)] if any(c in container for c in ".:#") else [container]
    low = asked.lower()
    tiers = [0 if part == asked else 1 if part.lower() == low else 2 for part in parts if part.lower().startswith(low)]
    return min(tiers, default=None)


def _container_tier(asked: str, container: str) -> int | None:
    """How well a symbol's container (`Outer.Inner`) answers the container asked:
    the whole of it or any one of its parts, exactly or by prefix or humps, never
    by a scattered subsequence (one letter would admit every container)."""
    tiers = [symbol_tier(asked, part) for part in (container, *_QUALIFIER.split(container)) if part]
    return min((t for t in tiers if t is not None and t <= 3), default=None)


def _holding_in_order(letters: str, names: list[str]) -> set[str]:
    """The names that hold these letters in order, whatever their case: what every
    tier up to humps needs. One pass of a regular expression over them all (a large
    tree has a hundred thousand containers, and ranking one costs 6 µs); each
    letter is taken at its first occurrence, possessively, so the pass is linear.
    Underscores are left out, as humps leave them out of the query."""
    steps = "".join(f"[^{re.escape(c)}\n]*+{re.escape(c)}" for c in letters.replace("_", ""))
    return set(re.findall(f"^{steps}[^\n]*", "\n".join(names), re.MULTILINE | re.IGNORECASE))


def _rank_names(store: Store, query: str, limit: int) -> list[SymbolHit]:
    table = symbol_table(store)
    if table is not None:
        return _rank_from_table(table, store, query, limit)
    chars = [c if c not in "%_\\" else "\\" + c for c in query]
    # Tiers 0-2 are all prefix matches: when there are enough of them, the
    # slower word-prefix and subsequence tiers cannot reach the top `limit`.
    prefixed = store.symbols_matching("".join(chars) + "%", SYMBOL_CANDIDATES)
    if len(prefixed) >= limit and len(prefixed) < SYMBOL_CANDIDATES:
        candidates = prefixed
    else:
        spread = "%" + "%".join(chars) + "%"
        candidates = prefixed + [h for h in store.symbols_matching(spread, SYMBOL_CANDIDATES)
                                 if not h.name.lower().startswith(query.lower())]
    return _ranked(query, candidates, limit)


def symbol_table(store: Store) -> SymbolTable | None:
    """The in-memory table of a large index's names; None for a small index
    (SQLite answers it fast enough) and while the first table is built."""
    if store.symbol_count() < SYMBOL_TABLE_MIN:
        return None
    return kept_table(str(store.path)).current(store.change_stamp(), lambda: _names_on_a_connection_of_their_own(store))


def _ranked(query: str, candidates: list[SymbolHit], limit: int) -> list[SymbolHit]:
    ranked = []
    for hit in candidates:
        tier = symbol_tier(query, hit.name)
        if tier is not None:
            depth = hit.container.count(".") + (1 if hit.container else 0)
            ranked.append(((tier, _case_missed(query, hit.name, tier), len(hit.name), depth, hit.relpath.count("/"),
                            hit.relpath, hit.range.start_line), hit))
    ranked.sort(key=lambda item: item[0])
    return [hit for _, hit in ranked[:limit]]


def _rank_from_table(table: SymbolTable, store: Store, query: str, limit: int) -> list[SymbolHit]:
    """The same ranking over a large index: names from the in-memory table
    (symbol_table.py), best tier and shortest first, then their rows."""
    names = table.starting_with(query, TABLE_CANDIDATE_NAMES)
    tiers = {name: symbol_tier(query, name) for name in names}
    if sum(1 for t in tiers.values() if t is not None) < limit:
        for name in table.containing_in_order(query, TABLE_CANDIDATE_NAMES):
            if name not in tiers:
                tiers[name] = symbol_tier(query, name)
    # Rows are read best name first, until the names left cannot reach the top `limit`.
    def closeness(name: str) -> tuple[int, bool, int]:
        return tiers[name], _case_missed(query, name, tiers[name]), len(name)

    order = sorted((name for name, tier in tiers.items() if tier is not None), key=lambda n: (closeness(n), n))
    hits: list[SymbolHit] = []
    for i, name in enumerate(order):
        if len(hits) >= limit and closeness(name) != closeness(order[i - 1]):
            break
        hits.extend(store.symbols_named([name], ROWS_PER_NAME))
    return _ranked(query, hits, limit)


def _names_on_a_connection_of_their_own(store: Store) -> list[str]:
    other = Store(store.path, readonly=True)
    try:
        return other.symbol_names()
    finally:
        other.close()


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


def _case_missed(query: str, name: str, tier: int) -> bool:
    """Within the prefix tier, whether a query that spells some capitals (smart
    case, as in Vim and ripgrep) begins the name in another case: `Exe` is after
    Go's exported `Execute`, not the unexported `execute` of the same length. An
    all-lowercase query is taken as typed without care for case."""
    return tier == 2 and query != query.lower() and not name.startswith(query)


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
