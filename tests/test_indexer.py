import json
import os
import shutil

import pytest

from fathom.config import Settings
from fathom.index.policy import LARGEST_EMBEDDED_DATA_FILE
from fathom.index.progress import Progress
from fathom.index.run import Indexer
from fathom.search import Searcher
from fathom.workspace import Workspace


def run(root, embedder, **kw):
    ws = Workspace(root, Settings(workers=2))
    ix = Indexer(ws, embedder)
    try:
        return ws, ix.run(**kw)
    finally:
        ix.close()


def test_index_then_nothing_changed_embeds_nothing(corpus, fake_embedder):
    ws, first = run(corpus, fake_embedder)
    counts = ws.writer.counts()
    assert counts.files > 20 and counts.chunks > 300 and counts.pending == 0
    assert first.embedded == len(set(fake_embedder.embedded)) > 0
    fake_embedder.embedded.clear()
    ws2, second = run(corpus, fake_embedder)
    assert second.changed == 0 and second.embedded == 0 and fake_embedder.embedded == []


def test_one_function_edit_reembeds_a_handful(corpus, fake_embedder):
    run(corpus, fake_embedder)
    target = corpus / "pathspec" / "util.py"
    text = target.read_text()
    target.write_text(text.replace("def normalize_file(", "def normalize_file(  # edited\n\t", 1))
    fake_embedder.embedded.clear()
    _, stats = run(corpus, fake_embedder)
    assert stats.changed == 1
    assert 1 <= stats.embedded <= 3
    assert all("normalize_file" in t for t in fake_embedder.embedded)


def test_a_new_chunker_version_chunks_everything_again_and_embeds_nothing_unchanged(corpus, fake_embedder):
    from fathom.index.policy import CHUNKER_VERSION
    from fathom.index.run import CHUNKED_BY

    ws, first = run(corpus, fake_embedder)
    assert ws.writer.get_meta(CHUNKED_BY) == CHUNKER_VERSION
    ws.writer.set_meta(CHUNKED_BY, "an older one")
    ws.close()
    fake_embedder.embedded.clear()
    ws, again = run(corpus, fake_embedder)
    assert again.changed == first.changed > 20  # every file read and chunked again
    assert again.embedded == 0 and fake_embedder.embedded == []  # the same texts keep their vectors
    assert ws.writer.get_meta(CHUNKED_BY) == CHUNKER_VERSION
    ws.close()
    _, third = run(corpus, fake_embedder)
    assert third.changed == 0


def test_touch_without_change_costs_nothing(corpus, fake_embedder):
    ws, _ = run(corpus, fake_embedder)
    target = corpus / "pathspec" / "util.py"
    os.utime(target, ns=(1, 1))
    fake_embedder.embedded.clear()
    _, stats = run(corpus, fake_embedder)
    assert stats.changed == 1 and stats.embedded == 0
    assert ws.writer.file_states()["pathspec/util.py"][0].mtime_ns == 1


def test_moved_and_copied_files_need_no_embedding(corpus, fake_embedder):
    run(corpus, fake_embedder)
    shutil.move(corpus / "platformdirs", corpus / "renamed_dirs")
    shutil.copy(corpus / "pathspec" / "util.py", corpus / "util_copy.py")
    fake_embedder.embedded.clear()
    ws, stats = run(corpus, fake_embedder)
    assert stats.removed > 5 and stats.embedded == 0
    assert not any(p.startswith("platformdirs/") for p in ws.writer.indexed_paths())


def test_deleted_files_leave_the_index(corpus, fake_embedder):
    ws, _ = run(corpus, fake_embedder)
    os.remove(corpus / "pathspec" / "util.py")
    run(corpus, fake_embedder)
    assert "pathspec/util.py" not in ws.writer.indexed_paths()
    assert all(h.relpath != "pathspec/util.py" for h in Searcher(ws.reader, None).symbols("normalize_file", 10))


