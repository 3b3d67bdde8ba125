"""A third-party LSP client, Emacs' eglot (Debian's emacs-nox and elpa-eglot), in
batch mode against the real server: fuzzy names and questions in words, both
through plain `workspace/symbol`."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import editor_binary

pytestmark = [pytest.mark.slow, pytest.mark.editor]

PROBE = Path(__file__).resolve().parent / "eglot" / "probe.el"


def test_workspace_symbol_through_eglot_answers_names_and_questions(editor_workspace, tmp_path):
    emacs = editor_binary(shutil.which("emacs"), "Emacs (emacs-nox, elpa-eglot)")
    root, env = editor_workspace
    env = {**env, "HOME": str(tmp_path), "FATHOM_TEST_FILE": str(root / "platformdirs" / "unix.py"),
           "FATHOM_SERVER_CMD": json.dumps([sys.executable, "-m", "fathom", "serve", "--log-file",
                                            str(tmp_path / "server.log")])}
    (root / ".git").mkdir(exist_ok=True)  # the project eglot finds is the workspace
    run = subprocess.run([emacs, "--batch", "-l", str(PROBE)], env=env, capture_output=True, text=True,
                         timeout=900, stdin=subprocess.DEVNULL)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "done" in run.stdout, output
    answers = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    assert answers["fuzzy"].split(",")[0] == "user_cache_dir", output
    assert "user_cache_dir" in answers["words"].split(",")[:5], output
