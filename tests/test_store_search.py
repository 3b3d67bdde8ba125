import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import apsw
import pytest

from fathom.index.lexical import with_lexical
from fathom.models import Chunk, ChunkedFile, FileStat, IndexCounts, Range, Symbol, SymbolKind
from fathom.search import SearchOptions, Searcher, symbol_tier
from fathom.store import SCHEMA_VERSION, VERIFIED_FOR_S, Store, _migrate
from fathom.textsplit import expand_identifiers, query_terms


def chunked(path, chunks, symbols=()):
    return with_lexical(ChunkedFile(path, FileStat(1, 1, 1), f"h-{path}", "python", "indexed", "", list(symbols), chunks))


def chunk(name, text, line=0, kind=SymbolKind.Function):
    return Chunk(name, kind, "", Range(line, 0, line + 2, 1), f"p | {name}", text)


def test_identifier_splitting():
    assert "parse Http Date" in expand_identifiers("parseHttpDate(x)")
    assert query_terms("where do we parse HTTP date headers?") == ["parse", "http", "date", "headers"]
    assert query_terms("parse_http_date")[1:] == ["parse", "http", "date"]


def test_lexical_matches_camel_and_snake(tmp_path):
    store = Store(tmp_path / "i.db")
    store.write_files([
        chunked("a.py", [chunk("parseHttpDate", "def parseHttpDate(v): ...")]),
        chunked("b.py", [chunk("parse_http_date", "def parse_http_date(v): ...")]),
        chunked("c.py", [chunk("unrelated", "def unrelated(): return 1")]),
    ])
    hits = Searcher(store, None).search("http date", 10)
    assert {h.relpath for h in hits.hits} == {"a.py", "b.py"}
    assert hits.partial  # no vectors exist


def test_a_query_word_finds_a_name_that_begins_with_it(tmp_path):
    store = Store(tmp_path / "i.db")
    store.write_files([
        chunked("text.py", [chunk("slugify", "def slugify(value):\n    return re.sub(r'[-\\s]+', '-', value)")]),
        chunked("other.py", [chunk("unrelated", "def unrelated(): return 1")]),
        chunked("short.py", [chunk("strip_all", "def strip_all(v): return v")]),
    ])
    hits = Searcher(store, None).search("convert a string to a slug", 10).hits
    assert [h.name for h in hits] == ["slugify"]
    # "str" is too short to stand for the start of a name: it would begin half of them.
    assert Searcher(store, None).search("str", 10).hits == []


def test_vectors_are_keyed_by_text_hash_and_survive_moves(tmp_path):
    store = Store(tmp_path / "i.db")
    c = chunk("f", "def f(): pass")
    store.write_files([chunked("a.py", [c])])
    store.use_vector_model("m", 2)
    assert [(p.text_hash, p.relpath) for p in store.pending_embeddings()] == [(c.text_hash, "a.py")]
    assert store.write_vectors([(c.text_hash, struct.pack("2f", 1, 0))]) == 1
    assert store.pending_count() == 0
    store.remove_files(["a.py"])
    store.write_files([chunked("moved/a.py", [c])])  # same text elsewhere
    assert store.pending_count() == 0
    assert store.write_vectors([(c.text_hash, struct.pack("2f", 1, 0))]) == 0
    near = store.nearest(struct.pack("2f", 1, 0), 5)
    assert len(near) == 1 and near[0][1] > 0.99


def test_model_change_drops_vectors(tmp_path):
    store = Store(tmp_path / "i.db")
    c = chunk("f", "def f(): pass")
    store.write_files([chunked("a.py", [c])])
    store.use_vector_model("m1", 2)
    store.write_vectors([(c.text_hash, struct.pack("2f", 1, 0))])
    assert store.use_vector_model("m2", 3) is True
    assert store.pending_count() == 1


def test_rewrite_replaces_and_file_removal_cleans_everything(tmp_path):
    store = Store(tmp_path / "i.db")
    sym = Symbol("f", SymbolKind.Function, "", Range(0, 0, 1, 1))
    store.write_files([chunked("a.py", [chunk("f", "one"), chunk("g", "two")], [sym])])
    store.write_files([chunked("a.py", [chunk("f", "three")], [sym])])
    counts = store.counts()
    assert (counts.files, counts.symbols, counts.chunks) == (1, 1, 1)
    assert Searcher(store, None).search("two", 5).hits == []
    store.remove_files(["a.py"])
    counts = store.counts()
    assert (counts.files, counts.symbols, counts.chunks) == (0, 0, 0)
    assert store.integrity_ok()


def test_corrupt_and_old_databases_are_moved_aside(tmp_path):
    path = tmp_path / "i.db"
    path.write_bytes(b"garbage" * 1000)
    store = Store(path)
    assert "moved to" in store.notice and store.counts().files == 0
    store.set_meta("schema_version", "2")  # older than any migration reaches
    store.close()
    again = Store(path)
    assert "schema" in again.notice


