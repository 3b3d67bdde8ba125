"""The lexical half of a search on a large index (search/fulltext.py): only the
rarer words go to FTS5, names that hold the words come from the symbol table."""
import time

import pytest

from fathom.index.lexical import with_lexical
from fathom.models import Chunk, ChunkedFile, FileStat, Range, Symbol, SymbolKind
from fathom.search import Searcher, SearchOptions, fulltext, symbol_table
from fathom.search import symbols as symbols_module
from fathom.search.fulltext import bounded, phrases
from fathom.search.symbol_table import SymbolTable
from fathom.store import Store


class Counts:
    """Phrase counts as an index would report them: rows in id order."""

    def __init__(self, end: int, rows: dict[str, list[int]]):
        self.end, self.rows, self.probed = end, rows, []

    def chunk_ids_end(self) -> int:
        return self.end

    def chunk_count(self) -> int:
        return self.end - 1

    def lexical_probe(self, fts_query: str, rows: int) -> tuple[int, int]:
        self.probed.append(fts_query)
        held = self.rows.get(fts_query, [])[:rows]
        return len(held), held[-1] if held else 0


def test_a_small_index_keeps_every_phrase_and_reads_nothing_first():
    counts = Counts(fulltext.BOUNDED_FROM_CHUNKS, {})
    quoted = phrases(["register", "pci", "driver"], True, 4)
    assert bounded(counts, quoted).expression == " OR ".join(quoted)
    assert counts.probed == []


def test_a_large_index_keeps_the_rarest_words_that_fit_the_budget(monkeypatch):
    monkeypatch.setattr(fulltext, "PROBE_ROWS", 10)
    monkeypatch.setattr(fulltext, "MATCHED_ROWS_BUDGET", 15)
    end = fulltext.BOUNDED_FROM_CHUNKS + 1
    counts = Counts(end, {
        '"driver"': list(range(1, 10_000)),  # a probe's rows among the first ids: ~every id
        '"pci"': list(range(100, 108)),  # 8 rows, fewer than a probe reads: counted exactly
        '"regist"': [end - 20 + i for i in range(11)],  # a probe's rows near the end: ~10
        '"quirk"': [5, 6],
    })
    query = bounded(counts, phrases(["driver", "pci", "regist", "quirk"], True, 4))
    # Rarest first while they fit the budget of 15: quirk (2) + pci (8); regist (~10) would not.
    assert query.expression == '"pci" OR "quirk"'
    assert query.dropped[:2] == ('"driver"', '"regist"')
    # Name prefixes are never read on a large index: FTS5 reads every word they begin first.
    assert all(not p.endswith(" *") for p in counts.probed)
    assert 'name : "driver" *' in query.dropped


def test_nothing_fits_means_no_fulltext_phrase(monkeypatch):
    monkeypatch.setattr(fulltext, "MATCHED_ROWS_BUDGET", 5)
    counts = Counts(fulltext.BOUNDED_FROM_CHUNKS + 1, {'"data"': list(range(1, 5000))})
    assert bounded(counts, phrases(["data"], False, 4)).expression == ""


def test_names_covering_the_most_words_come_first():
    table = SymbolTable(["pci_register_driver", "__pci_register_driver", "register_driver", "pci_read", "driver",
                         "usb_register_driver", "allocBuffer", "slu_get", "queue_work", "queued", "unrelated"])
    found = table.names_covering(["register", "pci", "driver"], 4)
    assert found[0] == ("pci_register_driver", 3)
    assert [covered for _, covered in found] == [3, 3, 2, 2]
    # A part stands for a word it begins (at least half of it) or is begun by.
    assert table.names_covering(["allocate", "buffers"], 5) == [("allocBuffer", 2)]
    assert ("queued", 1) in table.names_covering(["queue"], 5)
    # "slu" is under half of "slugify": no cover.
    assert table.names_covering(["slugify"], 5) == []
    # Two words must be covered when more than one is asked.
    assert table.names_covering(["register", "timer"], 5) == []


@pytest.fixture
def large_index(tmp_path, monkeypatch):
    """A small store the search treats as a large one."""
    monkeypatch.setattr(fulltext, "BOUNDED_FROM_CHUNKS", 1)
    monkeypatch.setattr(fulltext, "MATCHED_ROWS_BUDGET", 3)
    monkeypatch.setattr(symbol_table, "SYMBOL_TABLE_MIN", 1)
    monkeypatch.setattr(symbols_module, "SYMBOL_TABLE_MIN", 1)
    store = Store(tmp_path / "index.db")
    files = []
    for i in range(12):  # "pci", "driver" and "register" in every file: too common to send to FTS5
        name = f"probe_{i}"
        text = f"static int {name}(struct pci_dev *p, struct driver *d) {{ return register_it(d); }}"
        files.append(file(f"drivers/x{i}.c", [(name, text)]))
    files.append(file("drivers/pci/pci-driver.c", [
        ("pci_register_driver", "int pci_register_driver(struct pci_driver *drv) { return driver_register(&drv->driver); }"),
    ]))
    files.append(file("lib/checksum.c", [("csum_fold", "/* fold a 32-bit checksum into 16 bits */ static u16 csum_fold(u32 s)")]))
    store.write_files(files)
    deadline = time.monotonic() + 30
    while symbols_module.symbol_table(store) is None:  # built in the background
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield store
    store.close()


def file(path: str, definitions: list[tuple[str, str]]) -> ChunkedFile:
    chunks = [Chunk(name, SymbolKind.Function, "", Range(n * 3, 0, n * 3 + 2, 1), f"{path} | {name}", text)
              for n, (name, text) in enumerate(definitions)]
    symbols = [Symbol(c.name, c.kind, "", c.range) for c in chunks]
    return with_lexical(ChunkedFile(path, FileStat(1, 1, 1), f"h-{path}", "c", "indexed", "", symbols, chunks))


def test_a_definition_named_by_common_words_is_found_by_its_name(large_index):
    store = large_index
    assert store.lexical_probe('"driver"', 5) == (5, 5)  # at least 5 rows, the fifth is id 5
    assert fulltext.bounded(store, phrases(["register", "pci", "driver"], True, 4)).expression == ""
    hits = Searcher(store, None).search("register a pci driver", 5).hits
    assert hits[0].name == "pci_register_driver"
    # The same question with every word sent to FTS5 finds the same first answer.
    full = Searcher(store, None, SearchOptions(bound_lexical=False)).search("register a pci driver", 5).hits
    assert full[0].name == "pci_register_driver"


def test_a_rare_word_still_finds_the_body_that_holds_it(large_index):
    hits = Searcher(large_index, None).search("fold a checksum", 5).hits
    assert hits[0].name == "csum_fold"


def test_chunks_of_names_reads_each_definitions_chunks(large_index):
    found = large_index.chunks_of_names(["pci_register_driver", "probe_3", "no_such_name"], 10)
    assert sorted(found.values()) == ["pci_register_driver", "probe_3"]
    # A name without a chunk (a macro's) does not count against the names read.
    found = large_index.chunks_of_names(["no_such_name", "probe_3", "pci_register_driver"], 10, most_names=1)
    assert sorted(found.values()) == ["probe_3"]
