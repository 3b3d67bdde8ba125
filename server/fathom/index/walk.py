"""Stage 1: walk a workspace and list the files worth indexing (policy.py says which).

Only names and `stat` are looked at here; file contents are read later, and only
for files whose stat changed. Ignore rules follow git: every `.gitignore` applies
below its own directory (negations included, deepest file wins), plus
`.git/info/exclude`, a `.fathomignore` and the user's `exclude` globs. As in
ripgrep, `.gitignore` files count only inside a git repository: an unpacked
tarball keeps its upstream's `.gitignore`, written for a repository it is not in
(Debian's kernel source ignores `/*` there), while `.fathomignore` always counts.
"""
from __future__ import annotations

import errno
import logging
import os
import stat as stat_module
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from ..config import cache_root
from ..globs import Patterns, ignore_spec
from ..models import DiscoveredFile, FileStat
from .policy import is_secret, never_indexed, skipped_dir

IGNORE_FILES = (".gitignore", ".fathomignore")
OWN_IGNORE_FILES = (".fathomignore",)

log = logging.getLogger(__name__)

@dataclass
class Discovery:
    files: list[DiscoveredFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relpath, reason)
    # What the walk could not see into ("" for the root itself): what the index
    # holds there is kept, not taken for deleted.
    unseen: list[str] = field(default_factory=list)

    def seen(self, relpath: str) -> bool:
        """Whether the walk looked where `relpath` would be."""
        return not any(u == "" or relpath == u or relpath.startswith(u + "/") for u in self.unseen)


def _read_patterns(path: Path) -> list[str]:
    try:
        return path.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def in_git_repository(root: Path) -> bool:
    """Whether `root` or a folder above it holds `.git` (a directory, or a worktree's file)."""
    return any(os.path.lexists(folder / ".git") for folder in (root, *root.parents))


class _IgnoreRules:
    """The ignore files in force at one directory, shallowest first."""

    def __init__(self, layers: list[tuple[str, Patterns]], ignore_files: tuple[str, ...]):
        self.layers = layers
        self.ignore_files = ignore_files

    @classmethod
    def at_root(cls, root: Path, exclude: tuple[str, ...]) -> "_IgnoreRules":
        layers = [("", ignore_spec(lines, source)) for lines, source in (
            (_read_patterns(root / ".git" / "info" / "exclude"), str(root / ".git" / "info" / "exclude")),
            (list(exclude), "the exclude setting")) if lines]
        return cls(layers, IGNORE_FILES if in_git_repository(root) else OWN_IGNORE_FILES)

    def descend(self, dir_rel: str, dir_abs: Path, names: Collection[str] | None = None) -> "_IgnoreRules":
        """The rules inside `dir_abs`; `names`, when the caller has listed the
        directory anyway, spares an open() of each ignore file it lacks."""
        # One layer a file, in IGNORE_FILES' order: a later file's match wins, as its later lines would.
        added = [
            (dir_rel, ignore_spec(lines, str(dir_abs / ignore_file)))
            for ignore_file in self.ignore_files
            if names is None or ignore_file in names
            for lines in [_read_patterns(dir_abs / ignore_file)]
            if lines
        ]
        return _IgnoreRules(self.layers + added, self.ignore_files) if added else self

    def ignored(self, rel: str, is_dir: bool) -> bool:
        for base, spec in reversed(self.layers):
            local = rel[len(base) + 1:] if base else rel
            decision = spec.decides(local + "/" if is_dir else local)
            if decision is not None:
                return decision
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
    rules = _IgnoreRules.at_root(root, exclude)
    root_key = os.stat(root)
    visited_dirs = {(root_key.st_dev, root_key.st_ino)}
    # Fathom's own cache, when the user put it inside the workspace: never indexed.
    visited_dirs |= _cache_keys()
    # Each directory is listed once: whether it is a virtualenv and which ignore
    # files it holds are read off that listing, not asked of the disk again.
    stack: list[tuple[str, Path, _IgnoreRules]] = [("", root, rules)]
    while stack:
        dir_rel, dir_abs, outer_rules = stack.pop()
        try:
            entries = sorted(os.scandir(dir_abs), key=lambda e: e.name)
        except OSError as exc:
            result.skipped.append((dir_rel or ".", f"unreadable directory: {exc.strerror}"))
            result.unseen.append(dir_rel)
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
            except OSError as exc:
                if exc.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    result.unseen.append(rel)  # there, but unreadable (EIO, a stale mount): keep what it was
                continue  # dangling link, loop, or vanished: nothing to read
            if is_link and not _inside(root, entry.path):
                result.skipped.append((rel, "symlink outside the workspace"))
                continue
            if stat_module.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if (
                    skipped_dir(entry.name)
                    or key in visited_dirs
                    or dir_rules.ignored(rel, is_dir=True)
                ):
                    continue
                visited_dirs.add(key)
                stack.append((rel, Path(entry.path), dir_rules))
                continue
            if not stat_module.S_ISREG(st.st_mode):
                continue
            if dir_rules.ignored(rel, is_dir=False) or never_indexed(entry.name):
                continue
            if is_secret(rel):
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


def _cache_keys() -> set[tuple[int, int]]:
    try:
        st = os.stat(cache_root())
    except OSError:
        return set()
    return {(st.st_dev, st.st_ino)}


def in_cache(path: Path) -> bool:
    """Whether a path lies in Fathom's own cache (the index, its lock, its journal)."""
    cache = str(cache_root().resolve())
    try:
        real = os.path.realpath(path)
    except OSError:
        return False
    return real == cache or real.startswith(cache + os.sep)


def walks_into(root: Path, folder: Path) -> bool:
    """Whether `discover(root)` goes into `folder` (a directory at or below root)."""
    root, folder = root.resolve(), folder.resolve()
    try:
        parts = folder.relative_to(root).parts
    except ValueError:
        return False
    return _rules_within(root, parts, ()) is not None


def _rules_within(root: Path, parts: tuple[str, ...] | list[str], exclude: tuple[str, ...]) -> _IgnoreRules | None:
    """The ignore rules in force inside the directory `parts` below `root`, as
    `discover` descends to it; None where it never does (a directory on the way
    is always skipped, ignored or a virtualenv)."""
    rules = _IgnoreRules.at_root(root, exclude).descend("", root)
    for depth, name in enumerate(parts, start=1):
        dir_rel = "/".join(parts[:depth])
        dir_abs = root / dir_rel
        if skipped_dir(name) or rules.ignored(dir_rel, is_dir=True) or _is_virtualenv_dir(dir_abs):
            return None
        rules = rules.descend(dir_rel, dir_abs)
    return rules


def _is_virtualenv_dir(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file() or (folder / "conda-meta").is_dir()


def is_indexable_path(root: Path, path: Path, max_file_size: int, exclude: tuple[str, ...] = ()) -> bool:
    """Whether one path (from a save or a watcher event) would be discovered."""
    if not _valid_name(str(path)) or in_cache(path):
        return False
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return False
    parts = rel.split("/")
    if never_indexed(parts[-1]) or is_secret(rel):
        return False
    rules = _rules_within(root.resolve(), parts[:-1], exclude)
    if rules is None or rules.ignored(rel, is_dir=False):
        return False
    try:
        return path.is_file() and path.stat().st_size <= max_file_size
    except OSError:
        return False
