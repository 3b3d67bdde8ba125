"""The VS Code extension, packaged as a .vsix and installed into a real VS Code
(code-server 4.100.3), driven through headless Chromium: editors/vscode/test/e2e.mjs."""
import os
import re
import shutil
import sys
import subprocess
from pathlib import Path

import pytest

from conftest import editor_binary

pytestmark = [pytest.mark.slow, pytest.mark.editor]

VSCODE = Path(__file__).resolve().parent.parent / "editors" / "vscode"


def test_extension_in_real_vscode(editor_workspace, tmp_path):
    node = editor_binary(shutil.which("node"), "Node.js")
    editor_binary("/usr/bin/chromium", "Debian's chromium")
    editor_binary(str(VSCODE / "test" / "node_modules" / ".bin" / "code-server"), "code-server 4.100.3")
    vsix = editor_binary(str(VSCODE / "fathom.vsix"), "the packaged extension (npm run package)")
    fathom = editor_binary(shutil.which("fathom") or str(Path(sys.executable).parent / "fathom"), "fathom")
    root, env = editor_workspace
    shots = tmp_path / "screenshots"
    run = subprocess.run(
        [node, str(VSCODE / "test" / "e2e.mjs")],
        env={**env, "WORKSPACE": str(root), "VSIX": vsix, "FATHOM_SERVER": fathom, "SCREENSHOTS": str(shots)},
        capture_output=True, text=True, timeout=600,
    )
    output = run.stdout + run.stderr
    print(output, f"screenshots in {shots}", sep="\n")  # the figures (idle CPU) and the shots, with -s
    summary = re.search(r"(\d+) passed, (\d+) failed", output)
    assert run.returncode == 0 and summary and summary.groups() == ("11", "0"), \
        f"{output}\nscreenshots in {shots}"


def test_the_package_holds_every_file_its_manifest_names():
    """The icon, the activity bar's icon and the walkthrough's pages: a file the
    manifest names but the .vsix lacks shows as a broken image, not as an error."""
    import json
    import zipfile

    vsix = editor_binary(str(VSCODE / "fathom.vsix"), "the packaged extension (npm run package)")
    manifest = json.loads((VSCODE / "package.json").read_text())
    named = {manifest["icon"]}
    contributes = manifest["contributes"]
    named |= {c["icon"] for c in contributes["viewsContainers"]["activitybar"]}
    named |= {v["icon"] for views in contributes["views"].values() for v in views}
    named |= {step["media"]["markdown"] for w in contributes["walkthroughs"] for step in w["steps"]}
    with zipfile.ZipFile(vsix) as archive:
        held = {name.removeprefix("extension/") for name in archive.namelist()}
    assert named <= held, f"named but not packaged: {sorted(named - held)}"
    assert all((VSCODE / name).stat().st_size > 0 for name in named)