def test_bad_files_are_reported_and_skipped(tmp_path, fake_embedder):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "good.py").write_text("def fine():\n    return 1\n")
    (root / "random.py").write_bytes(os.urandom(4000).replace(b"\0", b"\1") + b"\0")
    (root / "latin1.py").write_bytes("def caf\xe9():\n    return 'na\xefve'\n".encode("latin-1"))
    (root / "empty.py").write_text("")
    (root / "locked.py").write_text("def hidden(): pass\n")
    os.chmod(root / "locked.py", 0)
    _, stats = run(root, fake_embedder)
    ws = Workspace(root, Settings())
    names = {h.name for h in Searcher(ws.reader, None).symbols("f", 50)}
    assert "fine" in names
    assert any(n.startswith("caf") for n in Searcher(ws.reader, None).symbols("caf", 5) for n in [n.name])
    reasons = "\n".join(stats.errors)
    assert "random.py: skipped, binary" in reasons
    if os.geteuid() != 0:  # root reads anything
        assert "locked.py: skipped, unreadable" in reasons


def test_paths_run_reindexes_and_removes(corpus, fake_embedder):
    ws, _ = run(corpus, fake_embedder)
    new = corpus / "pathspec" / "fresh.py"
    new.write_text("def brand_new_helper():\n    return 42\n")
    run(corpus, fake_embedder, paths=[str(new)])
    assert [h.name for h in Searcher(ws.reader, None).symbols("brand_new_helper", 5)] == ["brand_new_helper"]
    shutil.rmtree(corpus / "platformdirs")
    run(corpus, fake_embedder, paths=[str(corpus / "platformdirs")])
    assert not any(p.startswith("platformdirs/") for p in ws.writer.indexed_paths())


def test_paths_run_for_an_existing_directory_removes_nothing(corpus, fake_embedder):
    ws, _ = run(corpus, fake_embedder)
    before = ws.writer.counts()
    _, stats = run(corpus, fake_embedder, paths=[str(corpus / "pathspec")])
    assert stats.removed == 0 and ws.writer.counts() == before


def test_a_worker_that_crashes_loses_only_its_file(corpus, fake_embedder):
    from crashing_worker import CRASHING_NAME, chunk_or_segfault
    from fathom.index.pool import ChunkPool

    clean_ws, _ = run(corpus, fake_embedder, embed=False)
    clean_files = clean_ws.reader.counts().files
    (corpus / CRASHING_NAME).write_text("def never_indexed():\n    return 1\n")
    for path in list(corpus.rglob("*.py"))[:20]:  # changed files keep crashing workers busy
        path.write_text(path.read_text() + "\n# touched\n")
    ws = Workspace(corpus, Settings(workers=2))
    pool = ChunkPool(2, ws.spec.tokenizer_json, ws.spec.max_tokens, ws.settings.max_file_size,
                     work=chunk_or_segfault)
    try:
        stats = Indexer(ws, fake_embedder, pool).run(embed=False)
    finally:
        pool.close()
    assert f"{CRASHING_NAME}: skipped, chunk worker crashed on this file" in stats.errors
    assert len(stats.errors) == 1, stats.errors
    reader = Workspace(corpus, Settings()).reader
    assert reader.counts().files == clean_files
    assert not Searcher(reader, None).symbols("never_indexed", 5)


def test_a_file_that_vanishes_before_it_is_read_is_reported(tmp_path):
    from fathom.index.pool import chunk_file
    from fathom.models import ChunkTask, FileStat

    gone = tmp_path / "deleted_after_discovery.py"
    result = chunk_file(ChunkTask(gone.name, str(gone), FileStat(10, 0, 0), None))
    assert result.status == "skipped" and result.reason.startswith("unreadable"), result


