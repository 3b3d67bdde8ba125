"""Stage 1: walk a workspace and decide which files are worth indexing.

Only names and `stat` are looked at here; file contents are read later, and only
for files whose stat changed. Ignore rules follow git: every `.gitignore` applies
below its own directory (negations included, deepest file wins), plus
`.git/info/exclude`, a `.fathomignore` and the user's `exclude` globs.
"""
from __future__ import annotations

import os
import stat as stat_module
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from .models import DiscoveredFile, FileStat

ALWAYS_SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".jj", "node_modules", "bower_components",
        "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox",
        ".venv", "venv", ".eggs", ".gradle", ".idea", ".vscode-test", ".next", ".nuxt",
        ".cache", ".parcel-cache", ".terraform", "build", "dist", "target", "coverage",
        ".coverage", "htmlcov", "site-packages",
    }
)

IGNORE_FILES = (".gitignore", ".fathomignore")

# Other people's code copied into the tree. It is indexed for symbols and
# lexical search, so navigation reaches it, but not embedded: it would cost as
# much as the project's own code to embed (more, in a Go tree with its modules
# vendored) and answer questions about the project with library internals.
VENDORED_DIRS = frozenset(
    {"vendor", "vendors", "_vendor", "vendored", "third_party", "third-party", "thirdparty", "3rdparty"}
)


def is_vendored(relpath: str) -> bool:
    return any(part in VENDORED_DIRS for part in relpath.split("/")[:-1])


# Data, not code: a configuration file is written by hand and rarely runs past a
# thousand lines; beyond that a file in these formats is a translation catalogue,
# an API schema, a fixture or a snapshot. Those are indexed for lexical search but
# not embedded: they are most of the text of the trees that hold them (botocore's
# service models: 120,687 texts to embed, 23,533 without them) and little of what
# a question about the code is answered by.
DATA_SUFFIXES = frozenset("json jsonl ndjson geojson yaml yml csv tsv xml snap".split())
LARGEST_EMBEDDED_DATA_FILE = 32 * 1024


def is_bulk_data(relpath: str, size: int) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return size > LARGEST_EMBEDDED_DATA_FILE and "." in name and name.rsplit(".", 1)[-1].lower() in DATA_SUFFIXES


# Test code is indexed and embedded like any other, but last: questions about
# what a project does are answered by its own code first. Only the order of
# embedding depends on this, so a wrong guess costs nothing but time.
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs"})
TEST_FILE_PREFIXES = ("test_",)
TEST_FILE_SUFFIXES = ("_test.py", "_tests.py", "_test.go", "_spec.rb", "Test.java", "Tests.java", "Test.kt", "Tests.cs")
TEST_FILE_INFIXES = (".test.", ".spec.")


def is_test_code(relpath: str) -> bool:
    *dirs, name = relpath.split("/")
    return (
        any(part in TEST_DIRS for part in dirs)
        or name.startswith(TEST_FILE_PREFIXES)
        or name.endswith(TEST_FILE_SUFFIXES)
        or any(infix in name for infix in TEST_FILE_INFIXES)
        or name == "conftest.py"
    )


# Credentials are never read, whatever the ignore files say.
SECRET_PATTERNS = pathspec.GitIgnoreSpec.from_lines(
    [
        ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks",
        "*.keystore", "*.kdbx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
        ".netrc", ".pgpass", ".npmrc", ".pypirc", "*.gpg", "*.asc", "credentials",
        "credentials.json", "secrets.*", "*.secret", "*.tfstate", "*.tfstate.*",
    ]
)

# Formats that are never source, skipped by name without opening them: binaries,
# and generated data nobody searches as code (lockfiles, minified bundles, source
# maps, gettext catalogs, compiled or not: django's .po files alone are half its
# chunks; SVG, which is a picture however textual).
NOT_SOURCE_SUFFIXES = frozenset(
    """
    png jpg jpeg gif bmp ico icns webp tiff psd svgz pdf zip gz tgz bz2 xz zst 7z rar jar war
    ear whl egg so dylib dll exe bin o a lib obj class pyc pyo pyd wasm ttf otf woff woff2 eot
    mp3 mp4 m4a wav ogg flac avi mov mkv webm db sqlite sqlite3 parquet feather npy npz pkl
    pickle pt pth onnx safetensors h5 ckpt lock min.js min.css map po pot mo svg
    """.split()
)
# Lockfiles whose format does not say so: dependency pins and checksums, often
# thousands of lines that no question about the code is answered by.
NOT_SOURCE_NAMES = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "bun.lockb", "go.sum", "packages.lock.json"}
)


@dataclass
class Discovery:
    files: list[DiscoveredFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relpath, reason)


