"""Faults and hostile input, through the real CLI and model: kill -9 mid-run,
two indexers at once, bad files of every kind, an unusable cache directory, no
network, and nothing from outside the workspace or inside files leaking."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import apsw
import pytest

import platformdirs

pytestmark = pytest.mark.slow


def fathom(*args, env, timeout=600, check=True, prefix=()):
    run = subprocess.run([*prefix, sys.executable, "-m", "fathom", *args], env=env, capture_output=True,
                         text=True, timeout=timeout)
    if check and run.returncode != 0:
        raise AssertionError(f"fathom {' '.join(args)} exited {run.returncode}: {run.stderr}")
    return run


def index_rows(db: Path) -> dict:
    """Everything an index holds that a rebuild must reproduce, in comparable form."""
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return {
            "files": sorted(conn.execute("SELECT path, hash, language, status FROM files").fetchall()),
            "symbols": sorted(conn.execute(
                "SELECT f.path, s.name, s.kind, s.container, s.sl, s.sc, s.el, s.ec"
                " FROM symbols s JOIN files f ON f.id = s.file_id").fetchall()),
            "chunks": sorted(conn.execute(
                "SELECT f.path, c.name, c.sl, c.el, c.text_hash FROM chunks c JOIN files f ON f.id = c.file_id")
                .fetchall()),
        }
    finally:
        conn.close()


def scalar(db: Path, sql: str):
    conn = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        return conn.execute(sql).fetchall()[0][0]
    finally:
        conn.close()


def small_tree(dest: Path) -> Path:
    src = Path(platformdirs.__file__).parent
    shutil.copytree(src, dest / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def status(path: Path, env) -> dict:
    return json.loads(fathom("status", str(path), "--json", env=env).stdout)


@pytest.mark.parametrize("kill_after", [2.0, 9.0])
def test_kill_9_at_any_moment_then_reindex_matches_a_clean_build(tmp_path, kill_after):
    root = small_tree(tmp_path / "ws")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    victim = subprocess.Popen([sys.executable, "-m", "fathom", "index", str(root)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(kill_after)
    os.killpg(victim.pid, signal.SIGKILL)  # the CLI, its pool workers and its embedding process
    victim.wait()
    db = Path(status(root, env)["db"])
    embedded_before = scalar(db, "SELECT count(*) FROM embedded") if db.exists() else 0

    fathom("index", str(root), env=env)
    after = status(root, env)
    assert after["pending"] == 0
    assert scalar(db, "PRAGMA integrity_check") == "ok"
    distinct = scalar(db, "SELECT count(DISTINCT text_hash) FROM chunks")
    assert scalar(db, "SELECT count(*) FROM embedded") == distinct
    # Nothing embedded before the kill was embedded again.
    assert after["last_run"]["embedded"] == distinct - embedded_before

    clean_env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "clean-cache")}
    fathom("index", "--no-embed", str(root), env=clean_env)
    assert index_rows(db) == index_rows(Path(status(root, clean_env)["db"]))


def test_two_indexers_at_once_wait_for_each_other(tmp_path):
    root = small_tree(tmp_path / "ws")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    first = subprocess.Popen([sys.executable, "-m", "fathom", "index", "--no-embed", str(root)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen([sys.executable, "-m", "fathom", "index", "--no-embed", str(root)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    db = Path(status(root, env)["db"])
    assert scalar(db, "PRAGMA integrity_check") == "ok"
    clean_env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "clean-cache")}
    fathom("index", "--no-embed", str(root), env=clean_env)
    assert index_rows(db) == index_rows(Path(status(root, clean_env)["db"]))


def hostile_tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "hostile"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stolen.py").write_text("def stolen_outside_function():\n    return 'OUTSIDE-MARKER'\n")
    root.mkdir()
    (root / "good.py").write_text("def parse_http_date_header(value):\n    return value.split(',')\n")
    (root / "random.py").write_bytes(os.urandom(4000).replace(b"\0", b"\1") + b"\0")
    (root / "latin1.py").write_bytes("def caf\xe9_menu():\n    return 'cr\xe8me br\xfbl\xe9e'\n".encode("latin-1"))
    (root / "broken.py").write_text(
        "def intact_before():\n    return 1\n\ndef broken(:\n    pass pass\n\ndef intact_after():\n    return 2\n")
    (root / "empty.py").write_text("")
    (root / "deep.js").write_text("var x=" + "[" * 5000 + "]" * 5000 + ";" + "function f(){return 1};" * 200_000)
    with open(root / "huge.txt", "wb") as f:
        f.truncate(50 * 1024 * 1024)
    (root / "with space.py").write_text("def spaced_name_function():\n    return 3\n")
    (root / b"bytes-\xff\xfe.py".decode("utf-8", "surrogateescape")).write_text("def odd_bytes_name():\n    return 4\n")
    (root / ".env").write_text("API_TOKEN=ENV-SECRET-MARKER\n")
    (root / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nKEY-SECRET-MARKER\n")
    (root / "id_rsa").write_text("RSA-SECRET-MARKER\n")
    (root / "contents.py").write_text("def log_never_shows_me():\n    return 'CONTENT-MARKER'\n")
    (root / "link_dir").symlink_to(outside, target_is_directory=True)
    (root / "link_file.py").symlink_to(outside / "stolen.py")
    (root / "loop").mkdir()
    (root / "loop" / "again").symlink_to(root / "loop", target_is_directory=True)
    return root, outside


def test_hostile_workspace_indexes_every_good_file_and_nothing_else(tmp_path):
    root, _ = hostile_tree(tmp_path)
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    started = time.monotonic()
    run = fathom("index", "--max-file-size", str(8 * 1024 * 1024), str(root), env=env)
    elapsed = time.monotonic() - started
    assert "huge.txt" in run.stderr  # reported as skipped (too large)
    db = Path(status(root, env)["db"])
    paths = {p for (p,) in apsw.Connection(str(db)).execute("SELECT path FROM files")}
    assert {"good.py", "latin1.py", "broken.py", "empty.py", "with space.py", "contents.py"} <= paths
    assert "deep.js: skipped, minified or generated" in run.stderr
    assert not any(p.startswith(("link_dir", "loop/again")) or p == "link_file.py" for p in paths), paths
    assert not {".env", "server.key", "id_rsa", "huge.txt"} & paths
    symbols = json.loads(fathom("symbols", "intact", "--path", str(root), "--json", env=env).stdout)
    assert {"intact_before", "intact_after"} <= {s["name"] for s in symbols}
    # Undecodable bytes are replaced (U+FFFD), the parser recovers: the function is still found.
    menu = json.loads(fathom("symbols", "_menu", "--path", str(root), "--json", env=env).stdout)
    assert [s["path"] for s in menu] == ["latin1.py"]
    assert "file name is not valid UTF-8" in run.stderr  # reported and skipped, the run goes on
    assert not json.loads(fathom("symbols", "stolen_outside_function", "--path", str(root), "--json", env=env).stdout)
    for marker in ("OUTSIDE-MARKER", "ENV-SECRET-MARKER", "KEY-SECRET-MARKER", "RSA-SECRET-MARKER"):
        hits = json.loads(fathom("search", marker, "--path", str(root), "--json", env=env).stdout)
        assert not any(marker in h["snippet"] for h in hits), marker
    # Reading the index file raw: no secret reached the database either.
    raw = db.read_bytes() + (Path(str(db) + "-wal").read_bytes() if Path(str(db) + "-wal").exists() else b"")
    for marker in (b"OUTSIDE-MARKER", b"ENV-SECRET-MARKER", b"KEY-SECRET-MARKER", b"RSA-SECRET-MARKER"):
        assert marker not in raw
    assert elapsed < 300, elapsed  # a sanity bound: the 50 MB file is skipped on its size, not read


def test_unusable_cache_directory_is_a_clear_error(tmp_path):
    root = small_tree(tmp_path / "ws")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(blocker / "cache")}
    run = fathom("index", "--no-embed", str(root), env=env, check=False)
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "cache" in lines[0].lower() and "Traceback" not in run.stderr, run.stderr


NO_NETWORK = """
import socket
_real = socket.socket.__init__
def _guard(self, family=-1, *args, **kwargs):
    if family in (socket.AF_INET, socket.AF_INET6) or family == -1:
        with open({log!r}, "a") as f:
            f.write("socket opened\\n")
        raise OSError("network access attempted")
    return _real(self, family, *args, **kwargs)
