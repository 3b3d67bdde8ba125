"""The lexicon of large indexes (search/lexicon.py): tantivy's ranking of the
same fields FTS5 holds, built in the background, and never out of step with
the database, whatever was interrupted."""
import json
import time

import pytest

from fathom.index.lexical import with_lexical
from fathom.models import Chunk, ChunkedFile, FileStat, Range, Symbol, SymbolKind
from fathom.search import Searcher, SearchOptions
from fathom.search import lexicon as lexicon_module
from fathom.store import Store, store as store_module


@pytest.fixture(autouse=True)
def small_lexicons(monkeypatch):
    # The threshold is for real indexes; a test's few files stand in.
    monkeypatch.setattr(lexicon_module, "LEXICON_MIN_CHUNKS", 1)
    lexicon_module._lexicons.clear()
    yield
    for lexicon in lexicon_module._lexicons.values():
        lexicon._busy.acquire(timeout=30)  # a build still running ends before its folder goes
    lexicon_module._lexicons.clear()


def a_file(path: str, definitions: list[tuple[str, str]]) -> ChunkedFile:
    chunks = [Chunk(name, SymbolKind.Function, "", Range(n * 3, 0, n * 3 + 2, 1), f"{path} | {name}", text)
              for n, (name, text) in enumerate(definitions)]
    symbols = [Symbol(c.name, c.kind, "", c.range) for c in chunks]
    return with_lexical(ChunkedFile(path, FileStat(1, 1, 1), f"h-{path}-{len(chunks)}", "c", "indexed", "",
                                    symbols, chunks))


def filled(path) -> Store:
    store = Store(path / "index.db")
    store.write_files([a_file(f"drivers/x{i}.c", [(f"probe_{i}", f"static int probe_{i}(struct device *d) {{ return {i}; }}")])
                       for i in range(20)])
    store.write_files([a_file("lib/checksum.c", [("csum_fold", "/* fold a 32-bit checksum into 16 bits */ u16 csum_fold(u32 s)")])])
    return store


def lexicon_answer(store: Store, terms: list[str], limit: int = 10) -> list[tuple[int, float]]:
    """What the lexicon ranks once it has caught up (built in the background)."""
    lexicon = lexicon_module.lexicon_for(store)
    deadline = time.monotonic() + 60
    while (found := lexicon.ranked(store, terms, limit)) is None:
        assert time.monotonic() < deadline, "the lexicon was never built"
        time.sleep(0.05)
    # The build answers once committed, then merges its segments: wait for its end too.
    assert lexicon._busy.acquire(timeout=60), "the lexicon's build never ended"
    lexicon._busy.release()
    return found


def chunk_named(store: Store, name: str) -> int:
    return store.conn.execute("SELECT id FROM chunks WHERE name=?", (name,)).fetchall()[0][0]


def a_new_process():
    """What another process finds: no lexicon in memory, only the files (and no
    keeper: this process's lock goes with its handle)."""
    for lexicon in lexicon_module._lexicons.values():
        lexicon._busy.acquire(timeout=30)
        lexicon._drop(delete=False)
        if lexicon._keeper_file is not None:
            lexicon._keeper_file.close()
    lexicon_module._lexicons.clear()


def test_a_large_index_is_ranked_by_the_lexicon_once_built_and_by_fts5_before(tmp_path):
    store = filled(tmp_path)
    lexicon = lexicon_module.lexicon_for(store)
    assert lexicon.describe(store).startswith("FTS5, the rarer words (the lexicon is ")
    assert lexicon.ranked(store, ["checksum", "fold"], 5) is None  # not built yet: FTS5 answers
    found = lexicon_answer(store, ["checksum", "fold"])
    assert lexicon.describe(store) == "the lexicon (tantivy)"
    assert found[0][0] == chunk_named(store, "csum_fold") and found[0][1] > 0
    # Identifiers split as FTS5 has them: "probe 7" finds probe_7 by its name first.
    assert lexicon_answer(store, ["probe", "7"])[0][0] == chunk_named(store, "probe_7")
    hits = Searcher(store, None).search("fold a checksum", 5).hits
    assert hits[0].name == "csum_fold"
    # Anything but words (a hostile query) asks for nothing rather than failing.
    assert lexicon.ranked(store, ['"', "name:", "*"], 5) == []
    assert Searcher(store, None, SearchOptions(use_lexicon=False)).search("fold a checksum", 5).hits[0].name == "csum_fold"


