"""The serving-engine client against an HTTP engine of the tests' own (the fake
embedder's vectors behind the fault proxy): retries, refusals, the index as the
queue. The same client against a real engine: tests/test_serving_engine.py."""
import os
import struct
import subprocess
import sys

import pytest

from conftest import FakeEmbedder, copy_corpus
from benchmarks.engines import FaultProxy, free_port
from fathom.config import EngineSettings, Settings
from fathom.embed.interface import Embedder, EmbedderError, EmbedderRefused
from fathom.embed.modelspec import engine_spec
from fathom.embed.remote import RemoteEmbedder, RetryPolicy, embeddings_endpoint
from fathom.engine import Engine

QUICK = RetryPolicy(attempts=6, first_delay=0.05, longest_delay=0.2, longest_retry_after=0.2, timeout=10)


def fake_engine(dim: int = 64):
    fake = FakeEmbedder()
    fake.dim = dim

    def answer(payload):
        texts = payload["input"]
        vectors = [list(struct.unpack(f"{dim}f", fake._vector(t))) for t in texts]
        # Out of order on purpose: the index field says which is which.
        return {"object": "list", "model": payload["model"],
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in reversed(list(enumerate(vectors)))]}

    return fake, answer


def remote(url: str, retry: RetryPolicy = QUICK, key: str | None = "", **engine) -> RemoteEmbedder:
    settings = EngineSettings(url, "fake-served", **engine)
    return RemoteEmbedder(engine_spec(settings), settings, retry=retry, api_key=key)


def test_the_remote_embedder_implements_the_interface():
    assert isinstance(remote("http://127.0.0.1:1"), Embedder)


def test_engine_settings_from_the_environment_and_an_editor(monkeypatch):
    monkeypatch.setenv("FATHOM_EMBED_URL", "http://gpu-box:8080/v1")
    monkeypatch.setenv("FATHOM_EMBED_MODEL", "BAAI/bge-small-en-v1.5")
    monkeypatch.setenv("FATHOM_EMBED_CONCURRENCY", "8")
    monkeypatch.setenv("FATHOM_EMBED_API_KEY", "sk-secret")
    settings = Settings.from_env()
    assert settings.engine == EngineSettings("http://gpu-box:8080/v1", "BAAI/bge-small-en-v1.5", concurrency=8)
    assert "sk-secret" not in repr(settings)  # the key is no setting: never logged, never compared
    # An editor's default (an empty url) leaves the environment's engine in place; its values win otherwise.
    merged = settings.merged({"embedding": {"url": "", "batchSize": 32, "maxTokens": "lots"}})
    assert merged.engine.url == "http://gpu-box:8080/v1" and merged.engine.batch_size == 32
    assert merged.engine.max_tokens == 512
    flat = Settings().merged({"embedding.url": "http://127.0.0.1:7997", "embedding.model": "m"})
    assert flat.engine == EngineSettings("http://127.0.0.1:7997", "m")
    assert Settings().merged({"embedding": {"url": ""}}).engine is None


def test_the_endpoint_follows_the_openai_base_url_convention():
    assert str(embeddings_endpoint("http://h:8080/v1")) == "http://h:8080/v1/embeddings"
    assert str(embeddings_endpoint("http://h:7997/")) == "http://h:7997/embeddings"
    assert str(embeddings_endpoint("https://h/v1/embeddings")) == "https://h/v1/embeddings"
    for bad in ("localhost:8080", "ftp://h/v1", "not a url"):
        with pytest.raises(EmbedderRefused):
            embeddings_endpoint(bad)


def test_a_served_model_without_a_local_tokenizer_is_fitted_to_max_tokens_by_estimate():
    spec = engine_spec(EngineSettings("http://h/v1", "nomic-embed-text", max_tokens=2048))
    assert spec.tokenizer_json is None and spec.max_tokens == 2048
    assert spec.model_id == "openai-compatible:nomic-embed-text"
    known = engine_spec(EngineSettings("http://h/v1", "all-MiniLM-L6-v2"))
    assert known.tokenizer_json is not None and known.max_tokens == 256  # counted exactly, as locally


def test_busy_answers_cut_connections_and_timeouts_are_tried_again_and_nothing_is_lost():
    fake, answer = fake_engine()
    proxy = FaultProxy(answer=answer, slow_seconds=1.5)
    embedder = remote(proxy.url, retry=RetryPolicy(attempts=6, first_delay=0.05, longest_delay=0.2,
                                                   longest_retry_after=0.2, timeout=10.0))
    try:
        embedder.ensure_started()
        texts = [f"def function_{i}(): return {i}" for i in range(40)]
        proxy.faults = ["429", "503", "cut", "down", "slow", None, "429", "cut"]
        futures = [embedder.embed_documents(texts[i:i + 8]) for i in range(0, 40, 8)]
        vectors = [v for f in futures for v in f.result(60)]
        assert vectors == [fake._vector(t) for t in texts]  # in order, unit length, float32
        assert sorted(t for batch in proxy.delivered[1:] for t in batch) == sorted(texts)
        assert embedder.alive and embedder.identity().dim == 64
    finally:
        embedder.close()
        proxy.close()


