"""The engine layer: what the LSP server, the CLI and the MCP server share.
Unit tests with the fake embedder; each defect found while building the layer
has its test here."""
import os
from pathlib import Path
import threading
import time
from concurrent.futures import Future

import psutil
import pytest

from conftest import FakeEmbedder
from fathom.config import DEFAULT_MODEL, Settings
from fathom.embed.interface import Embedder, EmbedderError
from fathom.embed.local import LocalEmbedder
from fathom.embed.modelspec import resolve_model
from fathom.engine import Engine, WorkspaceClosed
from fathom.lsp.params import InvalidParams, ReindexParams, SearchParams, parse

IDLE_WAIT = 60


def chunk_workers() -> list[psutil.Process]:
    """This process's chunk pool workers (spawned children)."""
    workers = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:
            continue
    return workers


def fake_engine(settings: Settings) -> tuple[Engine, FakeEmbedder]:
    fake = FakeEmbedder()
    return Engine(settings, embedder_factory=lambda _spec, _settings: fake), fake


TOPICS = ["parse calendar date", "send email message", "resize thumbnail image"]


def small_tree(root, n=3):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        words = TOPICS[i].split()
        (root / f"mod_{i}.py").write_text(f"def handler_{i}(request):\n    return {'_'.join(words)}(request)\n")
    return root


def test_the_fake_embedder_implements_the_interface():
    members = [name for name in vars(Embedder) if not name.startswith("_")]
    assert {"embed_documents", "embed_query", "identity", "close", "model_id", "dim", "batch_size"} <= set(members)
    for provider in (FakeEmbedder(), LocalEmbedder(resolve_model(DEFAULT_MODEL))):
        # Defined by the provider itself, not the interface's empty stubs.
        missing = [m for m in members if m not in vars(provider) and not any(
            m in vars(k) for k in type(provider).__mro__ if k not in (Embedder, object))]
        assert not missing, (type(provider).__name__, missing)
        assert isinstance(provider, Embedder)


def test_settings_are_read_when_the_server_is_made_not_when_its_module_is_imported(monkeypatch):
    import fathom.lsp.server as lsp_server

    assert not hasattr(lsp_server, "server")  # nothing built, nothing read, at import
    monkeypatch.setenv("FATHOM_POOL_IDLE_SECONDS", "7")
    monkeypatch.setenv("FATHOM_DEVICE", "cpu")
    server = lsp_server.create_server()
    try:
        assert (server.engine.settings.pool_idle_seconds, server.engine.settings.device) == (7.0, "cpu")
    finally:
        server.engine.close()


def test_a_settings_change_keeps_one_pool_that_the_reaper_stops_and_close_closes(tmp_path):
    """apply_settings used to close the shared pool; each reopened workspace then
    built a private one that nothing ever stopped."""
    engine, _ = fake_engine(Settings(workers=2, pool_idle_seconds=1.0))
    roots = [small_tree(tmp_path / "a"), small_tree(tmp_path / "b")]
    try:
        for root in roots:
            engine.open(root)
        assert all(s.wait_idle(IDLE_WAIT) for s in engine.workspaces())
        engine.apply_settings(Settings(workers=2, pool_idle_seconds=1.0, exclude=("*.md",)))
        services = engine.workspaces()
        assert len(services) == 2 and all(s.wait_idle(IDLE_WAIT) for s in services)
        assert all(s.indexer.chunk_pool() is engine.pool for s in services)
        engine.pool.prestart()
        deadline = time.monotonic() + IDLE_WAIT
        while not chunk_workers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert chunk_workers(), "the workers this test waits to see stopped never started"
        deadline = time.monotonic() + IDLE_WAIT
        while chunk_workers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert chunk_workers() == [], "idle chunk workers were never stopped"
        (roots[0] / "mod_0.py").write_text("def renamed_handler(request):\n    return 1\n")
        engine.reindex_paths([roots[0] / "mod_0.py", tmp_path / "elsewhere.py"])
        assert services[0].wait_idle(IDLE_WAIT)
        assert [h.name for h in services[0].symbols("renamed_handler", 5)] == ["renamed_handler"]
    finally:
        engine.close()
    assert chunk_workers() == []


