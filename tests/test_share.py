"""A team-built index: export a snapshot, seed another checkout from a file or a
URL, embed only what differs; and every way a snapshot can be hostile or broken.
Unit tests with the fake embedder (a model id of its own, so the settings name it)."""
import os
import shutil
import sqlite3  # only to forge hostile snapshots: the stdlib reads and writes plain SQLite files
from pathlib import Path

import pytest

from benchmarks.seed_server import SeedServer
from conftest import FakeEmbedder, copy_corpus
from fathom.config import Settings, index_dir
from fathom.engine import Engine, Progress, SeedError
from fathom.share.seed import never_shared, unsafe_path
from fathom.store import Store

QUERIES = ["match a path against gitignore patterns", "user cache directory", "pattern", "platform dirs for windows"]


class Recorded(Progress):
    def __init__(self):
        self.messages: list[str] = []

    def message(self, text):
        self.messages.append(text)


def settings(**changes) -> Settings:
    return Settings(model=FakeEmbedder.model_id, watcher=False, **changes)


def engine_with(fake: FakeEmbedder, **changes) -> Engine:
    return Engine(settings(**changes), embedder_factory=lambda _spec, _settings: fake)


@pytest.fixture(scope="module")
def shared():
    """One engine (its chunk workers started once) for the tests that need no settings of their own."""
    fake = FakeEmbedder()
    with engine_with(fake) as engine:
        yield engine, fake


@pytest.fixture
def engine(shared):
    engine, fake = shared
    fake.embedded.clear()
    return engine


@pytest.fixture(scope="module")
def built(tmp_path_factory, shared):
    """A corpus indexed by "CI" and exported, once: (its root, the snapshot, the hits
    of QUERIES, its index file)."""
    engine, fake = shared
    top = tmp_path_factory.mktemp("ci")
    previous = os.environ.get("FATHOM_CACHE_DIR")
    os.environ["FATHOM_CACHE_DIR"] = str(top / "cache")
    try:
        root = copy_corpus(top / "project")
        fake.embedded.clear()
        engine.index(root)
        hits = {q: engine.search(root, q, 10).hits for q in QUERIES}
        report = engine.export(root, top / "project.fathom")
        db = index_dir(root) / "index.db"
    finally:
        if previous is None:
            del os.environ["FATHOM_CACHE_DIR"]
        else:
            os.environ["FATHOM_CACHE_DIR"] = previous
    assert report.counts.files > 10 and report.counts.vectors == len(set(fake.embedded))
    return root, report.path, hits, db


def index_state(root: Path) -> tuple:
    """What an index holds, to show that a refused seed changed none of it."""
    db = index_dir(root) / "index.db"
    if not db.exists():
        return ()
    store = Store(db, readonly=True)
    try:
        return (sorted(store.file_states().items()), store.counts(), store.vector_models(), store.vector_model(),
                store.get_meta("seeded_from"))
    finally:
        store.close()


def checkout(tmp_path, name="laptop") -> Path:
    return copy_corpus(tmp_path / name / "project")


def small_checkout(tmp_path) -> Path:
    """A tree of its own, indexed, to show a refused seed leaves an index as it was."""
    root = tmp_path / "small" / "project"
    root.mkdir(parents=True)
    (root / "app.py").write_text("def serve(port):\n    return port\n")
    return root


def test_a_snapshot_round_trip_answers_as_the_original(tmp_path, built, engine, shared):
    _, snapshot, original_hits, _ = built
    root = checkout(tmp_path)
    report = engine.seed(root, str(snapshot))
    assert report.vectors_added > 0 and report.files_taken > 10 and not report.files_note
    stats, _ = engine.index(root)
    assert shared[1].embedded == [] and stats.embedded == 0  # every text was in the snapshot
    for query, hits in original_hits.items():
        got = engine.search(root, query, 10).hits
        assert [(h.relpath, h.name, h.range) for h in got] == [(h.relpath, h.name, h.range) for h in hits]
        assert [h.score for h in got] == pytest.approx([h.score for h in hits])


def test_a_snapshot_written_over_the_index_itself_is_refused_and_the_index_kept(tmp_path, engine):
    from fathom.store import StoreError

    root = small_checkout(tmp_path)
    engine.index(root)
    before = index_state(root)
    for target in (index_dir(root) / "index.db", index_dir(root) / "index.db-wal", index_dir(root) / "team.fathom"):
        with pytest.raises(StoreError, match="the index's own folder"):
            engine.export(root, target)
    assert index_state(root) == before and engine.search(root, "serve a port", 5).hits