def test_first_windows_of_definitions_are_embedded_before_the_windows_continuing_them(tmp_path, fake_embedder):
    from fathom.models import CONTINUED

    root = tmp_path / "ws"
    root.mkdir()
    body = "\n".join(f"    total += frobnicate_widget(x, {i}, 'a longer argument')" for i in range(80))
    shorts = "\n\n".join(f"def short_{i}(x):\n    return x + {i}\n" for i in range(5))
    (root / "m.py").write_text(f"def long_one(x):\n    total = 0\n{body}\n    return total\n\n\n{shorts}")
    run(root, fake_embedder)
    continues = [CONTINUED + "\n" in t for t in fake_embedder.embedded]
    assert sum(continues) >= 2 and len(continues) - sum(continues) == 6
    assert continues == sorted(continues), "a continuation window went to the model before a first window"


def test_vendored_code_is_found_by_name_and_words_but_never_embedded(tmp_path, fake_embedder):
    root = tmp_path / "ws"
    (root / "app").mkdir(parents=True)
    (root / "app" / "_vendor" / "six").mkdir(parents=True)
    (root / "app" / "views.py").write_text("def render_dashboard(request):\n    return 'ok'\n")
    (root / "app" / "_vendor" / "six" / "moves.py").write_text("def lazy_module_loader(name):\n    return name\n")
    ws, stats = run(root, fake_embedder)
    assert fake_embedder.embedded and all("lazy_module_loader" not in t for t in fake_embedder.embedded)
    assert ws.reader.counts().pending == 0 and stats.embedded == 1
    assert [h.relpath for h in Searcher(ws.reader, None).symbols("lazy_module_loader", 5)] == ["app/_vendor/six/moves.py"]
    hits = Searcher(ws.reader, fake_embedder.embed_query).search("lazy module loader", 5)
    assert not hits.partial and hits.hits[0].name == "lazy_module_loader"


def test_large_data_files_are_found_by_words_but_never_embedded(tmp_path, fake_embedder):
    root = tmp_path / "ws"
    (root / "locales").mkdir(parents=True)
    (root / "app.py").write_text("def greet(user):\n    return translate('welcome_back', user)\n")
    (root / "package.json").write_text('{"name": "greeter", "version": "1.0.0"}\n')
    catalogue = {f"message_{i}": f"Willkommen zurück, Nutzer Nummer {i}" for i in range(3000)}
    catalogue["welcome_back"] = "Schön, dass du wieder da bist"
    (root / "locales" / "de.json").write_text(json.dumps(catalogue, indent=2, ensure_ascii=False), encoding="utf-8")
    assert (root / "locales" / "de.json").stat().st_size > LARGEST_EMBEDDED_DATA_FILE
    ws, stats = run(root, fake_embedder)
    assert ws.reader.counts().pending == 0 and stats.embedded == 2  # app.py and package.json
    assert all("Willkommen" not in t for t in fake_embedder.embedded)
    hits = Searcher(ws.reader, None).search("wieder da", 5).hits
    assert [h.relpath for h in hits] == ["locales/de.json"] and "wieder da" in hits[0].snippet


GENERATED_GO = """// Code generated by protoc-gen-go. DO NOT EDIT.
// source: user.proto

package api

func (x *User) GetDisplayName() string {
	return x.DisplayName
}
"""

# A generator writes the marker into other files; it is not generated itself.
GENERATOR = '''import subprocess

HEADER = """
# GENERATED BY build_parser.py, DO NOT EDIT BY HAND
"""


def regenerate_parser(grammar):
    return subprocess.run(["antlr4", grammar])
'''


def test_generated_code_is_found_by_name_but_never_embedded(tmp_path, fake_embedder):
    root = tmp_path / "ws"
    (root / "api").mkdir(parents=True)
    (root / "api" / "user.pb.go").write_text(GENERATED_GO)
    (root / "build_parser.py").write_text(GENERATOR)
    ws, stats = run(root, fake_embedder)
    assert ws.reader.counts().pending == 0
    assert all("GetDisplayName" not in t for t in fake_embedder.embedded)
    assert any("regenerate_parser" in t for t in fake_embedder.embedded)
    assert [h.relpath for h in Searcher(ws.reader, None).symbols("GetDisplayName", 5)] == ["api/user.pb.go"]


