"""Writing a workspace's index as a portable snapshot (`fathom export`): what a
CI job publishes for every checkout to seed from (`seed.py`)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..index.run import CHUNKED_BY
from ..store import StoreError
from ..store.snapshot import SnapshotCounts, SnapshotIdentity, write_snapshot
from ..workspace import Workspace
from .seed import never_shared, unsafe_path


@dataclass(frozen=True)
class ExportReport:
    path: Path
    identity: SnapshotIdentity
    counts: SnapshotCounts
    bytes: int
    pending: int  # texts the index had no vector for yet: not in the snapshot

    def summary(self) -> str:
        c = self.counts
        line = (f"wrote {self.path}: {c.files:,} files, {c.chunks:,} chunks, {c.vectors:,} vectors of "
                f"{self.identity.model} ({self.bytes / 1e6:,.1f} MB)")
        if self.pending:
            line += f"; {self.pending:,} texts were not embedded yet and are not in it (run `fathom index` first)"
        return line


def export(ws: Workspace, out: Path) -> ExportReport:
    if not ws.exists():
        raise StoreError(f"no index for {ws.root} yet: run `fathom index` first")
    store = ws.reader
    model, dim = store.vector_model()
    if model is None or not dim:
        raise StoreError(f"the index of {ws.root} holds no vectors yet: run `fathom index` first")
    if model != ws.spec.model_id:
        raise StoreError(f"the index of {ws.root} holds vectors of {model}, but this workspace embeds with "
                         f"{ws.spec.model_id}: run `fathom index` first")
    identity = SnapshotIdentity(
        model=model, dim=dim, provider=ws.spec.provider,
        chunker_version=store.get_meta(CHUNKED_BY) or "", max_tokens=ws.spec.max_tokens,
        fathom_version=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    out = Path(out).expanduser().resolve()
    if not out.parent.is_dir():
        raise StoreError(f"cannot write {out}: no such directory {out.parent}")
    if out.parent == ws.db_path.resolve().parent:
        # The snapshot replaces its file whole: there it would replace the index or its journal.
        raise StoreError(f"cannot write {out}: it is the index's own folder; write the snapshot elsewhere")
    counts = write_snapshot(ws.db_path, out, identity,
                            shared=lambda path: not unsafe_path(path) and not never_shared(path))
    return ExportReport(out, identity, counts, out.stat().st_size, store.counts().pending)
