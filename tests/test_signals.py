"""SIGTERM and Ctrl-C reach Fathom's long-running commands as they reach any
program: `timeout`, `kill`, a service manager, an editor ending its server. Each
command leaves in order, its helper processes (chunk workers, the embedding
process) stopped before it exits, the index keeping what was written; real
model, real processes."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import psutil
import pytest

from conftest import as_started_from_a_terminal, copy_corpus
from lspclient import LspClient

pytestmark = pytest.mark.slow

FATHOM = [sys.executable, "-m", "fathom"]
LOADED_MODEL_BYTES = 200 << 20  # torch and MiniLM's weights; a chunk worker is a few tens of MB


def helpers_of(pid: int) -> list[psutil.Process]:
    """The processes a Fathom process started (multiprocessing's resource
    tracker, which leaves once its last client has, aside)."""
    helpers = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if "resource_tracker" not in " ".join(child.cmdline()):
                helpers.append(child)
        except psutil.NoSuchProcess:
            pass
    return helpers


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    running = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
        except psutil.NoSuchProcess:
            pass
    return running


def wait_for_helpers(pid: int, timeout: float = 300) -> list[psutil.Process]:
    """Once the embedding process has its model (the one helper of hundreds of
    MB), while the first index runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        helpers = helpers_of(pid)
        try:
            if any(helper.memory_info().rss > LOADED_MODEL_BYTES for helper in helpers):
                return helpers
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no embedding process with its model after {timeout} s: {helpers_of(pid)}")


def fathoms_own_lines(stderr: str) -> list[str]:
    """The lines Fathom wrote, without those of multiprocessing's resource tracker:
    a process of its own that outlives Fathom by design and shares its stderr.
    (The SIGTERM test below holds Fathom to a tracker with nothing to report.)"""
    lines = stderr.strip().splitlines()
    ours = []
    for i, line in enumerate(lines):
        tracker = "resource_tracker" in line or (i > 0 and "resource_tracker" in lines[i - 1]
                                                 and line.lstrip().startswith("warnings.warn("))
        if not tracker:
            ours.append(line)
    return ours


@pytest.fixture
def workspace(tmp_path):
    root = copy_corpus(tmp_path / "corpus")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    return root, env


def test_sigterm_during_a_first_index_stops_every_helper_and_keeps_what_was_written(workspace):
    root, env = workspace
    proc = subprocess.Popen([*FATHOM, "index", str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    for line in proc.stderr:
        if "chunks embedded" in line:
            break  # the embedding process at work, with half a minute of it ahead
    helpers = helpers_of(proc.pid)
    proc.send_signal(signal.SIGTERM)  # to it alone, as `kill` and `timeout` send it
    _out, rest = proc.communicate(timeout=120)
    assert proc.returncode == 143, rest
    assert helpers and not still_running(helpers), still_running(helpers)
    assert "Traceback" not in rest and "leaked" not in rest, rest
    said = rest.replace("\r", "\n").strip().splitlines()[-1]
    left = re.fullmatch(r"fathom: terminated; ([\d,]+) chunks left to embed, run again to resume", said)
    assert left, said
    status = json.loads(subprocess.run([*FATHOM, "status", str(root), "--json"], capture_output=True, text=True,
                                       env=env, check=True, timeout=120).stdout)
    # Every file read and its chunks written before the signal; the vectors still owed are counted.
    assert status["files"] > 0 and 0 < status["pending"] <= status["chunks"]
    assert status["pending"] == int(left.group(1).replace(",", ""))


def test_an_editors_server_ended_by_sigterm_stops_its_helpers_first(workspace):
    root, env = workspace
    client = LspClient([*FATHOM, "serve"], env, stderr=subprocess.PIPE)
    try:
        client.initialize(root.as_uri(), os.getpid())
        helpers = wait_for_helpers(client.process.pid)
        client.process.send_signal(signal.SIGTERM)
        assert client.process.wait(timeout=120) == 143
        assert not still_running(helpers), still_running(helpers)
        err = client.process.stderr.read().decode()
        assert "Traceback" not in err and "leaked" not in err, err
    finally:
        if client.process.poll() is None:
            client.process.kill()


def test_ctrl_c_ends_an_agents_stdio_server_waiting_for_its_next_message(workspace):
    """The MCP SDK reads stdin on a thread no cancellation reaches: a server in
    a terminal, its client quiet, still leaves at Ctrl-C."""
    root, env = workspace
    proc = subprocess.Popen([*FATHOM, "mcp", str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, preexec_fn=as_started_from_a_terminal)
    try:
        helpers = wait_for_helpers(proc.pid)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130  # stdin still open: the client has not left
        assert not still_running(helpers), still_running(helpers)
        assert fathoms_own_lines(proc.stderr.read().decode())[-1] == "fathom: interrupted"
    finally:
        if proc.poll() is None:
            proc.kill()