def test_a_seeded_index_embeds_exactly_the_texts_that_changed_and_chunks_only_changed_files(
        tmp_path, built, engine, shared):
    _, snapshot, *_ = built
    root = checkout(tmp_path)
    changed = root / "pathspec" / "util.py"
    changed.write_text(changed.read_text() + "\n\ndef brand_new_helper(x):\n    return x * 2\n")
    (root / "pathspec" / "added.py").write_text("def another_one(y):\n    return y + 1\n")
    (root / "platformdirs" / "android.py").unlink()
    fake = shared[1]
    engine.seed(root, str(snapshot))
    store = Store(index_dir(root) / "index.db", readonly=True)
    seeded_ids = {cid for cid, _ in store.chunks_at("pathspec/pattern.py", 10)}
    snapshot_vectors = set(store.embedded_among(sorted(store.text_hashes())))
    store.close()
    engine.index(root)
    store = Store(index_dir(root) / "index.db", readonly=True)
    try:
        needed = {p.text_hash: p.embed_text for p in store.distinct_texts()}
        # Exactly the texts the snapshot had no vector for: the new function, the new file, and any
        # chunk of util.py whose text the addition changed (a module's top-level chunk).
        expected = {text for h, text in needed.items() if h not in snapshot_vectors}
        assert sorted(fake.embedded) == sorted(expected) and expected
        assert any("brand_new_helper" in t for t in fake.embedded) and any("another_one" in t for t in fake.embedded)
        # An unchanged file kept the chunks the snapshot gave it: read, hashed, not chunked again.
        assert {cid for cid, _ in store.chunks_at("pathspec/pattern.py", 10)} == seeded_ids
        assert "platformdirs/android.py" not in store.indexed_paths()
        assert store.counts().pending == 0
    finally:
        store.close()


def test_the_server_seeds_a_new_workspace_on_first_open_and_says_so(tmp_path, built):
    _, snapshot, *_ = built
    root = checkout(tmp_path)
    fake = FakeEmbedder()
    messages = Recorded()
    engine = Engine(settings(seed_index=str(snapshot)), embedder_factory=lambda _s, _t: fake,
                    progress_factory=lambda _title: messages)
    try:
        service = engine.open(root)
        assert service.wait_idle(120)
        assert any(m.startswith("seeding from") for m in messages.messages), messages.messages
        assert any(m.startswith("seeded from") for m in messages.messages), messages.messages
        assert fake.embedded == []
        assert service.status()["pending"] == 0 and service.status()["files"] > 10
    finally:
        engine.close()


def test_a_seed_path_in_the_settings_is_relative_to_the_workspace(tmp_path, built):
    _, snapshot, *_ = built
    root = checkout(tmp_path)
    shutil.copy(snapshot, root / ".." / "team.fathom")
    fake = FakeEmbedder()
    with engine_with(fake, seed_index="../team.fathom") as engine:
        engine.index(root)
    assert fake.embedded == []


def test_seed_settings_from_the_environment_and_an_editor(monkeypatch):
    monkeypatch.setenv("FATHOM_SEED_INDEX", "https://ci.example.com/fathom/main.fathom")
    s = Settings.from_env()
    assert s.seed_index == "https://ci.example.com/fathom/main.fathom"
    assert s.merged({"seedIndex": ""}).seed_index == s.seed_index  # an editor's default keeps it
    assert s.merged({"seedIndex": " /srv/seed.fathom "}).seed_index == "/srv/seed.fathom"


def test_a_seed_built_with_another_model_is_refused_and_nothing_changes(tmp_path, built):
    _, snapshot, *_ = built
    root = checkout(tmp_path)
    other = FakeEmbedder()
    other.model_id = "another-model"
    with Engine(Settings(model="another-model", watcher=False), embedder_factory=lambda _s, _t: other) as engine:
        engine.index(root)
        before = index_state(root)
        with pytest.raises(SeedError, match="built with fake-bow .64 dimensions., this workspace embeds with "
                                            "another-model; nothing imported"):
            engine.seed(root, str(snapshot))
    assert index_state(root) == before


def forge(snapshot: Path, dest: Path, *statements: str) -> Path:
    shutil.copy(snapshot, dest)
    conn = sqlite3.connect(dest)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return dest


