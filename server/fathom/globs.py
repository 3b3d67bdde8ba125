"""Gitignore-style patterns from outside, compiled so that none can stop a walk or a search.

They come from a cloned repository's ignore files and from the globs an agent or
a user narrows a search with. Two things can go wrong with such a pattern:

- It is not a valid pattern (a line ending in a lone backslash). git ignores the
  line and applies the rest; so does an ignore file here (with a warning), while
  a search's glob is refused with a message, since its author is there to read it.
- It takes exponential time. Python's regular expressions backtrack: `*a*a*a*a*a*b`
  against one 200-character name took 6 s, and a name is checked for every file.
  RE2 (google-re2, pathspec's `re2` backend) matches in time linear in the path.
  It compiles a few thousand patterns into one set within its memory bound, so a
  long ignore file is matched as consecutive sets (a later set's match wins, as a
  later line's does); a set RE2 still cannot compile (lines of thousands of
  characters) falls back to Python's matcher, keeping only patterns with few wildcards.
"""
from __future__ import annotations

import logging
import re

import pathspec
import re2
from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

log = logging.getLogger(__name__)

# Under Python's matcher, a pattern with this many wildcard runs costs 0.14 s on a
# 200-character name (four: `*a*a*a*b`); each more multiplies it by about 40.
MAX_BACKTRACKING_WILDCARDS = 4
_WILDCARD_RUN = re.compile(r"\*+")
# RE2 compiles a thousand typical patterns in 0.1 s and checks a path against them in 3 µs;
# 5,000 in one set exceed its default memory bound.
SET_SIZE = 1000


class InvalidPattern(ValueError):
    """A glob that is not a valid gitignore pattern: the message says which and why."""


def pattern(line: str) -> GitIgnoreSpecPattern:
    """One line compiled; raises InvalidPattern."""
    try:
        return GitIgnoreSpecPattern(line)
    except ValueError as bad:  # pathspec's GitIgnorePatternError is one
        reason = bad.__cause__ or bad
        raise InvalidPattern(f"{line!r} is not a valid glob: {reason}") from None


class Patterns:
    """Gitignore-style patterns in their order: the last one that matches a path decides."""

    def __init__(self, patterns: list[GitIgnoreSpecPattern], source: str):
        self._sets = [_compiled(patterns[i:i + SET_SIZE], source) for i in range(0, len(patterns), SET_SIZE)]

    def decides(self, path: str) -> bool | None:
        """True: the path is matched; False: matched by a negation; None: by none."""
        for spec in reversed(self._sets):
            include = spec.check_file(path).include
            if include is not None:
                return include
        return None

    def match_file(self, path: str) -> bool:
        return bool(self.decides(path))


def ignore_spec(lines: list[str], source: str) -> Patterns:
    """An ignore file's patterns; an invalid line matches nothing, as in git."""
    patterns = []
    for line in lines:
        try:
            patterns.append(pattern(line))
        except InvalidPattern as bad:
            log.warning("%s: %s; the line is ignored, as git ignores it", source, bad)
    return Patterns(patterns, source)


def glob_spec(globs: list[str] | tuple[str, ...]) -> Patterns:
    """A search's globs; raises InvalidPattern for the first invalid one."""
    return Patterns([pattern(glob) for glob in globs], "search globs")


def _compiled(patterns: list[GitIgnoreSpecPattern], source: str) -> pathspec.GitIgnoreSpec:
    try:
        return pathspec.GitIgnoreSpec(patterns, backend="re2")
    except re2.error:
        kept = [p for p in patterns if len(_WILDCARD_RUN.findall(p.pattern)) <= MAX_BACKTRACKING_WILDCARDS]
        log.warning("%s: patterns too large to match in linear time; %d of %d with over %d wildcards are ignored",
                    source, len(patterns) - len(kept), len(patterns), MAX_BACKTRACKING_WILDCARDS)
        return pathspec.GitIgnoreSpec(kept, backend="simple")