def test_the_full_integrity_check_is_skipped_only_for_a_file_left_as_it_was(tmp_path):
    path = tmp_path / "i.db"
    store = Store(path)
    store.write_files([chunked("a.py", [chunk("f", "def f(): pass")])])
    assert store.integrity_checked
    store.close()

    again = Store(path)  # closed cleanly by us a moment ago: nothing to re-read
    assert not again.integrity_checked and again.counts().chunks == 1
    again.close()

    # Another program wrote into it, same size: the new mtime has the whole file checked.
    with open(path, "r+b") as f:
        f.seek(101)  # into the first b-tree page's header
        f.write(b"\xff")
    touched = Store(path)
    assert touched.integrity_checked and "integrity check failed" in touched.notice
    touched.close()

    # A check more than a day old no longer vouches for the file.
    stamp = json.loads((tmp_path / "i.db-verified").read_text())
    stamp["verified_at"] -= VERIFIED_FOR_S + 1
    (tmp_path / "i.db-verified").write_text(json.dumps(stamp))
    assert Store(path).integrity_checked

    # A writer that never closed (a crash, or one still running) leaves the -wal file.
    store, reader = Store(path), Store(path, readonly=True)
    store.set_meta("written", "while a reader has it open")
    reader.counts()
    store.close()  # the reader keeps the -wal file, and the writer's frames, in place
    assert Path(f"{path}-wal").stat().st_size > 0
    assert Store(path).integrity_checked


def test_a_read_only_visit_does_not_cost_the_next_open_a_full_check(tmp_path):
    """A read-only connection (a `fathom search`, a benchmark) that is the last
    to close leaves an empty -wal file it cannot remove: nothing was written, the
    file is as the last check left it (40 s on the kernel's index otherwise)."""
    path = tmp_path / "i.db"
    store = Store(path)
    store.write_files([chunked("a.py", [chunk("f", "def f(): pass")])])
    store.close()
    reader = Store(path, readonly=True)
    assert reader.counts().chunks == 1
    reader.close()
    assert Path(f"{path}-wal").exists() and Path(f"{path}-wal").stat().st_size == 0
    again = Store(path)
    assert not again.integrity_checked and again.counts().chunks == 1
    again.close()


def test_a_damaged_file_with_a_stale_stamp_is_still_moved_aside(tmp_path):
    path = tmp_path / "i.db"
    Store(path).close()
    path.write_bytes(b"garbage" * 1000)
    store = Store(path)
    assert "moved to" in store.notice and store.counts().files == 0


def test_an_index_one_schema_behind_is_migrated_keeping_its_vectors(tmp_path):
    path = tmp_path / "i.db"
    store = Store(path)
    c = chunk("f", "def f(): pass")
    store.write_files([chunked("a.py", [c])])
    store.use_vector_model("m", 2)
    store.write_vectors([(c.text_hash, struct.pack("2f", 1, 0))])
    store.conn.execute("ALTER TABLE chunks DROP COLUMN embed")  # the schema 3 layout
    store.set_meta("schema_version", "3")
    store.close()
    # The server and a CLI command may open it at the same moment.
    stale = apsw.Connection(str(path))
    stale.execute("BEGIN")
    stale.execute("SELECT count(*) FROM chunks").fetchall()  # holds a snapshot of the old layout
    again = Store(path)
    stale.execute("ROLLBACK")
    assert again.notice == "" and again.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert again.counts().chunks == 1 and again.pending_count() == 0
    assert again.nearest(struct.pack("2f", 1, 0), 5)[0][1] > 0.99
    assert _migrate(stale) == SCHEMA_VERSION  # a second opener that read version 3 before the first migrated
    assert again.counts().chunks == 1


def test_chunks_of_a_file_not_to_embed_are_never_pending(tmp_path):
    from dataclasses import replace

    store = Store(tmp_path / "i.db")
    own, vendored = chunk("own_helper", "def own_helper(): pass"), chunk("lib_helper", "def lib_helper(): pass")
    store.write_files([chunked("a.py", [own]), replace(chunked("vendor/lib.py", [vendored]), embed=False)])
    store.use_vector_model("m", 2)
    assert [p.text_hash for p in store.pending_embeddings()] == [own.text_hash]
    store.write_vectors([(own.text_hash, struct.pack("2f", 1, 0))])
    assert not store.has_pending() and store.pending_count() == 0
    result = Searcher(store, lambda _q: struct.pack("2f", 1, 0)).search("helper", 10)
    assert not result.partial and [h.name for h in result.hits] == ["own_helper", "lib_helper"]


def test_cache_files_are_private(tmp_path):
    store = Store(tmp_path / "sub" / "i.db")
    assert (tmp_path / "sub").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "sub" / "i.db").stat().st_mode & 0o777 == 0o600
    store.close()


def test_symbol_tiers():
    assert symbol_tier("parse", "parse") == 0
    assert symbol_tier("PARSE", "parse") == 1
    assert symbol_tier("par", "parse_date") == 2
    assert symbol_tier("pd", "parse_date") == 3
    assert symbol_tier("httpDa", "parseHttpDate") == 3
    assert symbol_tier("pae", "parse") == 4
    assert symbol_tier("xyz", "parse") is None


def test_symbol_ranking_order(tmp_path):
    store = Store(tmp_path / "i.db")
    def s(name, container=""):
        return Symbol(name, SymbolKind.Function, container, Range(0, 0, 1, 0))
    store.write_files([chunked("a.py", [], [s("get_date"), s("get"), s("gadget"), s("getter_long_name"), s("get", "Cls")])])
    names = [(h.name, h.container) for h in Searcher(store, None).symbols("get", 10)]
    assert names[:2] == [("get", ""), ("get", "Cls")]
    assert names[2:] == [("get_date", ""), ("getter_long_name", ""), ("gadget", "")]