def test_a_refused_key_fails_at_once_and_the_key_goes_only_in_its_header():
    _fake, answer = fake_engine()
    proxy = FaultProxy(answer=answer)
    proxy.always = "401"
    embedder = remote(proxy.url, key="sk-very-secret")
    try:
        with pytest.raises(EmbedderRefused) as refused:
            embedder.ensure_started()
        assert "401" in str(refused.value) and "FATHOM_EMBED_API_KEY" in str(refused.value)
        assert "sk-very-secret" not in str(refused.value)
        assert proxy.requests == 1  # no retry can mend a refused key
        assert proxy.authorizations == ["Bearer sk-very-secret"]
    finally:
        embedder.close()
        proxy.close()


def test_a_spent_retry_budget_leaves_the_engine_down_and_queries_fail_fast():
    _fake, answer = fake_engine()
    proxy = FaultProxy(answer=answer)
    embedder = remote(proxy.url, retry=RetryPolicy(attempts=3, first_delay=0.01, longest_delay=0.02,
                                                   longest_retry_after=0.02))
    try:
        embedder.ensure_started()
        proxy.always = "503"
        with pytest.raises(EmbedderError, match="engine busy: 503"):
            embedder.embed_documents(["def f(): pass"]).result(30)
        assert not embedder.alive and "503" in embedder.error
        asked = proxy.requests
        with pytest.raises(EmbedderError):
            embedder.embed_query("anything")
        assert proxy.requests == asked  # known down: the search answers lexically without waiting on it
        proxy.always = None
        embedder.ensure_started()
        assert embedder.alive
    finally:
        embedder.close()
        proxy.close()


def test_vectors_of_another_width_than_before_are_refused():
    fake, answer = fake_engine(dim=64)
    proxy = FaultProxy(answer=answer)
    embedder = remote(proxy.url)
    try:
        embedder.ensure_started()
        _wider, wider_answer = fake_engine(dim=128)
        proxy.answer = wider_answer
        with pytest.raises(EmbedderRefused, match="128-dim"):
            embedder.embed_documents(["def f(): pass"]).result(30)
    finally:
        embedder.close()
        proxy.close()


def test_an_index_through_an_engine_resumes_after_it_was_down_and_embeds_nothing_twice(tmp_path):
    root = copy_corpus(tmp_path / "ws")
    _fake, answer = fake_engine()
    proxy = FaultProxy(answer=answer)
    settings = Settings(engine=EngineSettings(proxy.url, "fake-served", concurrency=2, batch_size=16))

    def factory(spec, s):
        return RemoteEmbedder(spec, s.engine, retry=RetryPolicy(attempts=2, first_delay=0.01, longest_delay=0.02))

    try:
        with Engine(settings, embedder_factory=factory) as engine:
            proxy.faults = [None, None, None]  # the probe and two batches, then down
            proxy.always = None
            first_batches = 3

            def down_after_some(_payload, served=[0]):  # noqa: B006 - a counter across calls
                served[0] += 1
                if served[0] > first_batches:
                    proxy.always = "down"
                return answer(_payload)

            proxy.answer = down_after_some
            stats, counts = engine.index(root)
            assert stats.embedding_error and "engine unreachable" in stats.embedding_error
            assert 0 < counts.pending < counts.chunks  # what came back is kept; the rest waits in the index
            result = engine.search(root, "user cache directory", 5)
            assert result.partial and result.hits  # lexical meanwhile
            status = engine.status(root)
            assert status["provider"] == f"openai-compatible engine at {proxy.url}" and status["pending"] > 0
        proxy.always, proxy.answer = None, answer
        with Engine(settings, embedder_factory=factory) as engine:
            stats, counts = engine.index(root)
            assert stats.embedding_error is None and counts.pending == 0
            delivered = [t for batch in proxy.delivered for t in batch if t != "fathom: are you there?"]
            assert len(delivered) == len(set(delivered))  # nothing embedded twice
            assert engine.search(root, "user cache directory", 5).partial is False
    finally:
        proxy.close()


def fathom(*args, env):
    return subprocess.run([sys.executable, "-m", "fathom", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.slow  # a process each: the fast loop keeps to the client itself
@pytest.mark.parametrize("case", ["refused key", "nothing listening", "not a url"])
def test_the_cli_says_in_one_line_why_the_engine_cannot_be_used_and_exits_1(tmp_path, case):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.py").write_text("def strip_auth(headers):\n    headers.pop('Authorization')\n")
    proxy = None
    if case == "refused key":
        proxy = FaultProxy(answer=lambda payload: {})
        proxy.always = "401"
        url = proxy.url
    elif case == "nothing listening":
        url = f"http://127.0.0.1:{free_port()}/v1"
    else:
        url = "localhost:7997"
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache"), "FATHOM_EMBED_URL": url,
           "FATHOM_EMBED_API_KEY": "sk-never-printed"}
    try:
        proc = fathom("index", str(root), env=env)
    finally:
        if proxy is not None:
            proxy.close()
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "sk-never-printed" not in proc.stderr + proc.stdout
    expected = {"refused key": "refused the request (401)", "nothing listening": "cannot connect",
                "not a url": "not an http(s) URL"}[case]
    assert sum(expected in line for line in proc.stderr.splitlines()) == 1, proc.stderr
    # Symbols and words were indexed all the same.
    assert "strip_auth" in fathom("symbols", "strip_auth", "--path", str(root), env=env).stdout
