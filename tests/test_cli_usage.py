"""The CLI's usage errors: one line, exit 2, before anything is loaded or indexed."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # a process each



def fathom(*args, cwd):
    return subprocess.run([sys.executable, "-m", "fathom", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "FATHOM_CACHE_DIR": str(cwd / "cache")}, timeout=120)


@pytest.mark.parametrize("args, says", [
    (["search", "parse dates", "--lang", "cobol"], "unknown language cobol"),
    (["search", "parse dates", "--kind", "gizmo"], "unknown kind gizmo"),
    (["search", "parse dates", "--exclude", " "], "non-empty glob"),
    (["similar", "nowhere.py"], "expected FILE:LINE"),
    (["similar", "nowhere.py:0"], "expected FILE:LINE"),
    (["similar", "nowhere.py:3"], "no such file"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, says):
    proc = fathom(*args, cwd=tmp_path)
    assert proc.returncode == 2 and says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "cache").exists()  # refused before any index was opened