CERTIFICATE = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ\n-----END CERTIFICATE-----\n"


def test_certificates_are_never_embedded(tmp_path, fake_embedder):
    root = tmp_path / "ws"
    (root / "certs").mkdir(parents=True)
    (root / "certs" / "ca.crt").write_text(CERTIFICATE)
    (root / "certs" / "bundle.txt").write_text(CERTIFICATE)
    (root / "fixtures.py").write_text(f"SERVER_CERT = '''{CERTIFICATE}'''\n\ndef load_cert():\n    return SERVER_CERT\n")
    (root / "app.py").write_text("def serve_forever():\n    return 1\n")
    ws, _ = run(root, fake_embedder)
    assert ws.reader.counts().pending == 0
    assert not any("BEGIN CERTIFICATE" in t for t in fake_embedder.embedded)
    assert any("serve_forever" in t for t in fake_embedder.embedded)
    # Still found by name: only the vectors are left out.
    assert [h.relpath for h in Searcher(ws.reader, None).symbols("load_cert", 5)] == ["fixtures.py"]


def test_a_sql_dump_is_found_by_its_tables_but_never_embedded(tmp_path, fake_embedder):
    root = tmp_path / "ws"
    (root / "db").mkdir(parents=True)
    rows = "".join(f"INSERT INTO customers VALUES ({i}, 'customer {i}');\n" for i in range(1000))
    (root / "db" / "seed.sql").write_text("CREATE TABLE customers (id int, name text);\n" + rows)
    (root / "db" / "schema.sql").write_text("-- Orders placed.\nCREATE TABLE orders (\n  id serial PRIMARY KEY\n);\n")
    ws, _ = run(root, fake_embedder)
    assert ws.reader.counts().pending == 0
    assert not any("INSERT INTO customers" in t for t in fake_embedder.embedded)
    assert any("CREATE TABLE orders" in t for t in fake_embedder.embedded)
    assert [h.relpath for h in Searcher(ws.reader, None).symbols("customers", 5)] == ["db/seed.sql"]


def test_generated_markers_count_only_in_the_comments_that_open_a_file():
    from fathom.index.policy import is_generated

    below_a_licence = ("//go:build !ignore_autogenerated\n\n/*\nCopyright The Authors.\n\nLicensed under the Apache"
                       " License.\n*/\n\n// Code generated by deepcopy-gen. DO NOT EDIT.\n\npackage v1\n")
    in_a_docblock = "/**\n * Copyright (c) Meta.\n *\n * @generated SignedSource<<abc>>\n */\n\nexport const x = 1;\n"
    protoc_python = "# -*- coding: utf-8 -*-\n# Generated by the protocol buffer compiler.  DO NOT EDIT!\nimport sys\n"
    assert is_generated(below_a_licence) and is_generated(in_a_docblock) and is_generated(protoc_python)
    assert not is_generated(GENERATOR)
    assert not is_generated("package main\n\n// DO NOT EDIT the table below by hand.\nvar table = 1\n")