def _read_patterns(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _never_source(name: str) -> bool:
    lowered = name.lower()
    if lowered in NOT_SOURCE_NAMES:
        return True
    parts = lowered.split(".")
    if len(parts) < 2:
        return False
    return parts[-1] in NOT_SOURCE_SUFFIXES or ".".join(parts[-2:]) in NOT_SOURCE_SUFFIXES


class _IgnoreRules:
    """The ignore files in force at one directory, shallowest first."""

    def __init__(self, layers: list[tuple[str, pathspec.GitIgnoreSpec]]):
        self.layers = layers

    def descend(self, dir_rel: str, dir_abs: Path, names: Collection[str] | None = None) -> "_IgnoreRules":
        """The rules inside `dir_abs`; `names`, when the caller has listed the
        directory anyway, spares an open() of each ignore file it lacks."""
        lines = [
            line
            for ignore_file in IGNORE_FILES
            if names is None or ignore_file in names
            for line in _read_patterns(dir_abs / ignore_file)
        ]
        if not lines:
            return self
        return _IgnoreRules(self.layers + [(dir_rel, pathspec.GitIgnoreSpec.from_lines(lines))])

    def ignored(self, rel: str, is_dir: bool) -> bool:
        for base, spec in reversed(self.layers):
            local = rel[len(base) + 1:] if base else rel
            result = spec.check_file(local + "/" if is_dir else local)
            if result.include is not None:
                return result.include
        return False


def _is_virtualenv(by_name: dict[str, os.DirEntry]) -> bool:
    marker, conda = by_name.get("pyvenv.cfg"), by_name.get("conda-meta")
    try:
        return (marker is not None and marker.is_file()) or (conda is not None and conda.is_dir())
    except OSError:
        return False


def discover(root: Path, max_file_size: int, exclude: tuple[str, ...] = ()) -> Discovery:
    root = root.resolve()
    result = Discovery()
    base_lines = _read_patterns(root / ".git" / "info" / "exclude") + list(exclude)
    rules = _IgnoreRules([("", pathspec.GitIgnoreSpec.from_lines(base_lines))] if base_lines else [])
    root_key = os.stat(root)
    visited_dirs = {(root_key.st_dev, root_key.st_ino)}
    # Each directory is listed once: whether it is a virtualenv and which ignore
    # files it holds are read off that listing, not asked of the disk again.
    stack: list[tuple[str, Path, _IgnoreRules]] = [("", root, rules)]
    while stack:
        dir_rel, dir_abs, outer_rules = stack.pop()
        try:
            entries = sorted(os.scandir(dir_abs), key=lambda e: e.name)
        except OSError as exc:
            result.skipped.append((dir_rel or ".", f"unreadable directory: {exc.strerror}"))
            continue
        by_name = {entry.name: entry for entry in entries}
        if dir_rel and _is_virtualenv(by_name):
            continue
        dir_rules = outer_rules.descend(dir_rel, dir_abs, by_name.keys())
        for entry in entries:
            rel = f"{dir_rel}/{entry.name}" if dir_rel else entry.name
            if not _valid_name(entry.name):
                # The index, URIs and editors all need text names; such a file is reported, not read.
                result.skipped.append((_printable(rel), "file name is not valid UTF-8"))
                continue
            try:
                is_link = entry.is_symlink()
                st = os.stat(entry.path)  # follows links: what a reader would get
            except OSError:
                continue  # dangling link, loop, or vanished: nothing to read
            if is_link and not _inside(root, entry.path):
                result.skipped.append((rel, "symlink outside the workspace"))
                continue
            if stat_module.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if (
                    entry.name in ALWAYS_SKIPPED_DIRS
                    or entry.name.endswith(".egg-info")
                    or key in visited_dirs
                    or dir_rules.ignored(rel, is_dir=True)
                ):
                    continue
                visited_dirs.add(key)
                stack.append((rel, Path(entry.path), dir_rules))
                continue
            if not stat_module.S_ISREG(st.st_mode):
                continue
            if dir_rules.ignored(rel, is_dir=False) or _never_source(entry.name):
                continue
            if SECRET_PATTERNS.match_file(rel):
                continue
            if st.st_size > max_file_size:
                result.skipped.append((rel, f"larger than {max_file_size} bytes"))
                continue
            result.files.append(
                DiscoveredFile(rel, entry.path, FileStat(st.st_size, st.st_mtime_ns, st.st_ino))
            )
    result.files.sort(key=lambda f: f.relpath)
    return result


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _inside(root: Path, path: str) -> bool:
    try:
        real = os.path.realpath(path)
    except OSError:
        return False
    return real == str(root) or real.startswith(str(root) + os.sep)


def is_indexable_path(root: Path, path: Path, max_file_size: int, exclude: tuple[str, ...] = ()) -> bool:
    """Whether one path (from a save or a watcher event) would be discovered."""
    if not _valid_name(str(path)):
        return False
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return False
    parts = rel.split("/")
    if any(p in ALWAYS_SKIPPED_DIRS or p.endswith(".egg-info") for p in parts[:-1]):
        return False
    if _never_source(parts[-1]) or SECRET_PATTERNS.match_file(rel):
        return False
    rules = _IgnoreRules(
        [("", pathspec.GitIgnoreSpec.from_lines(
            _read_patterns(root / ".git" / "info" / "exclude") + list(exclude)))]
    ).descend("", root)
    for i in range(1, len(parts)):
        dir_rel = "/".join(parts[:i])
        if rules.ignored(dir_rel, is_dir=True):
            return False
        rules = rules.descend(dir_rel, root / dir_rel)
    if rules.ignored(rel, is_dir=False):
        return False
    try:
        return path.is_file() and path.stat().st_size <= max_file_size
    except OSError:
        return False
