"""The training sources lists: one package a line, `KIND SPEC` (pypi, npm, deb, src).

Apart from `mine.py` so that the steps after mining (sampling, training) import
nothing of the chunker: they run where only torch is installed (`devkit.py`)."""
from __future__ import annotations

from pathlib import Path

from benchmarks.quality.eval_sets import held_out_names

# The quality evals' projects (benchmarks/quality/) and the standard library.
HELD_OUT = held_out_names()
HERE = Path(__file__).parent
# The lists mined before the miner read every language's doc comments: their
# packages are mined as they were then (`pairs.Miner(every_language=False)`), so
# their pairs, and every model trained on them, stay reproducible.
EARLIER_LISTS = (HERE / "train_sources.txt", HERE / "train_sources_v3.txt")


def parse_sources(path: Path) -> list[tuple[str, str]]:
    sources = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        kind, spec = line.split(None, 1)
        if kind not in ("pypi", "npm", "deb", "src"):
            raise SystemExit(f"{path}: unknown source kind {kind!r} in {line!r}")
        name = spec.split("==")[0].split("@")[0].lower() if kind != "npm" else spec.rsplit("@", 1)[0].lower()
        if name in HELD_OUT:
            raise SystemExit(f"{path}: {name} is one of the quality evals' projects: never trained on")
        sources.append((kind, spec))
    return sources


def earlier_sources() -> frozenset[str]:
    """`KIND SPEC` of every package of the earlier lists."""
    return frozenset(f"{kind} {spec}" for path in EARLIER_LISTS for kind, spec in parse_sources(path))