def test_a_small_index_is_left_to_fts5(tmp_path, monkeypatch):
    store = filled(tmp_path)
    monkeypatch.setattr(lexicon_module, "LEXICON_MIN_CHUNKS", 1000)
    assert lexicon_module.lexicon_for(store).ranked(store, ["checksum"], 5) is None
    assert lexicon_module.lexicon_for(store).describe(store) == "FTS5"
    assert not (tmp_path / "index.lexicon").exists()


def test_saves_and_removals_reach_the_lexicon_in_the_search_that_follows(tmp_path):
    store = filled(tmp_path)
    old = chunk_named(store, "csum_fold")
    lexicon_answer(store, ["checksum"])
    store.write_files([a_file("lib/checksum.c", [("csum_add", "/* add two checksums, carrying */ u32 csum_add(u32 a, u32 b)")])])
    new = chunk_named(store, "csum_add")
    assert new > old  # chunk ids are never reused
    lexicon = lexicon_module.lexicon_for(store)
    found = lexicon.ranked(store, ["checksum"], 10)  # caught up inside the search
    assert [cid for cid, _ in found] == [new]
    assert lexicon.ranked(store, ["fold"], 10) == []
    store.remove_files(["lib/checksum.c"])
    assert lexicon.ranked(store, ["checksum"], 10) == []
    assert store.chunk_count() == 20


def test_a_commit_whose_state_was_lost_is_not_counted_twice(tmp_path):
    store = filled(tmp_path)
    lexicon_answer(store, ["checksum"])
    state_path = tmp_path / "index.lexicon" / "fathom-state.json"
    saved = json.loads(state_path.read_text())
    store.write_files([a_file("lib/checksum.c", [("csum_add", "/* add two checksums */ u32 csum_add(u32 a, u32 b)")]),
                       a_file("lib/crc.c", [("crc_fold", "/* fold a crc of a checksum */ u32 crc_fold(u32 c)")])])
    lexicon_answer(store, ["checksum"])
    # A crash between the lexicon's commit and its state's save: the state is the one before.
    a_new_process()
    state_path.write_text(json.dumps(saved))
    found = lexicon_answer(store, ["checksum"])
    assert sorted(cid for cid, _ in found) == sorted({chunk_named(store, "csum_add"), chunk_named(store, "crc_fold")})


def test_another_database_or_one_too_far_behind_is_built_again(tmp_path, monkeypatch):
    store = filled(tmp_path)
    lexicon_answer(store, ["checksum"])
    store.close()
    a_new_process()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"index.db{suffix}").unlink(missing_ok=True)
    again = Store(tmp_path / "index.db")  # same path, a new database: ids start again
    again.write_files([a_file("lib/other.c", [("other_fold", "/* fold another checksum */ int other_fold(void)")])])
    found = lexicon_answer(again, ["checksum"])
    assert [cid for cid, _ in found] == [chunk_named(again, "other_fold")]
    # More removals than the log keeps since the lexicon's state: built again.
    monkeypatch.setattr(store_module, "KEPT_REMOVALS", 2)
    a_new_process()
    again.write_files([a_file(f"drivers/y{i}.c", [(f"fold_{i}", f"int fold_{i}(void) {{ return checksum({i}); }}")])
                       for i in range(6)])
    again.remove_files([f"drivers/y{i}.c" for i in range(5)])
    assert again.chunk_log().oldest_kept > 1
    found = lexicon_answer(again, ["checksum"])
    assert sorted(cid for cid, _ in found) == sorted([chunk_named(again, "other_fold"), chunk_named(again, "fold_5")])


def test_a_damaged_lexicon_leaves_fts5_answering_and_is_built_again(tmp_path):
    store = filled(tmp_path)
    lexicon_answer(store, ["checksum"])
    a_new_process()
    folder = tmp_path / "index.lexicon"
    for segment in folder.iterdir():
        if segment.suffix in (".idx", ".term", ".fast"):
            segment.write_bytes(b"\0garbage")
    (folder / "meta.json").write_text("{not json")
    assert lexicon_module.lexicon_for(store).ranked(store, ["checksum"], 5) is None  # FTS5 answers meanwhile
    assert Searcher(store, None).search("fold a checksum", 5).hits[0].name == "csum_fold"
    assert lexicon_answer(store, ["checksum"])[0][0] == chunk_named(store, "csum_fold")


