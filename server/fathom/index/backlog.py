"""The order in which texts go to the model."""
from __future__ import annotations

from collections import OrderedDict

from ..models import WaitingText
from .policy import is_release_notes, is_test_chunk


class EmbedBacklog:
    """Texts waiting for a vector, in the order they go to the model: those of
    a file just saved, then those of the files open in the editor and of their
    folders, then the first window of every definition, then the windows that
    continue long definitions, then test code and release notes. Search finds a
    definition by its first window; the rest add detail, and are a third to a
    half of the work. Tests are another third of some projects (sympy's), release
    notes a tenth of others' (django's `docs/releases/`). It holds each text's
    hash and length only: the run reads the texts it takes from the index."""

    SAVED, OPEN_FILE, BESIDE_OPEN_FILE, FIRST_WINDOW, CONTINUATION, LAST = range(6)

    def __init__(self) -> None:
        # OrderedDict, not dict: taking from the front of a plain dict again and
        # again rescans the holes its earlier deletions left, quadratic in a large tree.
        self._tiers: list[OrderedDict[str, int]] = [OrderedDict() for _ in range(6)]  # hash -> length
        self._tier_of: dict[str, int] = {}

    @classmethod
    def tier(cls, *, continues_a_definition: bool, last: bool, saved: bool = False,
             focus: int = 2) -> int:
        """`last`: test code or release notes (`embedded_last`); `focus`: `Focus.order`
        of the text's file (0 open, 1 beside an open file, 2 elsewhere)."""
        if saved:
            return cls.SAVED
        if focus < 2:
            return cls.OPEN_FILE + focus
        if last:
            return cls.LAST
        return cls.CONTINUATION if continues_a_definition else cls.FIRST_WINDOW

    def add(self, text_hash: str, length: int, tier: int) -> bool:
        """Queue a text, or move it up to `tier` if it waits further back;
        True if it was not waiting."""
        waiting = self._tier_of.get(text_hash)
        if waiting is not None:
            if waiting <= tier:
                return False
            del self._tiers[waiting][text_hash]
        self._tiers[tier][text_hash] = length
        self._tier_of[text_hash] = tier
        return waiting is None

    def _open_tiers(self, last_too: bool, focus_only: bool) -> list[OrderedDict[str, int]]:
        if focus_only:
            return self._tiers[:self.BESIDE_OPEN_FILE + 1]
        return self._tiers if last_too else self._tiers[:self.LAST]

    def take(self, n: int, *, last_too: bool = True, focus_only: bool = False,
             by_length: bool = False) -> list[str]:
        """Up to n hashes, first in line first; test code and release notes only if `last_too`,
        nothing past the files in focus if `focus_only`. `by_length`: what is
        taken of each place in line comes shortest first (the places still in
        order), so that batches cut from it pad to similar lengths."""
        hashes: list[str] = []
        for tier in self._open_tiers(last_too, focus_only):
            taken = []
            while tier and len(hashes) + len(taken) < n:
                h, length = tier.popitem(last=False)
                del self._tier_of[h]
                taken.append((h, length))
            if by_length:
                taken.sort(key=lambda item: item[1])
            hashes.extend(h for h, _ in taken)
        return hashes

    def waiting(self, *, last_too: bool = True, focus_only: bool = False) -> bool:
        """Whether `take` would give anything."""
        return any(self._open_tiers(last_too, focus_only))

    def __contains__(self, text_hash: str) -> bool:
        return text_hash in self._tier_of

    def __len__(self) -> int:
        return len(self._tier_of)


def pending_tier(p: WaitingText, focus: int = 2) -> int:
    """Where a text the index says is pending waits."""
    return EmbedBacklog.tier(continues_a_definition=p.continues_a_definition, last=embedded_last(p.relpath),
                             focus=focus)


def embedded_last(relpath: str, container: str = "") -> bool:
    """Test code and release notes: what answers questions about the project's code second."""
    return is_test_chunk(relpath, container) or is_release_notes(relpath)


class Focus:
    """The files open in the editor (workspace-relative paths) and their folders:
    chunked first in a full pass, and embedded right after saved files."""

    def __init__(self, open_files: list[str]):
        self.files = frozenset(open_files)
        self.folders = frozenset(path.rpartition("/")[0] for path in open_files)

    def __bool__(self) -> bool:
        return bool(self.files)

    def holds(self, relpath: str) -> bool:
        return relpath in self.files or relpath.rpartition("/")[0] in self.folders

    def order(self, relpath: str) -> int:
        """0 an open file, 1 a file beside one, 2 the rest of the tree."""
        if relpath in self.files:
            return 0
        return 1 if relpath.rpartition("/")[0] in self.folders else 2