HOSTILE = {
    "dotdot": ("UPDATE files SET path = '../../outside.py' WHERE id = (SELECT min(id) FROM files)",
               "leaves the workspace"),
    "absolute": ("UPDATE files SET path = '/etc/cron.d/evil' WHERE id = (SELECT min(id) FROM files)",
                 "leaves the workspace"),
    "another_format": ("UPDATE snapshot SET value = '2' WHERE key = 'format_version'", "format '2'"),
    "wider_vectors": ("UPDATE snapshot SET value = '128' WHERE key = 'dim'", "128 dimensions"),
    "short_vector": ("UPDATE vectors SET embedding = x'00' WHERE text_hash = (SELECT min(text_hash) FROM vectors)",
                     "not 64 floats"),
    "not_a_hash": ("INSERT INTO vectors SELECT 'nope', embedding FROM vectors LIMIT 1", "not a text hash"),
    "a_view": ("CREATE VIEW sneaky AS SELECT 1", "unexpected tables"),
    "a_trigger": ("CREATE TRIGGER t AFTER INSERT ON files BEGIN SELECT 1; END", "unexpected tables"),
    "bad_kind": ("UPDATE chunks SET kind = 999", "wrong types"),
    "negative_range": ("UPDATE symbols SET sl = -5", "range"),
    "edited_text": ("UPDATE chunks SET text = 'def f(): pass' WHERE rowid = 3", "checksum"),
    "no_checksum": ("DELETE FROM snapshot WHERE key = 'checksum'", "checksum"),
    "a_virtual_table": ("DROP TABLE symbols", "unexpected tables"),
    "dim_absurd": ("UPDATE snapshot SET value = '99999999' WHERE key = 'dim'", "out of range"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_snapshot_is_refused_and_changes_nothing(tmp_path, built, engine, name):
    _, snapshot, *_ = built
    statement, why = HOSTILE[name]
    (tmp_path / "drop").mkdir()
    bad = forge(snapshot, tmp_path / "drop" / "bad.fathom", statement)
    root = small_checkout(tmp_path)
    engine.index(root)
    before = index_state(root)
    with pytest.raises(SeedError, match=why):
        engine.seed(root, str(bad))
    assert index_state(root) == before
    assert sorted(p.name for p in bad.parent.iterdir()) == ["bad.fathom"]  # nothing written beside it
    assert not (tmp_path / "outside.py").exists()


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not_sqlite", "an_index", "empty"])
def test_a_broken_snapshot_is_refused_with_one_clear_line(tmp_path, built, engine, damage):
    _, snapshot, *_ = built
    bad = tmp_path / "drop" / "bad.fathom"
    bad.parent.mkdir()
    data = snapshot.read_bytes()
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 3])
    elif damage == "corrupt":
        middle = len(data) // 2
        bad.write_bytes(data[:middle] + os.urandom(8192) + data[middle + 8192:])
    elif damage == "not_sqlite":
        bad.write_bytes(b"<html>404 not found</html>" * 100)
    elif damage == "an_index":  # a Fathom index given as a snapshot
        shutil.copy(built[3], bad)
    else:
        bad.write_bytes(b"")
    root = small_checkout(tmp_path)
    engine.index(root)
    before = index_state(root)
    with pytest.raises(SeedError) as refused:
        engine.seed(root, str(bad))
    assert "\n" not in str(refused.value) and "nothing imported" in str(refused.value)
    assert index_state(root) == before
    assert sorted(p.name for p in bad.parent.iterdir()) == ["bad.fathom"]


def test_a_snapshot_with_more_files_than_any_tree_is_refused(tmp_path, built, engine, monkeypatch):
    import fathom.share.seed as seeding

    _, snapshot, *_ = built
    monkeypatch.setattr(seeding, "MOST_FILES", 5)
    root = small_checkout(tmp_path)
    with pytest.raises(SeedError, match="more than any tree"):
        engine.seed(root, str(snapshot))
    assert index_state(root) == ()


def test_the_snapshot_holds_no_absolute_path_and_no_secret(tmp_path, engine):
    root = small_checkout(tmp_path.parent / f"{tmp_path.name}-secretive")
    (root / "deploy").mkdir()
    (root / "deploy" / "settings.py").write_text("def load():\n    return 1\n")
    engine.index(root)
    # An index built before a secret pattern existed: the file is in it, the snapshot leaves it out.
    store = Store(index_dir(root) / "index.db")
    with store.all_or_nothing():
        store.conn.execute("UPDATE files SET path = 'deploy/.env' WHERE path = 'deploy/settings.py'")
    store.close()
    report = engine.export(root, tmp_path / "out.fathom")
    data = report.path.read_bytes()
    assert str(root).encode() not in data and b"-secretive" not in data
    conn = sqlite3.connect(report.path)
    paths = [p for (p,) in conn.execute("SELECT path FROM files")]
    conn.close()
    assert paths and "deploy/.env" not in paths and not any(unsafe_path(p) for p in paths)