def test_a_prefix_spelt_with_capitals_finds_names_in_its_own_case_first(tmp_path):
    """Smart case: `Exe` asks for Go's exported `Execute` (and its longer
    kin) before the unexported `execute`; `exe` is taken as typed carelessly."""
    store = Store(tmp_path / "i.db")
    def s(name, line):
        return Symbol(name, SymbolKind.Method, "Command", Range(line, 0, line + 1, 0))
    store.write_files([chunked("command.go", [], [s("execute", 1), s("Execute", 5), s("ExecuteContext", 9),
                                                   s("exec", 13)])])
    names = lambda query: [h.name for h in Searcher(store, None).symbols(query, 10)]  # noqa: E731
    assert names("Exe") == ["Execute", "ExecuteContext", "exec", "execute"]
    assert names("exe") == ["exec", "execute", "Execute", "ExecuteContext"]  # shortest, then in source order
    assert names("Command.Exe")[:2] == ["Execute", "ExecuteContext"]


def test_a_name_asked_within_its_container_finds_that_containers_members_first(tmp_path):
    store = Store(tmp_path / "i.db")

    def s(name, container=""):
        return Symbol(name, SymbolKind.Method if container else SymbolKind.Function, container, Range(0, 0, 1, 0))
    store.write_files([chunked("a.py", [], [
        s("print"), s("print", "Pretty"), s("print_json", "Console"), s("print", "Console"), s("prepare", "Console"),
        s("push", "Vec"), s("push", "VecDeque"), s("push", "Stack"), s("print", "rich.console.Console"),
        s("module.exports"), s("print", "Cool")])])

    def asked(query, limit=10):
        return [(h.name, h.container) for h in Searcher(store, None).symbols(query, limit)]
    assert asked("Console.print") == [("print", "Console"), ("print", "rich.console.Console"), ("print_json", "Console")]
    assert asked("rich.console.Console.print")[:2] == [("print", "Console"), ("print", "rich.console.Console")]
    assert asked("Vec::push") == [("push", "Vec"), ("push", "VecDeque")]
    assert asked("VD#push") == [("push", "VecDeque")]
    assert asked("Console.prt") == [("print", "Console"), ("print", "rich.console.Console"), ("print_json", "Console")]
    # A name spelt with a dot is still itself; a plain name is unchanged; a container matches
    # by prefix or humps, not by letters scattered through it.
    assert asked("module.exports")[0] == ("module.exports", "")
    assert asked("print", 5)[0] == ("print", "") and {name for name, _ in asked("print", 5)} == {"print"}
    assert {c for _, c in asked("C.print")} == {"Console", "Cool", "rich.console.Console"}
    assert asked("Cl.print") == []
    # `Console.` lists the members, the container matching best first, each in source order;
    # `.push` asks the name as anything's member.
    assert asked("Console.") == [("print_json", "Console"), ("print", "Console"), ("prepare", "Console"),
                                 ("print", "rich.console.Console")]
    assert asked("VecDeque::") == [("push", "VecDeque")]
    assert asked("Nothing.") == []
    assert sorted(asked(".push")) == [("push", "Stack"), ("push", "Vec"), ("push", "VecDeque")]
    members = asked(".print")
    assert sorted(members[:4]) == [("print", c) for c in ("Console", "Cool", "Pretty", "rich.console.Console")]
    assert members[4:] == [("print_json", "Console"), ("print", "")]


def test_the_cheap_prefix_tier_of_a_container_agrees_with_the_full_one():
    from fathom.search.symbols import _container_tier, _prefix_tier

    containers = ["Alloc", "alloc", "AllocTable", "Outer.Inner", "ns::Vec", "Foo#bar", "TableAlloc", "a.b.c", "ATable"]
    for asked in ["a", "A", "Alloc", "al", "at", "Inner", "inn", "vec", "bar", "ab", "b", "Table", "x"]:
        for container in containers:
            full = _container_tier(asked, container)
            assert _prefix_tier(asked, container) == (full if full is not None and full <= 2 else None), (asked, container)