def test_embed_backlog_serves_saved_files_then_first_windows_then_continuations_then_tests():
    from fathom.index.backlog import EmbedBacklog

    def tier(continues=False, in_tests=False, saved=False):
        return EmbedBacklog.tier(continues_a_definition=continues, last=in_tests, saved=saved)

    backlog = EmbedBacklog()
    assert backlog.add("test", 1, tier(in_tests=True))
    assert backlog.add("cont", 1, tier(continues=True))
    assert backlog.add("head", 1, tier())
    assert backlog.add("saved", 1, tier(continues=True, saved=True))
    assert not backlog.add("cont", 1, tier(continues=True, saved=True))  # its file was saved: it moves up
    assert not backlog.add("head", 1, tier())  # already waiting: no second copy
    assert not backlog.add("head", 1, tier(in_tests=True))  # a test's copy of it does not move it back
    assert len(backlog) == 4 and "test" in backlog
    assert backlog.take(2) == ["saved", "cont"]
    assert backlog.take(5) == ["head", "test"] and len(backlog) == 0 and "test" not in backlog
    for h, length in (("long", 9), ("short", 1), ("mid", 5)):
        backlog.add(h, length, tier())
    backlog.add("long-saved", 9, tier(saved=True))
    # Shortest first within each place in line; the places keep their order.
    assert backlog.take(4, by_length=True) == ["long-saved", "short", "mid", "long"]


def test_a_first_index_embeds_test_code_last(tmp_path, fake_embedder):
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    # Named so that the walk meets the tests first.
    (root / "conftest.py").write_text("def fixture_db():\n    return None\n")
    (root / "date_test.py").write_text("def test_format_date():\n    assert format_date(1)\n")
    (root / "parsing.py").write_text("def parse_date(text):\n    return text.split('-')\n")
    (root / "tests" / "test_parsing.py").write_text("def test_parse_date():\n    assert parse_date('x')\n")
    run(root, fake_embedder)
    order = [t.splitlines()[0] for t in fake_embedder.embedded]
    assert order.index("parse_date") < min(order.index(t) for t in ("fixture_db", "test_format_date", "test_parse_date"))


def test_status_says_indexing_until_the_last_file_is_read_even_when_vectors_come_first():
    import threading
    from types import SimpleNamespace

    from fathom.engine.service import _StateTracking

    prepared = []
    service = SimpleNamespace(state="indexing", prepare_search=lambda: prepared.append(service.state),
                              words_ready=threading.Event())
    progress = _StateTracking(service, Progress())
    progress.files(500, 1165)
    progress.embedding(128, 15144)  # the first vectors, written while files are still being read
    assert service.state == "indexing" and not service.words_ready.is_set()
    progress.files(1165, 1165)
    assert service.state == "indexing" and service.words_ready.is_set()
    progress.embedding(256, 15144)
    assert service.state == "embedding"
    progress.embedding(384, 15144)
    # Searches by words are prepared for once every file is read (a large index's lexicon), once.
    assert prepared == ["indexing"]
    # What status reports as pending while the run embeds: the run's own count.
    assert service.embedding_progress == (384, 15144)


def test_a_directory_that_cannot_be_listed_keeps_what_the_index_holds(corpus, fake_embedder, monkeypatch):
    """One unreadable directory (EACCES, a stale mount, EIO) for one run used to
    drop every file under it, and their vectors with them."""
    ws, _ = run(corpus, fake_embedder)
    before = ws.writer.counts()
    hashes = ws.writer.text_hashes()
    real_scandir = os.scandir
    blocked: set[str] = set()

    def scandir(path="."):
        if os.fspath(path) in blocked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    for unreadable in (corpus / "pathspec", corpus):  # a folder, then the root itself
        blocked.add(str(unreadable))
        _, stats = run(corpus, fake_embedder)
        assert stats.removed == 0 and any("unreadable directory" in e for e in stats.errors)
        assert ws.writer.counts() == before
        assert ws.writer.embedded_among(sorted(hashes)) == hashes
    monkeypatch.setattr(os, "scandir", real_scandir)
    (corpus / "pathspec" / "util.py").unlink()  # seen again: a real deletion still counts
    _, stats = run(corpus, fake_embedder)
    assert stats.removed == 1 and ws.writer.counts().files == before.files - 1


