"""What a search may be narrowed to: languages, kinds of definition, path globs
to search and to leave out. Parsed in one place for every protocol, so that the
CLI, the LSP requests and the MCP tools accept and refuse the same values."""
from __future__ import annotations

from dataclasses import dataclass

from ..globs import InvalidPattern, glob_spec
from ..index.languages import EXTENSIONS
from ..models import SymbolKind

LANGUAGES = frozenset(EXTENSIONS.values())
# The kinds a definition can have, by the names results show (`function`, `class`…).
KINDS = {k.name.lower(): k for k in SymbolKind}
# What people call them, besides.
KIND_ALIASES = {"func": "function", "fn": "function", "def": "function", "type": "typeparameter",
                "trait": "interface", "impl": "class", "ctor": "constructor", "const": "constant"}


class InvalidFilter(ValueError):
    """A filter value nobody could mean: the message lists what is accepted."""


@dataclass(frozen=True)
class SearchFilters:
    languages: frozenset[str] = frozenset()  # empty: any
    kinds: frozenset[SymbolKind] = frozenset()
    paths: tuple[str, ...] = ()  # gitignore-style globs a hit's path must match
    exclude: tuple[str, ...] = ()  # … and must not

    @classmethod
    def parse(cls, language=None, kind=None, paths=None, exclude=None) -> "SearchFilters":
        """From a name or a list of names each; raises InvalidFilter."""
        languages = frozenset(_names(language, "language"))
        unknown = sorted(languages - LANGUAGES)
        if unknown:
            raise InvalidFilter(f"unknown language {', '.join(unknown)}; known: {', '.join(sorted(LANGUAGES))}")
        kinds = set()
        for name in _names(kind, "kind"):
            found = KINDS.get(KIND_ALIASES.get(name, name))
            if found is None:
                raise InvalidFilter(f"unknown kind {name}; known: {', '.join(sorted(KINDS))}")
            kinds.add(found)
        return cls(languages, frozenset(kinds), tuple(_globs(paths, "paths")), tuple(_globs(exclude, "exclude")))

    def __bool__(self) -> bool:
        return bool(self.languages or self.kinds or self.paths or self.exclude)

    def path_matcher(self):
        """A function path -> whether the globs let it through."""
        keep = glob_spec(self.paths) if self.paths else None
        drop = glob_spec(self.exclude) if self.exclude else None
        return lambda path: (keep is None or keep.match_file(path)) and (drop is None or not drop.match_file(path))


def _names(value, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise InvalidFilter(f"{what} must be a name or a list of names")
    return [v.strip().lower() for v in items if v.strip()]


def _globs(value, what: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in items):
        raise InvalidFilter(f"{what} must be a list of non-empty glob patterns")
    globs = [v.strip() for v in items]
    try:
        glob_spec(globs)
    except InvalidPattern as bad:
        raise InvalidFilter(f"{what}: {bad}") from None
    return globs
