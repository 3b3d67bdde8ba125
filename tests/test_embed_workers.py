"""Several local embedding processes (`embed/workers.py`): the same vectors as one
process, queries ahead of document batches, a killed worker's batch queued again
and the worker replaced, idle workers stopped, every worker gone with its parent.
The settings and `auto`'s choice are unit tests; the rest runs the real model."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from fathom.config import Settings
from fathom.embed.workers import MOST_AUTO_WORKERS, PER_WORKER, WORKER_MEMORY_BYTES, EmbedderPool, auto_workers, \
    worker_plan

TEXTS = [f"def handler_{i}(request):\n    return render(request, 'page_{i % 7}.html', user_id={i})" for i in range(768)]


def test_workers_from_the_environment_and_an_editor(monkeypatch):
    monkeypatch.setenv("FATHOM_EMBED_WORKERS", "3")
    assert Settings.from_env().embed_workers == 3
    monkeypatch.setenv("FATHOM_EMBED_WORKERS", "auto")
    assert Settings.from_env().embed_workers == 0
    monkeypatch.setenv("FATHOM_EMBED_WORKERS", "many")
    assert Settings.from_env().embed_workers == 0
    assert Settings().merged({"embedding": {"workers": 2}}).embed_workers == 2
    assert Settings().merged({"embedding.workers": "auto"}).embed_workers == 0
    assert Settings(embed_workers=4).merged({"embedding": {"workers": -1}}).embed_workers == 4
    assert Settings().merged({"embedding": {"workers": 2}}).engine is None  # workers alone name no engine


def test_auto_runs_a_process_per_core_up_to_eight_and_never_more_than_memory_allows():
    gib = 1 << 30
    assert auto_workers(1, 24 * gib) == (1, 1)
    assert auto_workers(2, 24 * gib) == (2, 1) and auto_workers(4, 24 * gib) == (4, 1)
    assert auto_workers(16, 64 * gib) == (MOST_AUTO_WORKERS, 16 // MOST_AUTO_WORKERS)
    # Half the free memory at most, whatever the cores say: little memory, one process.
    assert auto_workers(16, 3 * WORKER_MEMORY_BYTES) == (1, 16)
    assert auto_workers(16, 5 * WORKER_MEMORY_BYTES) == (2, 8)
    assert worker_plan(3, "cpu")[0] == 3 and worker_plan(0, "cuda") == (1, worker_plan(0, "cuda")[1])


def real_pool(workers=2, **kwargs) -> EmbedderPool:
    from fathom.embed.modelspec import resolve_model

    return EmbedderPool(resolve_model("all-MiniLM-L6-v2"), "cpu", workers, 1, **kwargs)


def wait_for(condition, timeout=120.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow
def test_a_killed_worker_s_batches_go_to_the_others_and_the_vectors_are_one_process_s():
    from fathom.embed.local import LocalEmbedder
    from fathom.embed.modelspec import resolve_model

    pool = real_pool()
    try:
        pool.ensure_started()
        futures = [pool.embed_documents(TEXTS[i:i + 64]) for i in range(0, len(TEXTS), 64)]
        wait_for(lambda: len(pool.pids()) == 2, what="the second worker")
        first_pid, second_pid = pool.pids()
        wait_for(lambda: pool.busy_workers() == 2, what="both workers busy")
        os.kill(second_pid, signal.SIGKILL)
        results = [f.result(600) for f in futures]
        assert pool.deaths == {second_pid}  # one death, however many requests it failed
        wait_for(lambda: len(pool.pids()) == 2, what="the replacement")
        assert second_pid not in pool.pids() and first_pid in pool.pids()
        # Nothing embedded twice: only what the dead worker held was sent again.
        assert pool.texts_sent - len(TEXTS) <= PER_WORKER * 64
    finally:
        pool.close()
    single = LocalEmbedder(resolve_model("all-MiniLM-L6-v2"), "cpu", 2)
    try:
        reference = single.embed_documents(TEXTS).result(600)
    finally:
        single.close()
    import numpy as np

    got = np.frombuffer(b"".join(v for r in results for v in r), dtype=np.float32)
    want = np.frombuffer(b"".join(reference), dtype=np.float32)
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-5)


@pytest.mark.slow
def test_a_query_is_answered_while_every_worker_has_document_batches():
    pool = real_pool()
    try:
        pool.ensure_started()
        futures = [pool.embed_documents(TEXTS[i:i + 64] * 2) for i in range(0, len(TEXTS), 64)]
        wait_for(lambda: len(pool.pids()) == 2 and pool.busy_workers() == 2, what="both workers busy")
        vector = pool.embed_query("render a page for a user", timeout=60)
        # Ordering, not timing: the query came back with most of the documents still queued.
        assert len(vector) == 4 * 384 and sum(f.done() for f in futures) < len(futures) // 2
    finally:
        pool.close()


@pytest.mark.slow
def test_idle_workers_beyond_the_first_stop_and_come_back_with_work():
    pool = real_pool()
    try:
        pool.ensure_started()
        pool.embed_documents(TEXTS[:64]).result(300)
        wait_for(lambda: len(pool.pids()) == 2, what="the second worker")
        stopped = pool.pids()[1]
        # Its process runs before its model has loaded, and a worker still loading is not
        # idle: it is stopped once it has loaded (ordering, not timing).
        wait_for(lambda: pool.stop_idle(0) == 1, what="the second worker loaded, then stopped idle")
        assert pool.pids() == pool.pids()[:1]
        wait_for(lambda: not psutil.pid_exists(stopped) or psutil.Process(stopped).status() == psutil.STATUS_ZOMBIE,
                 what="the idle worker's exit")
        futures = [pool.embed_documents(TEXTS[i:i + 64]) for i in range(0, 512, 64)]
        assert all(len(f.result(300)) == 64 for f in futures)
        wait_for(lambda: len(pool.pids()) == 2, what="the worker's return")
    finally:
        pool.close()


@pytest.mark.slow
def test_every_worker_exits_with_its_parent(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from fathom.embed.modelspec import resolve_model
        from fathom.embed.workers import EmbedderPool
        if __name__ == "__main__":
            pool = EmbedderPool(resolve_model("all-MiniLM-L6-v2"), "cpu", 2, 1)
            pool.ensure_started()
            pool.embed_documents(["def f(): pass"] * 64)  # document work starts the second worker
            while len(pool.pids()) < 2:
                time.sleep(0.1)
            print(*pool.pids(), flush=True)
            time.sleep(600)
    """)
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen([sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
        parent.kill()
        parent.wait(30)
        wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                 for p in pids), timeout=60, what="the workers' exit")
    finally:
        parent.kill()


def test_the_pool_implements_the_interface_and_starts_nothing_until_asked():
    from fathom.embed.interface import Embedder

    pool = real_pool(workers=3)
    try:
        assert isinstance(pool, Embedder) and pool.requests_in_flight == 3 * PER_WORKER
        assert pool.pids() == [] and not pool.alive
    finally:
        pool.close()
    assert pool.embed_documents(["x"]).exception() is not None  # closed: fails, never hangs
