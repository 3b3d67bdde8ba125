"""A branch switch: chunks re-embedded against chunks that changed.

Builds a git repository whose two tags are two real releases of one project
(sdists from PyPI, so it runs offline), indexes the first tag fully, checks
out the second and reindexes, then compares what was embedded with what
actually changed:

    pip download --no-deps --no-binary :all: flask==3.0.3 flask==3.1.0
    python -m benchmarks.server.branch_switch flask-3.0.3.tar.gz flask-3.1.0.tar.gz
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from benchmarks.harness import fathom_env, run_cli



def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def commit_release(repo: Path, sdist: Path, tag: str) -> None:
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(repo.parent / "unpack", filter="data")
    for entry in (repo.parent / "unpack" / top).iterdir():
        shutil.move(str(entry), repo / entry.name)
    shutil.rmtree(repo.parent / "unpack")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", tag)
    git(repo, "tag", tag)


def fathom(env: dict, *args: str) -> float:
    return run_cli(env, *args)[0]


def chunk_hashes(db: Path) -> set[str]:
    from fathom.store import Store

    store = Store(db, readonly=True)
    try:
        return store.text_hashes()
    finally:
        store.close()


def two_releases(doc: str, prefix: str) -> tuple[Path, Path, str, str]:
    """From the command line's two sdists, a repository with each release as a tag:
    (work directory, repository, older tag, newer tag)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    repo = work / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    old_tag, new_tag = (p.name.removesuffix(".tar.gz") for p in (args.old, args.new))
    commit_release(repo, args.old.resolve(), old_tag)
    commit_release(repo, args.new.resolve(), new_tag)
    return work, repo, old_tag, new_tag


def main() -> int:
    work, repo, old_tag, new_tag = two_releases(__doc__, "fathom-branch-")
    git(repo, "checkout", "-q", old_tag)
    env = fathom_env(work / "cache")
    cold = fathom(env, "index", str(repo))
    status = json.loads(run_cli(env, "status", str(repo), "--json")[1])
    db = Path(status["db"])
    before = chunk_hashes(db)
    changed_files = len(git(repo, "diff", "--name-only", old_tag, new_tag).split())
    git(repo, "checkout", "-q", new_tag)
    switch = fathom(env, "index", str(repo))
    after_status = json.loads(subprocess.run([sys.executable, "-m", "fathom", "status", str(repo), "--json"],
                                             env=env, check=True, capture_output=True, text=True).stdout)
    after = chunk_hashes(db)
    git(repo, "checkout", "-q", old_tag)
    back = fathom(env, "index", str(repo))
    back_status = json.loads(subprocess.run([sys.executable, "-m", "fathom", "status", str(repo), "--json"],
                                            env=env, check=True, capture_output=True, text=True).stdout)
    print(json.dumps({
        "tags": [old_tag, new_tag],
        "files_changed_by_git": changed_files,
        "cold_index_s": round(cold, 1),
        "chunks_before": len(before),
        "chunks_after": len(after),
        "chunks_new_after_switch": len(after - before),
        "embedded_by_switch": after_status["last_run"]["embedded"],
        "switch_index_s": round(switch, 1),
        "embedded_switching_back": back_status["last_run"]["embedded"],
        "switch_back_index_s": round(back, 1),
    }, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