def test_folders_open_and_close_while_requests_look_them_up(tmp_path):
    """The workspace map was read without its lock while folder changes (on their
    own thread) altered it, and a change could reach a folder just closed."""
    engine, _ = fake_engine(Settings(workers=1))
    roots = [small_tree(tmp_path / f"ws{i}", n=1) for i in range(3)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def requests():
        while not stop.is_set():
            try:
                for service in engine.workspaces():
                    try:
                        service.symbols("handler", 5)
                    except WorkspaceClosed:
                        pass  # closed since the list was taken: a clean answer, not a crash
                engine.reindex_paths([root / "mod_0.py" for root in roots])
                engine.workspace_for(roots[1] / "mod_0.py")
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)
                return

    readers = [threading.Thread(target=requests) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        for _ in range(15):
            for root in roots:
                engine.open(root)
            for root in roots[:2]:
                engine.close_workspace(root)
    finally:
        stop.set()
        for t in readers:
            t.join(30)
        engine.close()
    assert errors == []


def test_a_full_reindex_reads_every_file_again(tmp_path):
    """`fathom/reindex {full: true}` (Neovim's :FathomReindex!) was accepted and ignored."""
    engine, _ = fake_engine(Settings(workers=1))
    root = small_tree(tmp_path / "ws", n=2)
    target = root / "mod_0.py"
    try:
        service = engine.open(root)
        assert service.wait_idle(IDLE_WAIT)
        before = target.stat()
        # Same size, same mtime: a change the stat check cannot see (a restored backup, say).
        target.write_text(target.read_text().replace("handler_0", "rebuilt_0"))
        os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
        service.reindex(None)
        assert service.wait_idle(IDLE_WAIT) and service.symbols("rebuilt_0", 5) == []
        service.reindex(None, rechunk=True)
        assert service.wait_idle(IDLE_WAIT)
        assert [h.name for h in service.symbols("rebuilt_0", 5)] == ["rebuilt_0"]
    finally:
        engine.close()


def test_the_cli_and_a_server_share_the_engines_answers(tmp_path):
    engine, fake = fake_engine(Settings(workers=1))
    root = small_tree(tmp_path / "ws")
    try:
        stats, counts = engine.index(root)
        assert counts.files == 3 and stats.embedded == len(set(fake.embedded)) == 3
        assert engine.status(root)["pending"] == 0
        assert [h.name for h in engine.symbols(root, "handler_2", 5)] == ["handler_2"]
        hits = engine.search(root, "how do we send an email message", 3).hits
        assert hits and hits[0].name == "handler_1"
    finally:
        engine.close()


def test_a_question_asked_in_the_home_folder_builds_no_index_of_it_unasked(tmp_path, monkeypatch):
    """A new terminal opens in the home folder: `fathom search` typed there must
    not start hours of indexing everything the user has."""
    from fathom.config import index_dir
    from fathom.engine import NotBuiltUnasked

    home = small_tree(tmp_path / "home")
    monkeypatch.setenv("HOME", str(home))
    engine, fake = fake_engine(Settings(workers=1))
    try:
        for ask in (lambda: engine.search(home, "send an email message", 3),
                    lambda: engine.symbols(home, "handler", 3)):
            with pytest.raises(NotBuiltUnasked, match=f"fathom index {home}"):
                ask()
        assert not index_dir(home).exists() and fake.embedded == []
        engine.index(home)  # asked for: built
        assert engine.search(home, "send an email message", 3).hits[0].name == "handler_1"
    finally:
        engine.close()


@pytest.mark.parametrize("params,cls,error", [
    ({}, SearchParams, "query"),
    ({"query": "  "}, SearchParams, "'query' must be a non-empty string"),
    ({"query": "x", "limit": "3"}, SearchParams, "limit"),
    ({"query": "x", "limit": True}, SearchParams, "limit"),
    ({"query": "x", "limit": 201}, SearchParams, "'limit' must be an integer from 1 to 200"),
    ({"query": "x", "paths": "*.py"}, SearchParams, "paths"),
    ({"full": 1}, ReindexParams, "full"),
    ([1, 2], ReindexParams, "params must be an object"),
])
def test_request_params_are_checked_in_one_place(params, cls, error):
    with pytest.raises(InvalidParams) as info:
        parse(params, cls)
    assert error in str(info.value)


def test_request_params_keep_their_types():
    assert parse({"query": "x", "limit": 5, "paths": ["*.py"], "unknown": 1}, SearchParams) == \
        SearchParams("x", 5, None, ["*.py"])
    assert parse(None, ReindexParams) == ReindexParams(None, False)
    assert parse({"full": True}, ReindexParams).full


class DyingEmbedder(FakeEmbedder):
    """Dies `deaths` times, at its `every`-th request after each start: the
    request in hand and every later one fail until it is started again, as the
    real process's requests in flight all fail when it is killed."""

    def __init__(self, deaths: int, every: int = 1):
        super().__init__()
        self.deaths, self.every = deaths, every
        self.starts = 0
        self._since_start = 0

    def ensure_started(self):
        self.alive = True
        self.starts += 1
        self._since_start = 0

    def embed_documents(self, texts):
        self._since_start += 1
        if self.alive and self.deaths and self._since_start >= self.every:
            self.deaths -= 1
            self.alive = False
        if not self.alive:
            failed = Future()
            failed.set_exception(EmbedderError("embedding process stopped"))
            return failed
        return super().embed_documents(texts)


def many_functions(root, n=400):
    root.mkdir(parents=True)
    for i in range(n // 20):
        body = "\n\n".join(f"def function_{i}_{j}(value):\n    return value * {j} + {i}\n" for j in range(20))
        (root / f"module_{i}.py").write_text(body)
    return root


def test_deaths_are_counted_per_process_not_per_request_in_flight(tmp_path):
    """Two deaths, each failing the two requests in flight, used to count four
    restarts against a limit of three: the run gave up, said nothing, and left
    every text pending."""
    from fathom.index.run import Indexer
    from fathom.workspace import Workspace

    root = many_functions(tmp_path / "ws")
    dying = DyingEmbedder(deaths=2)
    ws = Workspace(root, Settings(workers=1))
    indexer = Indexer(ws, dying)
    try:
        stats = indexer.run()
    finally:
        indexer.close()
    assert stats.embedding_error is None and ws.writer.counts().pending == 0
    assert dying.starts == 3  # the first start and one per death
    ws.close()


def test_an_embedder_that_keeps_dying_is_reported_in_status(tmp_path):
    dying = DyingEmbedder(deaths=100)
    engine = Engine(Settings(workers=1), embedder_factory=lambda _spec, _settings: dying)
    try:
        service = engine.open(many_functions(tmp_path / "ws"))
        assert service.wait_idle(IDLE_WAIT)
        status = service.status()
        assert status["state"] == "error" and "embedding stopped" in status["error"], status
        assert status["pending"] > 0
        assert service.symbols("function_3_7", 1)  # names and words still answer
    finally:
        engine.close()


def test_an_embedder_that_died_while_idle_is_started_again_by_the_next_search(tmp_path):
    engine, fake = fake_engine(Settings(workers=1))
    try:
        service = engine.open(small_tree(tmp_path / "ws"))
        assert service.wait_idle(IDLE_WAIT) and fake.alive
        fake.alive = False  # killed while nothing was indexing
        meanwhile = service.search("send an email message", 3)
        assert meanwhile.partial and meanwhile.hits[0].name == "handler_1"  # lexical, at once
        deadline = time.monotonic() + IDLE_WAIT
        while not fake.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fake.alive and service.status()["embedder"] == "running"
        assert not service.search("send an email message", 3).partial
    finally:
        engine.close()


@pytest.mark.parametrize("vouched", [True, False], ids=["stamp vouches", "open checks"])
def test_a_query_that_meets_a_damaged_index_gets_an_answer_and_a_rebuild(tmp_path, vouched):
    """Found by a query, damage used to mean -32603 for every request (the stamp
    vouched for the file) or an empty index until some file changed (the open's
    check moved it aside, and nothing built it again)."""
    engine, _ = fake_engine(Settings(workers=1))
    root = small_tree(tmp_path / "ws")
    try:
        service = engine.open(root)
        assert service.wait_idle(IDLE_WAIT)
        reader = service.ws.reader
        pages = [p for (p,) in reader.conn.execute("SELECT pageno FROM dbstat WHERE name = 'symbols'")]
        page_size = reader.conn.execute("PRAGMA page_size").fetchall()[0][0]
        service.ws.close()  # cleanly: the stamp vouches for the file, so opening checks nothing
        before = service.ws.db_path.stat()
        with open(service.ws.db_path, "r+b") as f:  # one table's pages overwritten, size and mtime kept
            for page in pages:
                f.seek((page - 1) * page_size)
                f.write(os.urandom(page_size))
        if vouched:
            os.utime(service.ws.db_path, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert service.symbols("handler", 5) == []  # an answer, not an internal error
        deadline = time.monotonic() + IDLE_WAIT
        while not service.symbols("handler_2", 5) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [h.name for h in service.symbols("handler_2", 5)] == ["handler_2"]
        assert list(service.ws.db_path.parent.glob("index.db.broken-*"))
    finally:
        engine.close()


def test_a_workspace_opened_through_a_symlink_takes_saves_named_through_it(tmp_path):
    """Editors name files by the path they opened; the root is resolved. A save
    through a symlinked folder came out as `../…` and was dropped."""
    engine, _ = fake_engine(Settings(workers=1))
    real = small_tree(tmp_path / "real" / "ws")
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "real")
    try:
        service = engine.open(link / "ws")
        assert service.wait_idle(IDLE_WAIT)
        (real / "mod_2.py").write_text("def resize_avatar(image):\n    return image\n")
        engine.reindex_paths([link / "ws" / "mod_2.py"])
        assert service.wait_idle(IDLE_WAIT)
        assert [h.relpath for h in service.symbols("resize_avatar", 5)] == ["mod_2.py"]
        (real / "mod_1.py").unlink()
        engine.reindex_paths([link / "ws" / "mod_1.py"])  # a deletion, named through the link
        assert service.wait_idle(IDLE_WAIT) and service.symbols("handler_1", 5) == []
    finally:
        engine.close()


def test_a_cache_inside_the_workspace_is_neither_indexed_nor_watched(tmp_path, monkeypatch):
    """With FATHOM_CACHE_DIR inside the workspace, the server reindexed about three
    times a second forever: it watched its own index.lock."""
    from watchdog.events import FileModifiedEvent

    from fathom.engine.watch import Watcher
    from fathom.index.walk import discover

    root = small_tree(tmp_path / "ws")
    monkeypatch.setenv("FATHOM_CACHE_DIR", str(root / "fathom-cache"))
    engine, _ = fake_engine(Settings(workers=1))
    try:
        service = engine.open(root)
        assert service.wait_idle(IDLE_WAIT)
        lock = next((root / "fathom-cache").rglob("index.lock"))
        assert not [f for f in discover(root, 1 << 20).files if f.relpath.startswith("fathom-cache")]
        changes: list[list[str]] = []
        watcher = Watcher(root, changes.append)
        watcher.on_any_event(FileModifiedEvent(str(lock)))
        watcher.on_any_event(FileModifiedEvent(str(lock.with_name("index.db-wal"))))
        assert watcher._paths == set()
    finally:
        engine.close()


def test_a_file_written_all_the_time_does_not_hold_back_other_changes():
    """One debounce timer, reset by every event: a log written every 100 ms kept
    every other outside change from being indexed."""
    from fathom.engine.watch import Watcher

    flushed: list[list[str]] = []
    watcher = Watcher(Path("/nonexistent-root"), flushed.append)
    watcher._changed("/nonexistent-root/src/app.py")
    deadline = time.monotonic() + 30
    while not flushed and time.monotonic() < deadline:
        watcher._changed("/nonexistent-root/logs/app.log")  # still being written when the others go
        time.sleep(0.05)
    watcher.stop()
    assert flushed and "/nonexistent-root/src/app.py" in flushed[0]


def test_an_error_stands_until_the_interrupted_pass_is_done(tmp_path, monkeypatch):
    """Disk full during the first pass: once space came back, one save cleared the
    error while 1 of 101 files was indexed."""
    from fathom.index import run as run_module
    from fathom.store import IndexUnwritable

    real_execute = run_module._Run.execute
    disk = {"full": True}

    def execute(self, paths, rechunk):
        if disk["full"]:
            raise IndexUnwritable("cannot write the index: the disk is full")
        return real_execute(self, paths, rechunk)

    monkeypatch.setattr(run_module._Run, "execute", execute)
    engine, _ = fake_engine(Settings(workers=1))
    root = small_tree(tmp_path / "ws")
    try:
        service = engine.open(root)
        assert service.wait_idle(IDLE_WAIT) and service.status()["state"] == "error"
        disk["full"] = False
        (root / "mod_0.py").write_text("def handler_0(request):\n    return 0\n")
        engine.reindex_paths([root / "mod_0.py"])  # the first save after space came back
        assert service.wait_idle(IDLE_WAIT)
        status = service.status()
        assert status["files"] == 3 and status["state"] == "idle" and "error" not in status, status
    finally:
        engine.close()


def watch_settled(service) -> str:
    """What sees changes, once the watcher has finished starting (it starts in the background)."""
    deadline = time.monotonic() + IDLE_WAIT
    while (seen_by := service.status()["changes_seen_by"]).endswith("(adding its watches)"):
        assert time.monotonic() < deadline, "the watcher never finished starting"
        time.sleep(0.05)
    return seen_by


def test_a_tree_with_more_folders_than_the_watch_limit_is_rescanned_on_open_and_save_not_missed(tmp_path):
    """inotify needs a watch per folder and the cap is per user: a tree beyond it
    must not silently miss changes made outside the editor."""
    root = small_tree(tmp_path / "ws")
    for i in range(6):
        (root / f"pkg_{i}").mkdir()
        (root / f"pkg_{i}" / "code.py").write_text(f"def module_{i}():\n    return {i}\n")
    engine, _ = fake_engine(Settings(watch_limit=4))
    with engine:
        service = engine.open(root, watch=True)
        assert service.wait_idle(IDLE_WAIT)
        seen_by = watch_settled(service)
        assert "rescan" in seen_by and "over 4 folders" in seen_by
        # Changed outside the editor (a checkout): nothing reports it...
        (root / "pkg_3" / "code.py").write_text("def renamed_by_checkout():\n    return 3\n")
        # ...until the user opens (or saves) any file: then the whole tree is compared by stat.
        service._last_rescan = 0.0
        engine.documents_open([root / "pkg_0" / "code.py"], True)
        deadline = time.monotonic() + IDLE_WAIT
        while not engine.symbols(root, "renamed_by_checkout", 5):
            assert time.monotonic() < deadline, "the change outside the editor was never found"
            time.sleep(0.1)

    engine, _ = fake_engine(Settings(watch_limit=100))
    with engine:
        service = engine.open(root, watch=True)
        assert service.wait_idle(IDLE_WAIT)
        assert watch_settled(service) == "inotify, 7 folders"
        assert engine.open(tmp_path / "ws", watch=False).status()["changes_seen_by"].startswith("inotify")
    engine, _ = fake_engine(Settings())
    with engine:
        assert engine.open(small_tree(tmp_path / "other"), watch=False).status()["changes_seen_by"] == \
            "the client's file events"


def test_a_workspace_folder_removed_and_made_again_is_watched_and_indexed_again(tmp_path):
    """`rm -rf` and a fresh clone at the same path while the editor stays open:
    the old folder's watches went with it, and the new one must not go unseen."""
    import shutil

    root = small_tree(tmp_path / "ws")
    engine, _ = fake_engine(Settings())
    with engine:
        service = engine.open(root, watch=True)
        assert service.wait_idle(IDLE_WAIT) and watch_settled(service).startswith("inotify")
        shutil.rmtree(root)
        deadline = time.monotonic() + IDLE_WAIT
        while service.status()["files"] or "removed" not in service.status()["changes_seen_by"]:
            assert time.monotonic() < deadline, service.status()
            time.sleep(0.1)
        root.mkdir()
        (root / "cloned_again.py").write_text("def came_back_with_the_clone(value):\n    return value\n")
        deadline = time.monotonic() + IDLE_WAIT
        while not engine.symbols(root, "came_back_with_the_clone", 5):
            assert time.monotonic() < deadline, service.status()
            time.sleep(0.1)
        assert watch_settled(service).startswith("inotify")
        (root / "then_edited.py").write_text("def seen_by_the_new_watch(value):\n    return value\n")
        deadline = time.monotonic() + IDLE_WAIT
        while not engine.symbols(root, "seen_by_the_new_watch", 5):
            assert time.monotonic() < deadline, service.status()
            time.sleep(0.1)


def test_a_large_index_has_its_lexicon_built_once_every_file_is_read_and_searched_through_it(tmp_path, monkeypatch):
    from fathom.search import lexicon as lexicon_module

    monkeypatch.setattr(lexicon_module, "LEXICON_MIN_CHUNKS", 1)  # this tree stands in for a large one
    lexicon_module._lexicons.clear()
    engine, _ = fake_engine(Settings(workers=1))
    root = small_tree(tmp_path / "ws")
    try:
        service = engine.open(root)
        assert service.wait_idle(IDLE_WAIT)
        lexicon = lexicon_module.lexicon_for(service.ws.reader)
        deadline = time.monotonic() + IDLE_WAIT
        while lexicon.state is None or lexicon.state.behind(service.ws.reader.chunk_log()) != 0:
            assert time.monotonic() < deadline, "the lexicon was not started when the files were read"
            time.sleep(0.05)
        assert service.status()["words_ranked_by"] == "the lexicon (tantivy)"
        asked = []
        real_ranked = lexicon.ranked
        monkeypatch.setattr(lexicon, "ranked", lambda *a, **k: asked.append(a[1]) or real_ranked(*a, **k))
        hits = service.search("resize a thumbnail image", 3).hits
        assert hits[0].name == "handler_2" and asked and "thumbnail" in asked[0]
        # A save reaches it in the search that follows.
        (root / "mod_0.py").write_text("def crop_avatar(request):\n    return crop_avatar_picture(request)\n")
        service.reindex(["mod_0.py"])
        assert service.wait_idle(IDLE_WAIT)
        assert service.search("crop the avatar picture", 3).hits[0].name == "crop_avatar"
    finally:
        engine.close()
        for held in lexicon_module._lexicons.values():
            held._busy.acquire(timeout=30)
        lexicon_module._lexicons.clear()


def test_an_agents_first_question_waits_for_the_first_index_to_read_every_file(tmp_path):
    """`fathom mcp` is asked at once, before the first index has written any
    file: the answer was empty, and an agent takes it as final. Its tools wait
    (bounded) until every file is searchable by name and words."""
    from fathom.engine import FIRST_INDEX_WAIT_S
    from fathom.mcp.tools import FathomTools

    engine, _ = fake_engine(Settings(workers=1))
    root = small_tree(tmp_path / "ws")
    for i in range(40):
        (root / f"extra_{i}.py").write_text(f"def extra_helper_{i}(value):\n    return value + {i}\n")
    try:
        engine.open(root, watch=True)
        tools = FathomTools(engine, root)
        answer = tools.search_code("send email message", limit=3)
        assert "handler_1" in answer.splitlines()[1], answer
        assert "extra_helper_39" in tools.find_symbol("extra_helper_39")
        assert engine.workspace(root).words_ready.is_set()
        assert FIRST_INDEX_WAIT_S <= 30  # an agent's call may take seconds, never minutes
    finally:
        engine.close()


def test_an_agents_first_question_over_a_current_index_waits_for_the_model(tmp_path):
    """An index already current never starts the model, and a search that comes
    before it runs answers on words alone: an agent's first question, right after
    its MCP server opened the workspace, got that answer, marked partial. Its tools
    wait (bounded) for the model too; an editor's search still never waits."""
    import threading

    from fathom.mcp.tools import FathomTools

    class LoadsSlowly(FakeEmbedder):
        def __init__(self):
            super().__init__()
            self.loaded = threading.Event()

        def ensure_started(self):
            self.loaded.wait(10)
            super().ensure_started()

    root = small_tree(tmp_path / "ws")
    builder, fake = fake_engine(Settings(workers=1))
    builder.index(root)
    builder.close()
    slow = LoadsSlowly()
    engine = Engine(Settings(workers=1), embedder_factory=lambda _spec, _settings: slow)
    try:
        service = engine.open(root)
        service.words_ready.wait(10)
        assert service.state == "idle" and not slow.alive  # nothing to embed: the model was never started
        at_once = engine.search(root, "send email message", 3)  # an editor's search: words alone, at once
        assert at_once.partial and at_once.words_only
        threading.Timer(0.3, slow.loaded.set).start()
        answer = FathomTools(engine, root).search_code("send email message", limit=3)
        assert slow.alive and "partial" not in answer.splitlines()[0] and "handler_1" in answer.splitlines()[1], answer
    finally:
        engine.close()


def test_an_embedder_closed_while_it_loads_is_no_fault_to_report(caplog):
    """Closing a server while its model loaded logged "embedding model
    unavailable: embedder is closed" as a warning, and counted it as a failure."""
    import logging

    from fathom.embed.interface import EmbedderClosed
    from fathom.engine.keeper import EmbedderKeeper

    class FailsToStart(FakeEmbedder):
        def __init__(self, error: EmbedderError):
            super().__init__()
            self.error = error

        def ensure_started(self):
            raise self.error

    closed = EmbedderKeeper(FailsToStart(EmbedderClosed("embedder is closed")))
    with caplog.at_level(logging.WARNING, logger="fathom"):
        closed._start()
    assert caplog.records == [] and closed.error is None

    unloadable = EmbedderKeeper(FailsToStart(EmbedderError("no model here")))
    with caplog.at_level(logging.WARNING, logger="fathom"):
        unloadable._start()
    assert unloadable.error == "no model here" and "embedding model unavailable" in caplog.text


def test_a_message_the_summary_repeats_is_shown_once(capsys):
    """A search that built the index with a model that could not load said
    "embedding failed: …" as it happened, then again in the run's summary."""
    from fathom.cli.progress_bar import BarProgress

    progress = BarProgress()  # stderr is not a terminal here: plain lines
    for text in ("embedding failed: no model here; lexical search still works",) * 2 + ("3 files skipped",):
        progress.message(text)
    assert capsys.readouterr().err.splitlines() == [
        "fathom: embedding failed: no model here; lexical search still works", "fathom: 3 files skipped"]


def test_a_model_on_no_path_and_in_no_cache_is_unavailable_and_the_index_stays(tmp_path):
    """`--model foo` reached the hub library, which answered "check your internet
    connection" (Fathom downloads nothing), after the CLI had said it was bringing
    the index to foo. The name is now unavailable from the start, in Fathom's words,
    and the index keeps its vectors; the search answers on names and words."""
    from fathom.embed.modelspec import resolve_model
    from fathom.index.progress import Progress

    spec = resolve_model("no-such-model-anywhere")
    assert "no model 'no-such-model-anywhere' on this machine (Fathom downloads nothing)" in spec.unavailable

    class Said(Progress):
        def __init__(self):
            self.lines = []

        def message(self, text):
            self.lines.append(text)

    root = small_tree(tmp_path / "ws")
    builder, _ = fake_engine(Settings(workers=1))
    builder.index(root)
    builder.close()
    engine = Engine(Settings(workers=1, model="no-such-model-anywhere"))
    said = Said()
    try:
        result = engine.search(root, "send email message", 3, progress=said)
    finally:
        engine.close()
    assert said.lines == [f"cannot load model no-such-model-anywhere: {spec.unavailable}"], said.lines
    assert result.words_only and result.hits[0].name == "handler_1"


def test_find_symbol_shows_each_definitions_signature_on_one_line(tmp_path):
    """An agent that looked a name up had to open the file to see how to call it."""
    from fathom.mcp.tools import FathomTools

    root = tmp_path / "ws"
    root.mkdir()
    (root / "client.py").write_text(
        "class Client:\n"
        "    @property\n    def timeout(self) -> float:\n        return 1.0\n\n"
        "    def send(\n        self,\n        request: 'Request',\n        *,\n        stream: bool = False,\n"
        "    ) -> 'Response':\n        return request\n\n"
        "    def say(self, pattern=re.compile('( |\\t)$'), pad=[ 1 ]):\n        return pattern\n")
    engine, _ = fake_engine(Settings(workers=1))
    try:
        engine.index(root)
        lines = FathomTools(engine, root).find_symbol("Client.").splitlines()
    finally:
        engine.close()
    assert "client.py:6  method Client.send  — def send(self, request: 'Request', *, stream: bool = False,) -> 'Response':" in lines, lines
    assert any(line.endswith("method Client.timeout  — def timeout(self) -> float:") for line in lines), lines
    # A line is shown as written: only the joins of a parameter list's lines are tightened.
    assert any(line.endswith("— def say(self, pattern=re.compile('( |\\t)$'), pad=[ 1 ]):") for line in lines), lines
