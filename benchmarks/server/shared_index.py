"""A team-built index: "CI" indexes one release and exports a snapshot; a
"laptop" checkout of the next release seeds from it (through an HTTP server on
127.0.0.1) and indexes; a cold index of the same release is the baseline.

Records: time to fully embedded, seeded against cold; texts embedded against
texts not in the snapshot (the target: equal, exactly) and against texts that
changed between the releases; snapshot size per chunk; download-and-import time.

    pip download --no-deps --no-binary :all: flask==3.0.3
    pip download --no-deps --no-binary :all: flask==3.1.0
    python -m benchmarks.server.shared_index flask-3.0.3.tar.gz flask-3.1.0.tar.gz
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from benchmarks.harness import fathom_env, open_index, run_cli
from benchmarks.seed_server import SeedServer
from benchmarks.server.branch_switch import git, two_releases


def checkout(repo: Path, tag: str, where: Path) -> Path:
    git(repo, "worktree", "add", "-q", "--detach", str(where), tag)
    return where


def embedded_by_last_run(env: dict, root: Path) -> int:
    return json.loads(run_cli(env, "status", str(root), "--json")[1])["last_run"]["embedded"]


def texts(env: dict, root: Path) -> tuple[set[str], set[str]]:
    """(every distinct text that is to have a vector, those that have one) in an index."""
    import os

    os.environ["FATHOM_CACHE_DIR"] = env["FATHOM_CACHE_DIR"]
    ws = open_index(root)
    try:
        embeddable = ws.reader.text_hashes(embedded_only=True)
        return embeddable, ws.reader.embedded_among(sorted(embeddable))
    finally:
        ws.close()


def main() -> int:
    work, repo, old_tag, new_tag = two_releases(__doc__, "fathom-shared-")

    # CI: the older release, indexed and exported.
    ci = checkout(repo, old_tag, work / "ci")
    ci_env = fathom_env(work / "ci-cache")
    ci_index_s, _ = run_cli(ci_env, "index", str(ci))
    snapshot = work / "published" / "main.fathom"
    snapshot.parent.mkdir()
    export_s, export_line = run_cli(ci_env, "export", str(ci), "-o", str(snapshot))
    ci_texts, ci_vectors = texts(ci_env, ci)

    # The laptop: the newer release, seeded through HTTP, then indexed.
    laptop = checkout(repo, new_tag, work / "laptop")
    laptop_env = fathom_env(work / "laptop-cache")
    with SeedServer(snapshot) as server:
        import_s, import_line = run_cli(laptop_env, "import", server.url, str(laptop))
    seeded_index_s, _ = run_cli(laptop_env, "index", str(laptop))
    seeded_embedded = embedded_by_last_run(laptop_env, laptop)
    laptop_texts, _ = texts(laptop_env, laptop)

    # The same seed from a file on disk: the import alone.
    file_env = fathom_env(work / "file-cache")
    file_laptop = checkout(repo, new_tag, work / "laptop-file")
    file_import_s, _ = run_cli(file_env, "import", str(snapshot), str(file_laptop))

    # Cold: the newer release with no seed.
    cold = checkout(repo, new_tag, work / "cold")
    cold_env = fathom_env(work / "cold-cache")
    cold_index_s, _ = run_cli(cold_env, "index", str(cold))
    cold_embedded = embedded_by_last_run(cold_env, cold)

    chunks = json.loads(run_cli(ci_env, "status", str(ci), "--json")[1])["chunks"]
    size = snapshot.stat().st_size
    not_in_snapshot = laptop_texts - ci_vectors
    result = {
        "releases": [old_tag, new_tag],
        "files_changed_by_git": len(git(repo, "diff", "--name-only", old_tag, new_tag).split()),
        "ci_index_s": round(ci_index_s, 1),
        "export_s": round(export_s, 2),
        "export": export_line.strip(),
        "snapshot_bytes": size,
        "snapshot_chunks": chunks,
        "snapshot_bytes_per_chunk": round(size / max(1, chunks)),
        "download_and_import_s": round(import_s, 2),
        "import_from_file_s": round(file_import_s, 2),
        "seeded_index_s": round(seeded_index_s, 1),
        "seeded_total_s": round(import_s + seeded_index_s, 1),
        "cold_index_s": round(cold_index_s, 1),
        "speedup": round(cold_index_s / (import_s + seeded_index_s), 2),
        "texts_to_embed_new_release": len(laptop_texts),
        "texts_changed_between_releases": len(laptop_texts - ci_texts),
        "texts_not_in_snapshot": len(not_in_snapshot),
        "embedded_seeded": seeded_embedded,
        "embedded_cold": cold_embedded,
        "embedded_equals_not_in_snapshot": seeded_embedded == len(not_in_snapshot),
        "import": import_line.strip(),
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
