"""The CLI end to end with the real model, real sqlite-vec and real tree-sitter."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import as_started_from_a_terminal, copy_corpus
from fathom.config import DEFAULT_MODEL

pytestmark = pytest.mark.slow


def fathom(*args, env=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "fathom", *args], capture_output=True, text=True,
                          env=env or os.environ.copy(), timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"fathom {args} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    root = copy_corpus(tmp_path_factory.mktemp("cli") / "corpus")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}
    first = fathom("index", str(root), env=env)
    return root, env, first


QUERIES = [
    ("match a file path against gitignore patterns", "match_file"),
    ("directory where the user's cache files are stored", "user_cache_dir"),
    ("normalize a file path to use forward slashes", "normalize_file"),
]


def test_index_summary_and_status(indexed):
    root, env, first = indexed
    summary = first.stdout.strip().splitlines()[-1]
    assert summary.endswith(" s") and "files," in summary and "newly embedded" in summary
    # Piped, the progress is plain lines, each phase's end among them.
    assert "fathom: files chunked" in first.stderr and "fathom: chunks embedded" in first.stderr
    assert f"fathom: loading the model ({DEFAULT_MODEL})" in first.stderr
    done = [line for line in first.stderr.splitlines() if line.startswith("fathom: chunks embedded")][-1]
    assert done.split()[-1].split("/")[0] == done.split()[-1].split("/")[1]
    status = json.loads(fathom("status", str(root), "--json", env=env).stdout)
    assert status["pending"] == 0 and status["chunks"] > 300 and status["files"] > 20
    assert os.path.isabs(status["db"]) and status["db"].startswith(env["FATHOM_CACHE_DIR"])
    assert status["model"] == DEFAULT_MODEL and status["device"] == "cpu"
    assert set(status["last_run"]) >= {"scanned", "changed", "embedded", "seconds"}
    words = fathom("status", str(root), env=env).stdout
    assert "all embedded" in words and "last run:" in words and "{" not in words


def test_status_of_a_folder_never_indexed_says_so(tmp_path):
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    assert "not indexed yet" in fathom("status", str(tmp_path), env=env).stdout


@pytest.mark.parametrize("query,expected", QUERIES)
def test_natural_language_queries_rank_the_right_function(indexed, query, expected):
    root, env, _ = indexed
    results = json.loads(fathom("search", query, "--path", str(root), "-k", "5", "--json", env=env).stdout)
    assert expected in [r["name"] for r in results], results
    top = results[0]
    assert set(top) == {"path", "uri", "range", "name", "container", "kind", "score", "snippet"}
    assert top["uri"].startswith("file://") and not top["path"].startswith("/")
    assert set(top["range"]) == {"start", "end"} and set(top["range"]["start"]) == {"line", "character"}
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_a_piped_search_prints_each_hit_on_one_whole_line_whatever_the_width(indexed):
    """An agent or a script reads `path:line  name  kind score` per hit: the
    terminal may wrap it for the eye, but the output never breaks it."""
    root, env, _ = indexed
    narrow = fathom("search", QUERIES[0][0], "--path", str(root), "-k", "5", env={**env, "COLUMNS": "40"})
    heads = [line for line in narrow.stdout.splitlines() if not line.startswith("    ")]
    assert len(heads) == 5 and max(map(len, heads)) > 40, narrow.stdout
    for head in heads:
        assert re.fullmatch(r"\S+:\d+  \S+  [A-Z][A-Za-z]* \d\.\d{3}", head), narrow.stdout


def test_unchanged_reindex_embeds_nothing_and_one_edit_few(indexed):
    root, env, _ = indexed
    again = fathom("index", str(root), env=env)
    assert ", 0 newly embedded," in again.stdout
    target = root / "pathspec" / "util.py"
    target.write_text(target.read_text().replace("def normalize_file(", "def normalize_file(  # edited\n\t", 1))
    fathom("index", str(root), env=env)
    status = json.loads(fathom("status", str(root), "--json", env=env).stdout)
    assert 1 <= status["last_run"]["embedded"] <= 3


def test_symbols_json(indexed):
    root, env, _ = indexed
    hits = json.loads(fathom("symbols", "usercachedir", "--path", str(root), "--json", env=env).stdout)
    assert hits[0]["name"] == "user_cache_dir"
    assert set(hits[0]) == {"name", "kind", "container", "path", "uri", "range", "signature"}
    assert hits[0]["signature"].startswith("def user_cache_dir(")


def test_usage_errors_exit_2_with_one_line(tmp_path):
    a_file = tmp_path / "parse.py"
    a_file.write_text("def parse(s):\n    return s\n")
    for args in (["search", "  ", "--path", str(tmp_path)], ["index", str(tmp_path / "missing")], ["index", "--bogus"],
                 ["index", str(a_file)], ["search", "parse a date", "--path", str(a_file)]):
        proc = fathom(*args, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
        if a_file.name in args[-1]:
            assert f"{a_file} is a file: Fathom works on a workspace folder, such as {tmp_path}" in proc.stderr


def test_from_a_subdirectory_the_enclosing_workspace_answers(indexed):
    root, env, _ = indexed
    before = sorted(os.listdir(env["FATHOM_CACHE_DIR"]))
    results = json.loads(fathom("search", "normalize a file path to use forward slashes", "--path",
                                str(root / "pathspec"), "-k", "5", "--json", env=env).stdout)
    assert "pathspec/util.py" in [r["path"] for r in results]
    assert sorted(os.listdir(env["FATHOM_CACHE_DIR"])) == before  # no second index of the subdirectory


def test_ctrl_c_during_a_first_index_is_one_line_and_exit_130(tmp_path):
    root = copy_corpus(tmp_path / "corpus")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "fathom", "index", str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=as_started_from_a_terminal)
    for line in proc.stderr:
        if line.startswith("fathom: "):
            break  # the run's first word: it has half a minute of chunking and embedding ahead
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("fathom: interrupted"), err
    assert "Traceback" not in err and "terminate called" not in err, err


def test_bare_fathom_prints_the_usage_and_an_empty_result_says_so(tmp_path):
    bare = fathom(check=False)
    assert bare.returncode == 2 and "usage: fathom" in bare.stdout and "search" in bare.stdout
    (tmp_path / "empty").mkdir()
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    empty = fathom("search", "parse a date", "--path", str(tmp_path / "empty"), "--no-tests", env=env)
    assert "no results for 'parse a date'" in empty.stdout
    (tmp_path / "empty" / "a.py").write_text("def parse_date(v):\n    return v\n")
    fathom("index", str(tmp_path / "empty"), "--no-embed", env=env)
    none = fathom("symbols", "zzqqxx", "--path", str(tmp_path / "empty"), env=env)
    assert none.stdout == "no symbols match 'zzqqxx'\n"
    pasted = fathom("symbols", "parse_date" * 6000, "--path", str(tmp_path / "empty"), env=env)  # 60,000 characters
    assert pasted.returncode == 0 and pasted.stdout == f"no symbols match {('parse_date' * 8)!r}"[:-1] + "…'\n"


def test_a_model_that_cannot_load_is_a_clear_error_and_keeps_symbols_and_words(tmp_path):
    root = copy_corpus(tmp_path / "corpus")
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    run = fathom("index", str(root), "--model", str(broken), env=env, check=False)
    assert run.returncode == 1
    assert f"cannot load model {broken}" in run.stderr and "lexical search still works" in run.stderr
    assert "Traceback" not in run.stderr
    symbols = json.loads(fathom("symbols", "match_file", "--path", str(root), "--json", env=env).stdout)
    assert "match_file" in [s["name"] for s in symbols]


def test_export_then_import_into_another_checkout_embeds_nothing_and_answers_the_same(indexed, tmp_path):
    root, env, _ = indexed
    fathom("index", str(root), env=env)  # what earlier tests changed, brought up to date
    snapshot = tmp_path / "team.fathom"
    wrote = fathom("export", str(root), "-o", str(snapshot), env=env).stdout
    assert wrote.startswith(f"wrote {snapshot}:") and f"vectors of {DEFAULT_MODEL}" in wrote
    laptop = tmp_path / "laptop"
    shutil.copytree(root, laptop)  # the same tree, at another path, as another clone would be
    laptop_env = {**env, "FATHOM_CACHE_DIR": str(tmp_path / "laptop-cache")}
    seeded = fathom("import", str(snapshot), str(laptop), env=laptop_env)
    assert "seeded from" in seeded.stdout and "fathom index" in seeded.stdout
    assert "not yet brought up to this tree" in fathom("status", str(laptop), env=laptop_env).stdout
    summary = fathom("index", str(laptop), env=laptop_env).stdout.strip().splitlines()[-1]
    assert ", 0 newly embedded," in summary
    query = QUERIES[0][0]
    original = json.loads(fathom("search", query, "--path", str(root), "--json", env=env).stdout)
    again = json.loads(fathom("search", query, "--path", str(laptop), "--json", env=laptop_env).stdout)
    assert [(h["path"], h["name"]) for h in again] == [(h["path"], h["name"]) for h in original]
    refused = fathom("import", str(snapshot), str(laptop), "--model", "all-mpnet-base-v2", env=laptop_env,
                     check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert f"built with {DEFAULT_MODEL} (384 dimensions)" in refused.stderr
