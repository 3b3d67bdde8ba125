"""Fuzzy symbols over a large index (search/symbol_table.py): the same answers
as the SQL path, from names held in memory."""
import random

import pytest

from fathom.index.lexical import with_lexical
from fathom.models import ChunkedFile, FileStat, Range, Symbol, SymbolKind
from fathom.search import symbols as symbols_module
from fathom.search import symbol_table
from fathom.search.symbol_table import SymbolTable
from fathom.store import Store

WORDS = ["alloc", "free", "lock", "unlock", "irq", "save", "dev", "pci", "enable", "skb", "put", "get", "init",
         "exit", "read", "write", "buffer", "List", "Head", "node", "queue", "work", "timer", "x", "e"]


def names(count: int, rng: random.Random) -> list[str]:
    made = []
    for _ in range(count):
        parts = rng.sample(WORDS, rng.randint(1, 4))
        made.append("_".join(p.lower() for p in parts) if rng.random() < 0.6 else "".join(p.capitalize() for p in parts))
    return made


@pytest.fixture
def store(tmp_path):
    rng = random.Random(7)
    store = Store(tmp_path / "index.db")
    files = []
    for f in range(60):
        symbols = [Symbol(name, SymbolKind.Function, "", Range(i, 0, i, 5)) for i, name in enumerate(names(60, rng))]
        files.append(with_lexical(ChunkedFile(f"dir{f % 7}/file{f}.c", FileStat(1, 1, f), f"h{f}", "c", "indexed", "",
                                              symbols, [])))
    store.write_files(files)
    yield store
    store.close()


QUERIES = ["alloc", "skb_put", "skbput", "irqsave", "ListHead", "lh", "x", "e", "dvn", "qwk", "zzz", "PCI", "pci_en",
           "spin_lock_irqsave", "free_", "Wr"]


def table_built(store):
    """Waits for the background build that a first query starts (it answers from SQL meanwhile)."""
    import time
    deadline = time.monotonic() + 60
    symbols_module.rank_symbols(store, "x", 1)
    while symbol_table.kept_table(str(store.path)).table is None:
        assert time.monotonic() < deadline, "the table was never built"
        time.sleep(0.02)


def test_the_table_ranks_as_the_sql_scan_does(store, monkeypatch):
    assert 2000 < store.symbol_count() < symbol_table.SYMBOL_TABLE_MIN
    by_sql = {q: symbols_module.rank_symbols(store, q, 40) for q in QUERIES}
    monkeypatch.setattr(symbols_module, "SYMBOL_TABLE_MIN", 0)
    symbol_table._kept.clear()
    table_built(store)
    for q in QUERIES:
        by_table = symbols_module.rank_symbols(store, q, 40)
        assert by_table == by_sql[q], q
    assert any(by_sql[q] for q in QUERIES) and not by_sql["zzz"]


def test_names_are_found_by_prefix_and_by_subsequence_shortest_first():
    table = SymbolTable(["spin_lock_irqsave", "spin_lock", "Spin", "kmalloc", "kmem_cache_alloc", "a.b", "x[y]"])
    assert table.starting_with("spin", 10) == ["Spin", "spin_lock", "spin_lock_irqsave"]
    assert table.starting_with("SPIN_L", 10) == ["spin_lock", "spin_lock_irqsave"]
    assert table.containing_in_order("kmca", 10) == ["kmem_cache_alloc"]
    assert table.containing_in_order("kmal", 10) == ["kmalloc", "kmem_cache_alloc"]
    assert table.containing_in_order("slis", 1) == ["spin_lock_irqsave"]
    assert table.containing_in_order("a.b", 10) == ["a.b"] and table.containing_in_order("[y]", 10) == ["x[y]"]
    assert table.containing_in_order("zz", 10) == [] and table.starting_with(".", 10) == []


def test_a_stale_table_is_rebuilt_in_the_background(store, monkeypatch):
    monkeypatch.setattr(symbols_module, "SYMBOL_TABLE_MIN", 0)
    monkeypatch.setattr(symbol_table, "REBUILD_AFTER_S", 0.0)
    symbol_table._kept.clear()
    table_built(store)
    assert symbols_module.rank_symbols(store, "brand_new_name", 5) == []
    store.write_files([ChunkedFile("late.c", FileStat(1, 1, 999), "late", "c", "indexed", "",
                                   [Symbol("brand_new_name", SymbolKind.Function, "", Range(0, 0, 0, 9))], [])])
    import time
    deadline = time.monotonic() + 30
    while not symbols_module.rank_symbols(store, "brand_new_name", 5):
        assert time.monotonic() < deadline, "the table was never rebuilt"
        time.sleep(0.05)
    assert symbols_module.rank_symbols(store, "brand_new_name", 5)[0].relpath == "late.c"