def test_a_first_index_embeds_test_code_last_whatever_the_timing(tmp_path, fake_embedder, monkeypatch):
    """The order is guaranteed, not the luck of batching: even when every file is
    written the moment it is chunked (as a loaded CPU makes the half-second
    batches), test code reaches the model after the project's own code."""
    import fathom.index.run as run_module

    monkeypatch.setattr(run_module, "FIRST_BATCH_FILES", 1)
    monkeypatch.setattr(run_module, "LARGEST_BATCH_FILES", 1)
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "conftest.py").write_text("def fixture_db():\n    return None\n")
    (root / "date_test.py").write_text("def test_format_date():\n    assert format_date(1)\n")
    for i in range(40):  # own code the walk meets after the tests
        (root / f"zz_module_{i:02}.py").write_text(f"def helper_{i}(value):\n    return value + {i}\n")
    (root / "tests" / "test_parsing.py").write_text("def test_parse_date():\n    assert parse_date('x')\n")
    (root / "CHANGELOG.md").write_text("# Changelog\n\n## 1.0\n\nThe first release: dates parsed and formatted.\n")
    run(root, fake_embedder)
    order = [t.splitlines()[0] for t in fake_embedder.embedded]
    first_test = min(order.index(t) for t in ("fixture_db", "test_format_date", "test_parse_date"))
    assert all(order.index(f"helper_{i}") < first_test for i in range(40))
    # Release notes wait with the tests.
    notes = next(i for i, t in enumerate(fake_embedder.embedded) if "The first release" in t)
    assert all(order.index(f"helper_{i}") < notes for i in range(40))


def test_a_fifo_put_where_a_file_was_is_skipped_without_blocking(tmp_path):
    """Opening a FIFO blocks until a writer comes: a file replaced by one after the
    walk stalled indexing forever, and every later save with it."""
    import threading

    from fathom.index.pool import chunk_file
    from fathom.models import ChunkTask, FileStat

    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    results = []
    worker = threading.Thread(target=lambda: results.append(
        chunk_file(ChunkTask("pipe.py", str(fifo), FileStat(10, 0, 0), None))), daemon=True)
    worker.start()
    worker.join(30)
    try:
        assert results and results[0].status == "skipped" and results[0].reason == "not a regular file", results
    finally:
        if worker.is_alive():  # release the blocked open
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_directory_swapped_for_a_link_to_outside_is_not_read(tmp_path):
    from fathom.index.pool import chunk_file
    from fathom.models import ChunkTask, FileStat

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("API_TOKEN = 'OUTSIDE-MARKER'\n")
    root = tmp_path / "ws"
    root.mkdir()
    (root / "sub").symlink_to(outside)  # the walk saw a directory here; it is a link now
    result = chunk_file(ChunkTask("sub/secret.py", str(root / "sub" / "secret.py"), FileStat(30, 0, 0), None))
    assert result.status == "skipped" and "outside the workspace" in result.reason


def test_a_read_that_never_returns_costs_only_its_file_and_close_still_returns(corpus, fake_embedder):
    import time

    from crashing_worker import HANGING_NAME, chunk_or_hang
    from fathom.index.pool import ChunkPool

    (corpus / HANGING_NAME).write_text("def never_read():\n    return 1\n")
    ws = Workspace(corpus, Settings(workers=2))
    pool = ChunkPool(2, ws.spec.tokenizer_json, ws.spec.max_tokens, ws.settings.max_file_size,
                     work=chunk_or_hang, stall_seconds=2)
    try:
        stats = Indexer(ws, fake_embedder, pool).run()
    finally:
        started = time.monotonic()
        pool.close()
        closing = time.monotonic() - started
    assert [e for e in stats.errors if HANGING_NAME in e] and "took over 2 s" in stats.errors[0], stats.errors
    assert ws.reader.counts().files > 20 and not Searcher(ws.reader, None).symbols("never_read", 5)
    assert closing < 30