def test_first_opening_from_several_threads_at_once(tmp_path, monkeypatch):
    """The server's indexing thread and its request handlers open a fresh
    workspace's index together; that must give one writer, never 'database is locked'."""
    import threading

    from fathom.config import Settings
    from fathom.workspace import Workspace

    monkeypatch.setenv("FATHOM_CACHE_DIR", str(tmp_path / "cache"))
    for attempt in range(15):
        root = tmp_path / f"ws{attempt}"
        root.mkdir()
        ws = Workspace(root, Settings.from_env())
        start = threading.Barrier(6)
        errors, stores = [], []

        def open_it(which: str) -> None:
            start.wait()
            try:
                stores.append(getattr(ws, which))
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_it, args=("writer" if i % 2 else "reader",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        assert len({id(s) for s in stores if not s.readonly}) == 1
        assert ws.reader.counts().files == 0
        ws.close()


def test_a_long_definition_is_one_hit_covering_it_whole(tmp_path):
    from fathom.index.chunker import Chunker
    from fathom.index.tokens import TokenCounter

    body = "\n".join(f"    total += frobnicate_widget(x, {i})" for i in range(60))
    source = (
        f"# A comment above: the first window starts there, the others do not.\n"
        f"def long_one(x):\n    total = 0\n{body}\n    total += zanzibar_quirk(x)\n    return total\n\n\n"
        "class Box:\n"
        "    @property\n    def frobnicate_level(self):\n        return self._level\n\n"
        "    @frobnicate_level.setter\n    def frobnicate_level(self, v):\n        self._level = v\n"
    )
    lang, symbols, chunks = Chunker(TokenCounter(None), 96).chunk_source("m.py", source)
    windows = [c for c in chunks if c.name == "long_one"]
    assert len(windows) > 2 and sum(c.continues_a_definition for c in windows) == len(windows) - 1
    store = Store(tmp_path / "i.db")
    store.write_files([chunked("m.py", chunks, symbols)])

    hits = Searcher(store, None).search("frobnicate widget", 10).hits
    long_hits = [h for h in hits if h.name == "long_one"]
    assert len(long_hits) == 1
    assert (long_hits[0].range.start_line, long_hits[0].range.end_line) == (1, 64)
    # Two definitions that share a name (a property and its setter) stay two hits.
    level = [h.range.start_line for h in hits if h.name == "frobnicate_level"]
    assert sorted(level) == [68, 72]

    # Found by its last window's words, the hit still shows its signature, where it is listed.
    last = Searcher(store, None).search("zanzibar quirk", 10).hits
    assert last[0].name == "long_one" and last[0].snippet.startswith("def long_one(x):"), last[0]


def test_a_long_section_of_a_document_is_one_hit_covering_it_whole(tmp_path):
    """A section's paragraphs and code blocks are chunks of their own, a long one cut
    into windows; each that matched was a hit of its own, and one README section
    filled a page. A later section of the same heading stays a hit of its own."""
    from fathom.index.chunker import Chunker
    from fathom.index.tokens import TokenCounter

    para = " ".join(["Failed uploads are retried with exponential backoff and jitter."] * 4)
    source = (f"# Guide\n\n## Retries\n\n{para}\n\n```python\nclient = Client(retries=5)\nclient.upload(path)\n```\n\n"
              f"{para}\n\n{para}\n\n## Timeouts\n\nEach request waits thirty seconds for the server.\n\n"
              "## Retries\n\nThe command line retries uploads too: pass --retries with a backoff.\n")
    _lang, symbols, chunks = Chunker(TokenCounter(None), 96).chunk_source("docs/guide.md", source)
    assert sum(c.name == "Retries" for c in chunks) > 3
    store = Store(tmp_path / "i.db")
    store.write_files([chunked("docs/guide.md", chunks, symbols)])

    hits = Searcher(store, None).search("retried uploads backoff", 10).hits
    assert [(h.name, h.range.start_line, h.range.end_line) for h in hits if h.name == "Retries"] in (
        [("Retries", 2, 14), ("Retries", 19, 22)], [("Retries", 19, 22), ("Retries", 2, 14)])
    assert next(h for h in hits if h.range.start_line == 2).snippet.startswith("## Retries")


def test_a_chunk_still_waiting_for_its_vector_keeps_its_lexical_rank(tmp_path):
    store = Store(tmp_path / "i.db")
    waiting = chunk("parse_http_date", "def parse_http_date(value): parse an http date header")
    embedded = chunk("format_date", "def format_date(value): format a date")
    store.write_files([chunked("a.py", [waiting]), chunked("b.py", [embedded])])
    store.use_vector_model("m", 2)
    store.write_vectors([(embedded.text_hash, struct.pack("2f", 1, 0))])
    near_embedded = lambda _query: struct.pack("2f", 1, 0)  # noqa: E731

    # The better lexical match has no vector yet: having one must not be what wins.
    result = Searcher(store, near_embedded).search("http date", 10)
    assert result.partial and [h.name for h in result.hits] == ["parse_http_date", "format_date"]
    store.write_vectors([(waiting.text_hash, struct.pack("2f", 0, 1))])
    result = Searcher(store, near_embedded).search("http date", 10)
    assert not result.partial and {h.name for h in result.hits} == {"format_date", "parse_http_date"}


def test_a_vector_written_just_after_the_dense_ranking_does_not_cost_its_chunk_the_meaning_half(tmp_path):
    """The last vectors of a first index landed between the dense ranking and
    the look at what was pending: the one match was in neither the dense ranking
    nor taken to rank on meaning as on words, and an agent's first answer put
    unrelated code above it (1 run in 25 on a loaded machine)."""
    store = Store(tmp_path / "i.db")
    waiting = chunk("dispatch", "def dispatch(request): send an email message")
    others = [chunk(f"helper_{i}", f"def helper_{i}(value): return value + {i}") for i in range(5)]
    # Written last, as the first index writes it: a tie would go to the others.
    store.write_files([chunked(f"h{i}.py", [c]) for i, c in enumerate(others)] + [chunked("mail.py", [waiting])])
    store.use_vector_model("m", 2)
    store.write_vectors([(c.text_hash, struct.pack("2f", 0.6, 0.8)) for c in others])
    ranked_by_meaning = store.nearest

    def vector_lands_just_after(vector, k):
        found = ranked_by_meaning(vector, k)
        store.write_vectors([(waiting.text_hash, struct.pack("2f", 1, 0))])
        return found

    store.nearest = vector_lands_just_after
    result = Searcher(store, lambda _query: struct.pack("2f", 1, 0)).search("send email message", 3)
    assert result.hits[0].name == "dispatch", [(h.name, h.score) for h in result.hits]


def test_prose_is_ranked_against_the_models_own_reading_of_a_question_code_against_its_question_encoders(tmp_path):
    """A model with a question encoder (trained to find code) reads prose worse
    than the model itself: Markdown sections are ranked by the model's own
    reading of the question, definitions by the question encoder's."""
    store = Store(tmp_path / "i.db")
    code = chunk("redirect", "def redirect(request): strip the auth header")
    prose = Chunk("Redirects", SymbolKind.File, "", Range(0, 0, 9, 1), "docs/redirects.md | Redirects",
                  "Redirects drop the Authorization header when the host changes.")
    store.write_files([chunked("http.py", [code]), chunked("docs/redirects.md", [prose])])
    store.use_vector_model("m", 2)
    store.write_vectors([(code.text_hash, struct.pack("2f", 1, 0)), (prose.text_hash, struct.pack("2f", 0, 1))])
    as_question, as_text = struct.pack("2f", 0.8, 0.6), struct.pack("2f", 0.2, 0.98)

    assert [round(s, 2) for _, s in store.nearest(as_question, 5)] == [0.8, 0.6]
    (first, s1), (second, s2) = store.nearest(as_question, 5, as_text)
    assert (round(s1, 2), round(s2, 2)) == (0.98, 0.8)  # the section by the text reading, the code by the question's
    rows = store.chunk_rows([first, second])
    assert (rows[first][1].name, rows[second][1].name) == ("Redirects", "redirect")
    # The two readings' cosines stand on scales of their own: a shift moves prose against code.
    (first, s1), (second, s2) = store.nearest(as_question, 5, as_text, text_shift=-0.3)
    assert (rows[first][1].name, round(s1, 2), round(s2, 2)) == ("redirect", 0.8, 0.68)
    hits = Searcher(store, lambda _q: as_question, embed_as_text=lambda _q: as_text).search("when is the header dropped", 5)
    assert [h.name for h in hits.hits][0] == "Redirects"
    # An encoder that reads questions as it reads code has no second reading to give.
    hits = Searcher(store, lambda _q: as_question, embed_as_text=lambda _q: None).search("when is the header dropped", 5)
    assert [h.name for h in hits.hits][0] == "redirect"
    # Fathom's own question layers learned to keep code below the section a heading asks
    # for, so its prose is shifted down a little; any other model's is not shifted.
    from fathom.config import DEFAULT_MODEL, ORIGINAL_MODEL

    assert Searcher(None, None, model_id=DEFAULT_MODEL).options.prose_shift == -0.05
    assert Searcher(None, None, model_id=ORIGINAL_MODEL).options.prose_shift == 0.0
    assert Searcher(store, None).options.prose_shift == 0.0


def test_a_query_of_punctuation_alone_gets_no_hits_rather_than_the_nearest_vectors(tmp_path):
    """Nothing in `?` or `...` can match a word, and the model reads such a
    query as noise: whatever came nearest would be an arbitrary answer."""
    store = Store(tmp_path / "i.db")
    code = chunk("redirect", "def redirect(request): strip the auth header")
    store.write_files([chunked("http.py", [code])])
    store.use_vector_model("m", 2)
    store.write_vectors([(code.text_hash, struct.pack("2f", 1, 0))])
    asked = []
    searcher = Searcher(store, lambda q: asked.append(q) or struct.pack("2f", 1, 0))
    for wordless in ("?", "...", " -> ", "_"):
        result = searcher.search(wordless, 5)
        assert result.hits == [] and not result.partial, wordless
    assert asked == []  # the model was not asked
    assert [h.name for h in searcher.search("redirect?", 5).hits] == ["redirect"]
    assert [h.name for h in searcher.search("重定向", 5).hits] == ["redirect"]  # words of any script are words


def test_pending_is_seen_by_a_reader_as_soon_as_the_writer_commits(tmp_path):
    writer = Store(tmp_path / "i.db")
    reader = Store(tmp_path / "i.db", readonly=True)
    first, second = chunk("f", "def f(): pass"), chunk("g", "def g(): pass")
    writer.use_vector_model("m", 2)
    assert not reader.has_pending() and not reader.has_pending()
    assert reader.counts() == IndexCounts(0, 0, 0, 0)
    writer.write_files([chunked("a.py", [first])])
    assert reader.has_pending()
    assert reader.counts().pending == 1 and reader.counts().files == 1
    writer.write_vectors([(first.text_hash, struct.pack("2f", 1, 0))])
    assert not reader.has_pending()
    assert reader.counts().pending == 0
    writer.write_files([chunked("b.py", [second])])
    assert reader.has_pending() and writer.has_pending()
    assert reader.counts().pending == writer.counts().pending == 1
    assert reader.counts().files == writer.counts().files == 2


def test_damage_the_integrity_stamp_vouched_for_is_moved_aside_and_rebuilt(corpus, fake_embedder):
    """A page overwritten with its size and mtime kept: the stamp vouched for the
    file, so no check ran, and every `fathom index` failed with CorruptError."""
    from fathom.config import Settings
    from fathom.index.run import Indexer
    from fathom.workspace import Workspace

    def index():
        ws = Workspace(corpus, Settings(workers=1))
        indexer = Indexer(ws, fake_embedder)
        try:
            return ws, indexer.run()
        finally:
            indexer.close()

    ws, _ = index()
    counts = ws.writer.counts()
    pages = [p for (p,) in ws.writer.conn.execute("SELECT pageno FROM dbstat WHERE name = 'files'")]
    page_size = ws.writer.conn.execute("PRAGMA page_size").fetchall()[0][0]
    ws.close()  # a clean close: the stamp now vouches for the file
    path = ws.db_path
    before = os.stat(path)
    with open(path, "r+b") as f:  # the pages of the files table, overwritten; opening reads none of them
        for page in pages:
            f.seek((page - 1) * page_size)
            f.write(os.urandom(page_size))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    ws, stats = index()
    assert ws.writer.counts() == counts and ws.writer.integrity_ok()
    assert list(path.parent.glob("index.db.broken-*"))
    ws.close()


def test_test_code_ranks_below_the_projects_own_unless_asked_for(tmp_path):
    store = Store(tmp_path / "i.db")
    store.write_files([
        chunked("requests/sessions.py", [chunk("rebuild_auth", "def rebuild_auth(r): strip authorization header")]),
        chunked("tests/test_sessions.py", [chunk("test_strip_authorization_header",
                                                  "def test_strip_authorization_header(): strip authorization header")]),
    ])
    searcher = Searcher(store, None)
    found = lambda query, **kw: [h.relpath for h in searcher.search(query, 10, **kw).hits]  # noqa: E731
    assert found("strip authorization header") == ["requests/sessions.py", "tests/test_sessions.py"]
    assert found("strip authorization header", include_tests=True)[0] == "tests/test_sessions.py"
    assert found("strip authorization header", include_tests=False) == ["requests/sessions.py"]
    # A query about tests gets them ranked as any code.
    assert found("test strip authorization header")[0] == "tests/test_sessions.py"


def test_release_notes_rank_below_the_code_unless_the_question_is_about_changes(tmp_path):
    store = Store(tmp_path / "i.db")
    note = "strip the authorization header on redirect to another host"
    store.write_files([
        chunked("requests/sessions.py", [chunk("rebuild_auth", "def rebuild_auth(r): strip authorization header")]),
        chunked("HISTORY.md", [Chunk("2.32.0", SymbolKind.String, "", Range(0, 0, 2, 0), "2.32.0",
                                     f"## 2.32.0\n- {note}, {note}")]),
    ])
    found = lambda query: [h.relpath for h in Searcher(store, None).search(query, 10).hits]  # noqa: E731
    assert found("strip authorization header redirect host") == ["requests/sessions.py", "HISTORY.md"]
    as_any_text = Searcher(store, None, SearchOptions(release_notes_weight=1.0))
    assert as_any_text.search("strip authorization header redirect host", 10).hits[0].relpath == "HISTORY.md"
    assert found("which release changed the authorization header on redirect")[0] == "HISTORY.md"


def test_a_rust_test_module_is_test_code_in_results(tmp_path):
    store = Store(tmp_path / "i.db")
    inside = Chunk("parses_empty", SymbolKind.Function, "tests", Range(9, 0, 11, 1), "tests.parses_empty",
                   "fn parses_empty() { parse(\"\") }")
    store.write_files([chunked("src/parse.rs", [chunk("parse", "fn parse(s: &str) { }"), inside])])
    assert [h.name for h in Searcher(store, None).search("parse", 10, include_tests=False).hits] == ["parse"]


def test_the_same_text_in_two_files_is_listed_once(tmp_path):
    store = Store(tmp_path / "i.db")
    same = "def vendored_helper(x): return x"
    store.write_files([chunked("a/util.py", [chunk("vendored_helper", same)]),
                       chunked("b/util.py", [chunk("vendored_helper", same)])])
    hits = Searcher(store, None).search("vendored helper", 10).hits
    assert len(hits) == 1 and hits[0].container == ""


def test_a_snippet_starts_at_the_signature_not_a_decorator():
    from fathom.search.hybrid import snippet_of

    assert snippet_of("@property\n@cache\ndef name(self):\n    return 1").split("\n")[0] == "def name(self):"
    assert snippet_of("/**\n * Pushes a job.\n */\nexport function push(job) {}").startswith("export function push")
    assert snippet_of("#[inline]\npub fn len(&self) -> usize { 0 }").startswith("pub fn len")
    assert snippet_of("#include <stdio.h>\nint main() {}").startswith("#include")
    assert snippet_of("// only a comment") == "// only a comment"


def test_vectors_of_each_model_are_kept_apart_and_switching_back_costs_nothing(tmp_path):
    store = Store(tmp_path / "i.db")
    c = chunk("f", "def f(): pass")
    store.write_files([chunked("a.py", [c])])
    store.use_vector_model("local-model", 2)
    store.write_vectors([(c.text_hash, struct.pack("2f", 1, 0))])
    assert store.use_vector_model("openai-compatible:served", 3) is True
    assert store.pending_count() == 1  # another model's vectors never answer for this one
    assert store.nearest(struct.pack("3f", 1, 0, 0), 5) == []
    store.write_vectors([(c.text_hash, struct.pack("3f", 0, 1, 0))])
    assert store.use_vector_model("local-model", 2) is True
    assert store.pending_count() == 0  # its vectors were kept
    assert store.nearest(struct.pack("2f", 1, 0), 5)[0][1] > 0.99
    assert sorted(store.vector_models()) == [("local-model", 2, 1), ("openai-compatible:served", 3, 1)]
    # Past KEPT_VECTOR_MODELS, the model used longest ago goes.
    for other in ("third", "fourth"):
        store.use_vector_model(other, 2)
    assert sorted(m for m, _dim, _n in store.vector_models()) == ["fourth", "local-model", "third"]
    store.close()


def test_an_index_of_schema_4_keeps_its_one_models_vectors_as_the_first_model(tmp_path):
    path = tmp_path / "i.db"
    store = Store(path)
    c = chunk("f", "def f(): pass")
    store.write_files([chunked("a.py", [c])])
    store.use_vector_model("m", 2)
    store.write_vectors([(c.text_hash, struct.pack("2f", 1, 0))])
    store.conn.execute("DROP TABLE vector_models")  # the schema 4 layout
    store.set_meta("schema_version", "4")
    store.close()
    again = Store(path)
    assert again.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert again.vector_models() == [("m", 2, 1)]
    assert again.use_vector_model("m", 2) is False and again.pending_count() == 0
    again.close()


def test_filters_narrow_a_search_by_language_kind_and_path(tmp_path):
    import pytest
    from dataclasses import replace

    from fathom.search import InvalidFilter, SearchFilters

    store = Store(tmp_path / "i.db")
    store.write_files([
        chunked("src/parse.py", [chunk("parse_date", "def parse_date(v): ..."),
                                 chunk("DateParser", "class DateParser: parse date", 5, SymbolKind.Class)]),
        replace(chunked("web/parse.ts", [chunk("parseDate", "function parseDate(v) { parse date }")]),
                language="typescript"),
        chunked("vendor/parse.py", [chunk("parse_date_vendored", "def parse_date_vendored(v): parse date")]),
    ])
    search = Searcher(store, None).search

    def names(**given):
        return sorted(h.name for h in search("parse date", 10, filters=SearchFilters.parse(**given)).hits)

    assert names() == ["DateParser", "parseDate", "parse_date", "parse_date_vendored"]
    assert names(language="typescript") == ["parseDate"]
    assert names(language=["python"], kind="function", exclude=["vendor/"]) == ["parse_date"]
    assert names(kind=["class"]) == ["DateParser"]
    assert names(paths=["web/**"]) == ["parseDate"]
    for bad, says in ((dict(language="cobol"), "unknown language cobol"), (dict(kind="gizmo"), "unknown kind gizmo"),
                      (dict(exclude=[""]), "non-empty glob"), (dict(paths=["src\\"]), "'src\\\\\\\\' is not a valid glob")):
        with pytest.raises(InvalidFilter, match=says):
            SearchFilters.parse(**bad)


def test_a_glob_made_to_backtrack_is_matched_in_linear_time():
    """An agent's glob with many wildcards, against a long path: Python's matcher
    backtracks for longer than anyone waits (seconds at six wildcards and 200
    characters, growing 40-fold with each more); the search answers at once."""
    import threading

    from fathom.search import SearchFilters

    through = SearchFilters.parse(paths=["*a" * 12 + "*b"], exclude=["*e" * 12 + "*q"]).path_matcher()
    answers: list = []
    asker = threading.Thread(target=lambda: answers.extend(
        through(path) for path in ("a" * 200 + ".py", "src/" + "a" * 100 + "b", "a" * 20 + "e" * 230 + "b")), daemon=True)
    asker.start()
    asker.join(30)
    assert answers == [False, True, True]


def test_a_wal_file_of_a_live_writer_is_not_taken_for_a_crash(tmp_path):
    """A second process opening an index another holds open (an MCP server beside
    the editor's) trusts that holder's check: the whole file is read only after a
    crash (68 s for the kernel's index)."""
    path = tmp_path / "i.db"
    Store(path).close()
    holder = Store(path)
    holder.write_files([chunked("a.py", [chunk("f", "def f(): pass")])])
    assert Path(f"{path}-wal").exists()
    second = Store(path)  # the -wal file is the holder's work
    assert not second.integrity_checked and second.counts().chunks == 1
    second.close()
    holder.close()

    # A writer that dies holding the file leaves its -wal file and nobody holding it.
    script = (
        "import os, sys; from pathlib import Path; sys.path[:0] = [sys.argv[2], sys.argv[3]]\n"
        "from fathom.store import Store\n"
        "from test_store_search import chunked, chunk\n"
        "s = Store(Path(sys.argv[1])); s.write_files([chunked('b.py', [chunk('g', 'def g(): pass')])])\n"
        "os._exit(0)\n"
    )
    server = Path(__file__).resolve().parent.parent / "server"
    subprocess.run([sys.executable, "-c", script, str(path), str(server), str(Path(__file__).parent)], check=True,
                   timeout=120)
    assert Path(f"{path}-wal").exists()
    after_crash = Store(path)
    assert after_crash.integrity_checked and after_crash.counts().chunks == 2
    after_crash.close()


def test_a_costly_pending_count_is_not_taken_again_at_every_commit(tmp_path, monkeypatch):
    from fathom.store import store as store_module

    store = Store(tmp_path / "i.db")
    store.use_vector_model("m", 2)
    clock = [1000.0]
    monkeypatch.setattr(store_module, "_clock", lambda: clock[0])
    counted = []
    real_count = store.pending_count

    def slow_count() -> int:  # as the kernel's: seconds a count
        counted.append(1)
        clock[0] += 2.0
        return real_count()

    monkeypatch.setattr(store, "pending_count", slow_count)
    store.write_files([chunked("a.py", [chunk("f", "def f(): pass")])])
    assert store.counts().pending == 1 and len(counted) == 1
    store.write_files([chunked("b.py", [chunk("g", "def g(): pass")])])
    clock[0] += 10.0
    assert store.counts().pending == 1 and len(counted) == 1  # 10 s after a count that cost 2 s: kept
    clock[0] += 40.0
    assert store.counts().pending == 2 and len(counted) == 2  # 50 s after: counted again


def test_the_queue_reads_each_text_from_the_index_and_a_gone_one_is_not_there(tmp_path):
    store = Store(tmp_path / "i.db")
    store.use_vector_model("m", 2)
    kept, gone = chunk("f", "def f(): pass"), chunk("g", "def g(): pass")
    store.write_files([chunked("a.py", [kept]), chunked("b.py", [gone])])
    waiting = list(store.waiting_texts())
    assert [(w.text_hash, w.relpath) for w in waiting] == [(kept.text_hash, "a.py"), (gone.text_hash, "b.py")]
    assert waiting[0].length == len(kept.embed_text)
    store.remove_files(["b.py"])
    assert store.chunk_sources([kept.text_hash, gone.text_hash]) == {kept.text_hash: (kept.header, kept.text)}


def test_a_large_index_counts_what_is_pending_on_a_connection_of_its_own(tmp_path, monkeypatch):
    from fathom.store import store as store_module

    monkeypatch.setattr(store_module, "COUNT_APART_FROM_CHUNKS", 1)
    writer = Store(tmp_path / "i.db")
    writer.use_vector_model("m", 2)
    first, second = chunk("f", "def f(): pass"), chunk("g", "def g(): pass")
    writer.write_files([chunked("a.py", [first]), chunked("b.py", [second])])
    writer.write_vectors([(first.text_hash, struct.pack("2f", 1, 0))])
    reader = Store(tmp_path / "i.db", readonly=True)
    opened = []
    real_init = store_module.Store.__init__
    monkeypatch.setattr(store_module.Store, "__init__", lambda self, *a, **k: opened.append(a) or real_init(self, *a, **k))
    assert reader.counts().pending == writer.counts().pending == 1
    assert len(opened) == 2  # one apart for each count, closed after it


def test_the_dense_share_follows_the_model_unless_asked_for():
    from fathom.config import DEFAULT_MODEL, ORIGINAL_MODEL
    from fathom.search import SearchOptions

    tuned = Searcher(None, None, model_id=DEFAULT_MODEL).options.dense_share
    general = Searcher(None, None, model_id=ORIGINAL_MODEL).options.dense_share
    assert tuned > general == Searcher(None, None).options.dense_share  # a served or unknown model: the general share
    assert Searcher(None, None, SearchOptions(dense_share=0.4), model_id=DEFAULT_MODEL).options.dense_share == 0.4


def test_a_query_pasted_from_a_whole_file_is_answered_at_once(tmp_path):
    """An agent pastes a file as its question: FTS5's OR of every word took time
    growing with their square (40,000 words: 14 s on a small index). The query is
    read by its beginning, as the model reads it; its first words still rank."""
    import threading

    store = Store(tmp_path / "i.db")
    store.write_files([chunked("src/parse.py", [chunk("parse_date", "def parse_date(v): parse an http date"),
                                                chunk("render", "def render(page): render a page")])])
    pasted = "parse http date " + " ".join(f"word{i}x" for i in range(200_000))
    answers: list = []
    asker = threading.Thread(target=lambda: answers.append(Searcher(store, None).search(pasted, 5)), daemon=True)
    asker.start()
    asker.join(60)
    assert answers, "the search did not answer within a minute"
    assert answers[0].hits[0].name == "parse_date"


def test_a_symbol_query_longer_than_any_name_matches_nothing_and_fails_nothing(tmp_path):
    """SQLite refuses a LIKE pattern over 50,000 bytes: a pasted symbol query was an error."""
    from fathom.search import rank_symbols

    store = Store(tmp_path / "i.db")
    store.write_files([chunked("src/parse.py", [chunk("parse_date", "def parse_date(v): ...")],
                               [Symbol("parse_date", SymbolKind.Function, "", Range(0, 0, 1, 0))])])
    assert [h.name for h in rank_symbols(store, "parse_d")] == ["parse_date"]
    assert rank_symbols(store, "parse_date" * 6000) == []


def test_a_sentence_that_spells_a_name_boosts_it_only_where_the_model_earns_it_a_lookup_always(tmp_path):
    from fathom.config import DEFAULT_MODEL, ORIGINAL_MODEL
    from fathom.search import SearchOptions

    store = Store(tmp_path / "i.db")
    store.write_files([chunked("text.py", [chunk("make_slug", "def make_slug(title): return title.lower()"),
                                           chunk("render", "def render(page): return page.title", line=5)])])

    def score(query: str, share: float) -> float:
        hits = Searcher(store, None, SearchOptions(sentence_name_boost=share)).search(query, 5).hits
        return next(h.score for h in hits if h.name == "make_slug")

    sentence = "turn the page title into a form for links as make_slug does"
    assert score(sentence, 1.0) - score(sentence, 0.0) == pytest.approx(SearchOptions().name_boost)
    assert score("make_slug", 1.0) - score("make_slug", 0.0) == 0  # a lookup keeps the whole boost
    # Fathom's own model reads a sentence well enough that its names mislead more than they help.
    assert Searcher(None, None, model_id=DEFAULT_MODEL).options.sentence_name_boost == 0.0
    assert Searcher(None, None, model_id=ORIGINAL_MODEL).options.sentence_name_boost == 1.0