def test_a_second_process_reads_what_the_keeper_writes(tmp_path):
    store = filled(tmp_path)
    keeper = lexicon_module.lexicon_for(store)
    lexicon_answer(store, ["checksum"])
    # Another process's lexicon of the same index: the keeper's lock is taken, so it only reads.
    reader = lexicon_module.Lexicon(keeper.folder, keeper.database)
    other = Store(tmp_path / "index.db", readonly=True)
    assert reader.ranked(other, ["checksum"], 5)[0][0] == chunk_named(store, "csum_fold")
    store.write_files([a_file("lib/crc.c", [("crc_fold", "/* a crc for the checksum */ u32 crc_fold(u32 c)")])])
    # Close behind: it answers from what it has until the keeper catches up.
    assert [cid for cid, _ in reader.ranked(other, ["crc"], 5)] == []
    keeper.ranked(store, ["crc"], 5)
    assert [cid for cid, _ in reader.ranked(other, ["crc"], 5)] == [chunk_named(store, "crc_fold")]
    assert reader._keeper_file is None and not reader._busy.locked()
    other.close()


def test_what_is_saved_while_the_keepers_build_still_merges_is_left_to_fts5(tmp_path):
    """A build answers once committed, then merges its segments holding the writer:
    a save in that window cannot be caught up inline, and a stale answer would miss it."""
    store = filled(tmp_path)
    keeper = lexicon_module.lexicon_for(store)
    lexicon_answer(store, ["checksum"])
    store.write_files([a_file("lib/crc.c", [("crc_fold", "/* a crc for the checksum */ u32 crc_fold(u32 c)")])])
    with keeper._busy:  # as the build's thread holds it while merging
        assert keeper.ranked(store, ["crc"], 5) is None
        assert keeper.describe(store) == "FTS5, the rarer words (the lexicon is being built)"
    assert [cid for cid, _ in keeper.ranked(store, ["crc"], 5)] == [chunk_named(store, "crc_fold")]

def test_chunk_ids_are_never_reused_and_counted_without_a_scan(tmp_path):
    store = filled(tmp_path)
    last = store.chunk_log().last_id
    store.remove_files(["lib/checksum.c"])  # the highest id goes
    store.write_files([a_file("lib/crc.c", [("crc_fold", "u32 crc_fold(u32 c)")])])
    assert chunk_named(store, "crc_fold") == last + 1
    log = store.chunk_log()
    assert log.chunks == store.conn.execute("SELECT count(*) FROM chunks").fetchall()[0][0] == 21
    assert store.removed_chunks_after(log.removals - 1) == [last]


def test_a_lexicon_saved_by_another_process_is_caught_up_not_built_again(tmp_path):
    store = filled(tmp_path)
    lexicon_answer(store, ["checksum"])
    a_new_process()
    store.write_files([a_file("lib/crc.c", [("crc_fold", "/* a crc for the checksum */ u32 crc_fold(u32 c)")])])
    segments = {p.name for p in (tmp_path / "index.lexicon").iterdir()}
    lexicon_module.lexicon_for(store).build_now(store)
    assert segments <= {p.name for p in (tmp_path / "index.lexicon").iterdir()} | {"meta.json"}  # none rewritten
    assert {cid for cid, _ in lexicon_answer(store, ["checksum"])} == {chunk_named(store, "csum_fold"),
                                                                       chunk_named(store, "crc_fold")}


def test_an_index_from_before_the_chunk_log_counts_its_chunks_after_migration(tmp_path):
    store = filled(tmp_path)
    store.remove_files(["drivers/x3.c", "drivers/x7.c"])  # gaps in the ids before the log began
    with store.all_or_nothing():
        store.conn.execute("DROP TABLE chunk_removals")
        store.conn.execute("DELETE FROM meta WHERE key LIKE 'chunks_%'")
    store.set_meta("schema_version", "5")
    store.close()
    again = Store(tmp_path / "index.db")
    log = again.chunk_log()
    assert log.chunks == again.conn.execute("SELECT count(*) FROM chunks").fetchall()[0][0] == 19
    assert log.generation and log.last_id == 21
    again.write_files([a_file("lib/crc.c", [("crc_fold", "u32 crc_fold(u32 c)")])])
    assert chunk_named(again, "crc_fold") == 22 and again.chunk_count() == 20


def test_a_one_shot_search_reads_a_built_lexicon_and_never_starts_one(tmp_path):
    store = filled(tmp_path)
    searcher = Searcher(store, None, keep_lexicon=False)
    assert searcher.search("fold a checksum", 5).hits[0].name == "csum_fold"  # FTS5 answers
    assert not (tmp_path / "index.lexicon").exists() and not (tmp_path / "index.lexicon.lock").exists()
    lexicon_answer(store, ["checksum"])  # a server built it
    lexicon = lexicon_module.lexicon_for(store)
    asked = []
    real_ranked = lexicon.ranked
    lexicon.ranked = lambda *a, **k: asked.append(k) or real_ranked(*a, **k)
    assert searcher.search("fold a checksum", 5).hits[0].name == "csum_fold"
    assert asked == [{"keep": False}]