def test_a_run_left_by_ctrl_c_stops_chunking_at_once(tmp_path, fake_embedder):
    """Ctrl-C or SIGTERM during phase 1 (minutes on a large tree): the chunk thread
    stops with the run instead of finishing the whole job, held here by a file
    whose read never returns (the pool would give up on it only after 120 s)."""
    import threading

    from crashing_worker import HANGING_NAME, chunk_or_hang
    from fathom.index.pool import ChunkPool

    root = tmp_path / "tree"
    root.mkdir()
    (root / HANGING_NAME).write_text("def never_read():\n    return 1\n")
    for i in range(40):
        (root / f"mod_{i:02}.py").write_text(f"def helper_{i}(value):\n    return value + {i}\n")

    class InterruptedOnceChunking(Progress):
        def files(self, done, total):
            if done:  # some files read, the hung one still in a worker
                raise KeyboardInterrupt

    ws = Workspace(root, Settings(workers=2))
    pool = ChunkPool(2, ws.spec.tokenizer_json, ws.spec.max_tokens, ws.settings.max_file_size, work=chunk_or_hang)
    try:
        with pytest.raises(KeyboardInterrupt):
            Indexer(ws, fake_embedder, pool).run(progress=InterruptedOnceChunking())
        assert not [t for t in threading.enumerate() if t.name == "fathom-chunk-jobs"]
    finally:
        pool.close()
    ws.close()


def test_the_files_open_in_the_editor_and_their_folders_are_chunked_and_embedded_first(tmp_path, fake_embedder):
    """A large tree's first index: what the user is looking at answers by meaning
    long before the rest, whatever the walk's order."""
    root = tmp_path / "tree"
    for folder in ("aa_first", "mm_middle", "zz_last"):
        (root / folder).mkdir(parents=True)
        for i in range(15):
            (root / folder / f"mod_{i:02}.py").write_text(f"def {folder}_helper_{i}(value):\n    return value + {i}\n")
    (root / "zz_last" / "sub").mkdir()
    (root / "zz_last" / "sub" / "deeper.py").write_text("def zz_deeper(value):\n    return value\n")
    ws, _ = run(root, fake_embedder, focus=lambda: ["zz_last/mod_07.py"])
    order = [t.splitlines()[0] for t in fake_embedder.embedded]
    position = {name: i for i, line in enumerate(order) for name in [line.split("def ")[-1].split("(")[0]]}
    assert order and "zz_last_helper_7" in order[0]  # the open file itself
    beside = [position[f"zz_last_helper_{i}"] for i in range(15)]
    elsewhere = [position[f"{folder}_helper_{i}"] for folder in ("aa_first", "mm_middle") for i in range(15)]
    assert max(beside) < min(elsewhere) and max(beside) < position["zz_deeper"]
    ws.close()


def test_the_open_file_goes_to_the_model_first_even_when_its_neighbours_are_written_before_it(
        tmp_path, fake_embedder, monkeypatch):
    """Batches are written on time as well as on size: under load, a batch of the
    open file's neighbours can be written while the open file is still being
    chunked. Nothing is embedded before it all the same."""
    from crashing_worker import SLOW_NAME, chunk_one_file_late
    from fathom.index import run as index_run
    from fathom.index.pool import ChunkPool

    monkeypatch.setattr(index_run, "WRITE_BATCH_SECONDS", 0.0)  # every result written at once
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / SLOW_NAME).write_text("def the_open_one(value):\n    return value\n")
    for i in range(12):
        (root / "pkg" / f"mod_{i:02}.py").write_text(f"def neighbour_{i}(value):\n    return value + {i}\n")
    ws = Workspace(root, Settings(workers=2))
    pool = ChunkPool(2, ws.spec.tokenizer_json, ws.spec.max_tokens, ws.settings.max_file_size,
                     work=chunk_one_file_late)
    try:
        Indexer(ws, fake_embedder, pool).run(focus=lambda: [f"pkg/{SLOW_NAME}"])
    finally:
        pool.close()
    assert len(fake_embedder.embedded) == 13 and "the_open_one" in fake_embedder.embedded[0]
    ws.close()