socket.socket.__init__ = _guard
"""


def test_no_network_at_run_time_and_private_cache(tmp_path):
    root = small_tree(tmp_path / "ws")
    guard = tmp_path / "guard"
    guard.mkdir()
    attempts = tmp_path / "attempts.log"
    (guard / "sitecustomize.py").write_text(NO_NETWORK.format(log=str(attempts)))
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")])}
    fathom("index", str(root), env=env)
    hits = json.loads(fathom("search", "directory where the user's cache files are stored", "--path", str(root),
                             "--json", env=env).stdout)
    assert "user_cache_dir" in [h["name"] for h in hits[:5]]
    assert not attempts.exists(), attempts.read_text()
    cache = tmp_path / "cache"
    for path in [p for p in cache.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_helpers_exit_when_their_parent_is_killed(tmp_path):
    """kill -9 of the CLI alone (an editor killing its server does the same):
    its chunk workers and embedding process must not linger as orphans."""
    import psutil

    root = small_tree(tmp_path / "ws")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path / "cache")}
    victim = subprocess.Popen([sys.executable, "-m", "fathom", "index", str(root)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        parent = psutil.Process(victim.pid)
        deadline = time.monotonic() + 120
        helpers: list = []
        while time.monotonic() < deadline and victim.poll() is None:
            helpers = parent.children(recursive=True)
            spawned = []
            for p in helpers:
                try:
                    if "spawn_main" in " ".join(p.cmdline()):
                        spawned.append(p)
                except psutil.NoSuchProcess:
                    pass
            if len(spawned) >= 3:  # two or more chunk workers and the embedding process
                break
            time.sleep(0.1)
        assert len(helpers) >= 3, f"helpers never all ran: {helpers}"
        victim.kill()
        victim.wait()
        gone, alive = psutil.wait_procs(helpers, timeout=20)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        if victim.poll() is None:
            victim.kill()
