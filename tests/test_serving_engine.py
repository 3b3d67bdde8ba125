"""Fathom through a real serving engine: Infinity, started here on 127.0.0.1 from
its own virtualenv (tests/run.sh makes it), serving the packaged all-MiniLM-L6-v2
from its local path, offline. The fault proxy stands in front of it where faults
are wanted."""
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest
import sqlite_vec

from conftest import copy_corpus
from benchmarks.engines import SERVED_NAME, FaultProxy, Infinity, infinity_available
from fathom.config import EngineSettings
from fathom.embed.local import LocalEmbedder
from fathom.embed.modelspec import engine_spec, resolve_model
from fathom.embed.remote import RemoteEmbedder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not infinity_available() and not os.environ.get("FATHOM_REQUIRE_ENGINES"),
                       reason="no Infinity virtualenv (tests/run.sh makes .venv-engines/infinity)"),
]


@pytest.fixture(scope="module")
def infinity(tmp_path_factory):
    engine = Infinity(tmp_path_factory.mktemp("infinity") / "infinity.log").start()
    yield engine
    engine.stop()


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    copy_corpus(tmp_path / "full")
    # Two real modules: about a hundred chunks, a few seconds for the engine on 2 cores.
    for name in ("platformdirs/unix.py", "pathspec/pathspec.py"):
        (root / Path(name).name).write_text((tmp_path / "full" / name).read_text())
    return root


def fathom(*args, env, check=True):
    proc = subprocess.run([sys.executable, "-m", "fathom", *args], capture_output=True, text=True,
                          env=env, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"fathom {args} exited {proc.returncode}: {proc.stderr}")
    return proc


def run_env(tmp_path, url: str | None) -> dict:
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("FATHOM_EMBED_URL", None)
    if url:
        env.update(FATHOM_EMBED_URL=url, FATHOM_EMBED_MODEL=SERVED_NAME, FATHOM_EMBED_BATCH_SIZE="16")
    return env


def summary(proc) -> str:
    return proc.stdout.strip().splitlines()[-1]


def index_db(env: dict) -> Path:
    return next(Path(env["FATHOM_CACHE_DIR"]).glob("*/index.db"))


def query(db: Path, sql: str):
    conn = apsw.Connection(str(db))
    conn.enable_load_extension(True)
    conn.load_extension(sqlite_vec.loadable_path())
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_vectors_through_the_engine_agree_with_the_local_model_on_real_chunks(infinity, corpus, tmp_path):
    env = run_env(tmp_path, infinity.url)
    fathom("index", str(corpus), env=env)
    texts = [header + "\n" + text for header, text in query(
        index_db(env), "SELECT header, text FROM chunks GROUP BY text_hash ORDER BY min(id) LIMIT 64")]
    settings = EngineSettings(infinity.url, SERVED_NAME)
    remote = RemoteEmbedder(engine_spec(settings), settings)
    local = LocalEmbedder(resolve_model(SERVED_NAME), "cpu")
    try:
        served, own = remote.embed_documents(texts).result(300), local.embed_documents(texts).result(300)
    finally:
        remote.close()
        local.close()
    for a, b in zip(served, own):
        x, y = struct.unpack(f"{len(a) // 4}f", a), struct.unpack(f"{len(b) // 4}f", b)
        assert sum(p * q for p, q in zip(x, y)) >= 0.999


def test_index_and_search_through_the_engine_and_switching_provider_back_costs_nothing(infinity, corpus, tmp_path):
    served, local = run_env(tmp_path, infinity.url), run_env(tmp_path, None)
    first = fathom("index", str(corpus), env=served)
    assert "0 newly embedded" not in summary(first)
    status = fathom("status", str(corpus), env=served).stdout
    assert "openai-compatible engine at http://127.0.0.1" in status and "all embedded" in status
    hits = fathom("search", "--path", str(corpus), "-k", "3", "--json", "the user's cache directory",
                  env=served).stdout
    assert "user_cache_dir" in hits
    assert "0 newly embedded" not in summary(fathom("index", str(corpus), env=local))  # another model: embedded
    assert "0 newly embedded" in summary(fathom("index", str(corpus), env=served))  # its vectors were kept
    assert "0 newly embedded" in summary(fathom("index", str(corpus), env=local))
    assert query(index_db(served), "PRAGMA integrity_check") == [("ok",)]


def test_an_engine_killed_mid_index_leaves_texts_pending_and_the_next_run_resumes(infinity, corpus, tmp_path):
    proxy = FaultProxy(infinity.url)  # counts what the engine answered whole
    env = {**run_env(tmp_path, proxy.url), "FATHOM_EMBED_BATCH_SIZE": "4", "FATHOM_EMBED_CONCURRENCY": "1"}
    try:
        run = subprocess.Popen([sys.executable, "-m", "fathom", "index", str(corpus)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while run.poll() is None and len(proxy.delivered) < 3:
            time.sleep(0.05)
        infinity.stop(signal.SIGKILL)
        out, err = run.communicate(timeout=600)
        # Behind the proxy, as behind any gateway, a dead engine answers 502: busy, tried again, then given up.
        assert run.returncode == 1 and "embedding failed" in err and "Traceback" not in err, err
        db = index_db(env)
        pending = query(db, "SELECT count(DISTINCT text_hash) FROM chunks WHERE text_hash NOT IN"
                            " (SELECT text_hash FROM embedded)")[0][0]
        assert pending > 0 and "waiting for vectors" in fathom("status", str(corpus), env=env).stdout
        infinity.start()
        fathom("index", str(corpus), env=env)
        assert query(db, "PRAGMA integrity_check") == [("ok",)]
        assert query(db, "SELECT count(DISTINCT text_hash) FROM chunks WHERE text_hash NOT IN"
                         " (SELECT text_hash FROM embedded)")[0][0] == 0
        delivered = [t for batch in proxy.delivered for t in batch if t != "fathom: are you there?"]
        assert len(delivered) == len(set(delivered))  # nothing embedded twice
        assert len(set(delivered)) == query(db, "SELECT count(DISTINCT text_hash) FROM chunks")[0][0]
    finally:
        if infinity.process is None:
            infinity.start()
        proxy.close()


def test_faults_between_fathom_and_the_engine_lose_nothing_and_embed_nothing_twice(infinity, corpus, tmp_path):
    proxy = FaultProxy(infinity.url, slow_seconds=3.0)
    proxy.faults = [None] + ["429", "503", "slow", "cut", None, "down", "429", None, "cut", "503"] * 3
    env = {**run_env(tmp_path, proxy.url), "FATHOM_EMBED_BATCH_SIZE": "8"}
    try:
        done = fathom("index", str(corpus), env=env)
    finally:
        proxy.close()
    assert "embedding failed" not in done.stderr
    db = index_db(env)
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    distinct = query(db, "SELECT count(DISTINCT text_hash) FROM chunks")[0][0]
    assert query(db, "SELECT count(*) FROM embedded")[0][0] == distinct
    delivered = [t for batch in proxy.delivered for t in batch if t != "fathom: are you there?"]
    assert len(delivered) == len(set(delivered)) == distinct
    assert not proxy.faults  # every fault was met