def test_a_file_saved_during_a_long_full_pass_is_chunked_and_embedded_before_the_pass_ends(tmp_path, fake_embedder):
    """On the kernel a first pass takes minutes: a save must not wait for it."""
    from crashing_worker import chunk_slowly
    from fathom.index.pool import ChunkPool

    root = tmp_path / "tree"
    root.mkdir()
    for i in range(120):
        (root / f"mod_{i:03}.py").write_text(f"def helper_{i}(value):\n    return value + {i}\n")
    saved = root / "just_saved.py"
    asked = []

    def take_paths():
        asked.append(1)
        if len(asked) == 3:  # the walk is done and the pass under way
            saved.write_text("def written_by_the_user(value):\n    return value\n")
            return [str(saved)]
        return []

    ws = Workspace(root, Settings(workers=2))
    pool = ChunkPool(2, ws.spec.tokenizer_json, ws.spec.max_tokens, ws.settings.max_file_size, work=chunk_slowly)
    try:
        Indexer(ws, fake_embedder, pool).run(take_paths=take_paths)
    finally:
        pool.close()
    ids = dict(ws.reader.conn.execute("SELECT path, id FROM files"))
    assert ids["just_saved.py"] < max(ids.values()) - 40  # written while most of the pass was still to come
    order = [t.splitlines()[0] for t in fake_embedder.embedded]
    first = next(i for i, line in enumerate(order) if "written_by_the_user" in line)
    assert first < len(order) - 40
    ws.close()


def test_the_embedding_queue_holds_at_most_its_cap_and_the_rest_is_read_from_the_index(corpus, fake_embedder,
                                                                                         monkeypatch):
    """A kernel-sized tree has millions of texts to embed: the queue holds a bounded
    number, the others wait in the index and are read in as it empties."""
    from fathom.index import run as run_module

    monkeypatch.setattr(run_module, "QUEUE_CAP", 8)
    held = []
    real_feed = run_module._Run._feed_embedder

    def feed(self):
        held.append(len(self.emb.backlog))
        real_feed(self)

    monkeypatch.setattr(run_module._Run, "_feed_embedder", feed)
    ws, stats = run(corpus, fake_embedder)
    counts = ws.writer.counts()
    assert counts.pending == 0 and stats.embedded == len(set(fake_embedder.embedded)) > 8 * 4
    assert max(held) <= 8
    # A run stopped with texts left: the next one reads them from the index, the queue still bounded.
    with ws.writer.all_or_nothing():
        ws.writer.conn.execute("DELETE FROM embedded")
    held.clear()
    fake_embedder.embedded.clear()
    ws2, again = run(corpus, fake_embedder)
    assert ws2.writer.counts().pending == 0 and again.embedded == stats.embedded
    assert max(held) <= 8


def test_all_files_counted_means_all_files_searchable_by_name_and_words(corpus, fake_embedder):
    """The count of every file read was reported before the last batch was
    written: a search waiting for it (an agent's first question) found nothing."""
    seen_at_the_end, calls = [], []

    class Watching(Progress):
        def embedding(self, done, total):
            calls.append(("embedding", done, total))

        def files(self, done, total):
            calls.append(("files", done, total))
            if done == total:
                reader = Workspace(corpus, Settings()).reader
                seen_at_the_end.append((total, reader.counts(with_pending=False).files))

    ws = Workspace(corpus, Settings(workers=2))
    ix = Indexer(ws, fake_embedder)
    try:
        stats = ix.run(progress=Watching())
    finally:
        ix.close()
    assert seen_at_the_end and stats.changed > 20
    total, searchable = seen_at_the_end[-1]
    assert searchable == total == stats.changed
    # The files to read are counted before any vector can arrive: until the last
    # count, a waiting question knows the words are not all there.
    assert calls[0] == ("files", 0, stats.changed)
