"""Shared fixtures. Unit tests use `FakeEmbedder`; the integration tests
(test_cli, test_lsp) use the real model on a small real corpus."""
from __future__ import annotations

import hashlib
import math
import re
import shutil
import struct
from concurrent.futures import Future
from pathlib import Path

import pytest

import pathspec
import platformdirs

from fathom.embed.interface import Embedder, EmbedderIdentity


class FakeEmbedder(Embedder):
    """Deterministic bag-of-words vectors; counts what it was asked to embed.
    Declared against the real interface: `test_the_fake_embedder_implements_the_interface`
    fails when the interface grows and the fake does not."""

    model_id = "fake-bow"
    dim = 64
    device = "cpu"
    batch_size = 16
    request_size = 64
    requests_in_flight = 2
    pid = None
    alive = False
    reads_questions_apart = False

    def __init__(self):
        self.embedded: list[str] = []
        self.alive = False

    def identity(self):
        return EmbedderIdentity(self.model_id, self.dim, "fake")

    def ensure_started(self):
        self.alive = True

    def _vector(self, text: str) -> bytes:
        v = [0.0] * self.dim
        for word in re.findall(r"[a-z]+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return struct.pack(f"{self.dim}f", *(x / norm for x in v))

    def embed_documents(self, texts):
        self.embedded.extend(texts)
        f = Future()
        f.set_result([self._vector(t) for t in texts])
        return f

    def embed_query(self, text, timeout=None, *, as_code=False):
        return self._vector(text)

    def close(self):
        pass


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("FATHOM_CACHE_DIR", str(d))
    return d


def copy_corpus(dest: Path) -> Path:
    """A few modules of installed third-party packages: real code, offline."""
    for package in (pathspec, platformdirs):
        src = Path(package.__file__).parent
        shutil.copytree(src, dest / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


@pytest.fixture
def corpus(tmp_path) -> Path:
    return copy_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def editor_workspace(tmp_path_factory) -> tuple[Path, dict]:
    """One corpus indexed once with the real model, shared by the editor tests:
    each editor's server then finds it current and embeds nothing."""
    import os
    import subprocess
    import sys

    root = copy_corpus(tmp_path_factory.mktemp("editors") / "workspace")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path_factory.mktemp("editor-cache"))}
    subprocess.run([sys.executable, "-m", "fathom", "index", str(root)], env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=900)
    return root, env


def editor_binary(path: str | None, what: str) -> str:
    """The editor to drive, or a skip; CI sets FATHOM_REQUIRE_EDITORS=1 so that a
    missing editor fails instead."""
    import os

    if path and os.path.exists(path):
        return path
    message = f"{what} is not installed (tests/run.sh installs it)"
    if os.environ.get("FATHOM_REQUIRE_EDITORS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def as_started_from_a_terminal() -> None:
    """A child's preexec_fn: a suite run in the background (`cmd &` in a script)
    hands its children SIGINT ignored, which a shell started from a terminal would not."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
