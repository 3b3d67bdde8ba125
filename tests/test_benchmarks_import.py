"""The benchmarks are not run by the suite (they take minutes to hours on real
corpora), but every one must still import against the code as it is now: a
moved module or a renamed function breaks them here, not in the next session."""
import importlib
import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# Imported at the top of a script, from the `bench` or `experiments` extras.
OPTIONAL = {"matplotlib"}

MODULES = sorted(
    ".".join(p.relative_to(BENCHMARKS.parent).with_suffix("").parts)
    for p in BENCHMARKS.rglob("*.py") if p.name != "__init__.py"
)


@pytest.mark.parametrize("module", MODULES)
def test_every_benchmark_imports(module):
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as missing:
        if missing.name in OPTIONAL and importlib.util.find_spec(missing.name) is None:
            pytest.skip(f"{missing.name} is in an optional extra")
        raise