def test_paths_no_snapshot_may_carry():
    for bad in ["", "/abs", "../up", "a/../../b", "a//b", "./a", "a\\b", "C:/win", "a/\x00"]:
        assert unsafe_path(bad), bad
    assert not unsafe_path("src/pkg/mod.py") and not unsafe_path("weird name/ok..py")
    assert never_shared("config/.env") and never_shared("keys/id_rsa") and never_shared("node_modules/x/y.js")
    assert not never_shared("src/environment.py")


def test_seeding_from_a_url_resumes_after_a_cut_connection(tmp_path, built, engine, shared):
    _, snapshot, *_ = built
    root = checkout(tmp_path)
    cut_at = snapshot.stat().st_size // 3
    with SeedServer(snapshot, cut_after=cut_at) as server:
        messages = Recorded()
        report = engine.seed(root, server.url, messages)
        assert report.vectors_added > 0
        assert len(server.requests) == 2 and "Range" not in server.requests[0]
        assert server.requests[1]["Range"] == f"bytes={cut_at}-"
        assert any("resuming at" in m for m in messages.messages), messages.messages
        engine.index(root)
    assert shared[1].embedded == []
    # The download went to the workspace's cache directory, and is gone once imported.
    assert sorted(p.name for p in index_dir(root).iterdir() if p.name.startswith("seed")) == []


def test_a_download_cut_for_good_is_resumed_by_the_next_try(tmp_path, built, engine, monkeypatch):
    import fathom.share.download as download

    _, snapshot, *_ = built
    monkeypatch.setattr(download, "ATTEMPTS", 2)
    monkeypatch.setattr(download.time, "sleep", lambda _s: None)
    root = small_checkout(tmp_path)
    cut_at = 100_000
    with SeedServer(snapshot, cut_after=cut_at, cuts=2) as server:
        with pytest.raises(SeedError, match="failed after 2 tries"):
            engine.seed(root, server.url)
        assert index_state(root) == ()  # nothing seeded, not even an empty index made
        kept = index_dir(root) / "seed.partial"
        assert kept.stat().st_size == 2 * cut_at  # the second try resumed the first
        assert engine.seed(root, server.url).vectors_added > 0
        assert server.requests[-1]["Range"] == f"bytes={2 * cut_at}-"
    assert not kept.exists()


def test_a_url_that_answers_an_error_is_refused_and_nothing_changes(tmp_path, built, engine):
    _, snapshot, *_ = built
    root = small_checkout(tmp_path)
    with SeedServer(snapshot, status=404) as server:
        with pytest.raises(SeedError, match="HTTP 404") as refused:
            engine.seed(root, server.url.replace("http://", "http://user:token@"))
    assert "token" not in str(refused.value)
    assert index_state(root) == ()


def test_a_seed_that_cannot_be_used_on_first_open_is_said_and_indexing_goes_on(tmp_path):
    root = checkout(tmp_path)
    fake = FakeEmbedder()
    messages = Recorded()
    with Engine(settings(seed_index=str(tmp_path / "missing.fathom")), embedder_factory=lambda _s, _t: fake,
                progress_factory=lambda _t: messages) as engine:
        service = engine.open(root)
        assert service.wait_idle(120)
        assert service.status()["files"] > 10 and fake.embedded
    assert any("no snapshot at" in m and "indexing without it" in m for m in messages.messages), messages.messages


def test_credentials_in_a_seed_url_are_never_written(tmp_path, built, engine):
    _, snapshot, *_ = built
    root = small_checkout(tmp_path)
    with SeedServer(snapshot) as server:
        url = server.url.replace("http://", "http://ci:s3cr3t-token@") + "?sig=s3cr3t-sig"
        report = engine.seed(root, url)
    assert "s3cr3t" not in report.summary()
    for path in index_dir(root).iterdir():
        if path.is_file():
            assert b"s3cr3t" not in path.read_bytes(), path.name


def test_a_search_on_an_index_only_seeded_brings_it_to_the_tree_first(tmp_path, built, engine, shared):
    _, snapshot, *_ = built
    root = checkout(tmp_path)
    (root / "pathspec" / "added.py").write_text("def another_one(y):\n    return y + 1\n")
    engine.seed(root, str(snapshot))
    status = engine.status(root)
    assert status["seeded_from"] == str(snapshot) and status["last_run"] == {}
    hits = engine.search(root, "another one", 5).hits
    assert hits and hits[0].relpath == "pathspec/added.py"  # the seed alone does not know the file
    assert engine.status(root)["last_run"]["embedded"] == len(shared[1].embedded) > 0
