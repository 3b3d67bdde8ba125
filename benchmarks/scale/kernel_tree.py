"""The Linux kernel tree the monorepo-scale benchmarks run on (issue #28).

Debian's `linux-source-6.12` package holds the tree as one tarball (~150 MB,
~86k files once unpacked, mostly C). It is fetched with `apt-get download` and
unpacked once into a work folder of the caller's choosing, never into the
repository:

    .venv/bin/python -m benchmarks.scale.kernel_tree --work /tmp/kernel
"""
from __future__ import annotations

import argparse
import subprocess
import tarfile
from pathlib import Path

PACKAGE = "linux-source-6.12"


def kernel_tree(work: Path) -> Path:
    """The unpacked tree under `work`, fetched and unpacked on first use."""
    tree = work / PACKAGE
    if (tree / "Makefile").is_file():
        return tree
    work.mkdir(parents=True, exist_ok=True)
    debs = sorted(work.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", "-q", PACKAGE], cwd=work, check=True, capture_output=True)
        debs = sorted(work.glob(f"{PACKAGE}_*.deb"))
    extracted = work / "deb"
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(extracted)], check=True)
    tarball = next((extracted / "usr" / "src").glob(f"{PACKAGE}.tar.*"))
    partial = work / "unpacking"
    with tarfile.open(tarball) as archive:
        archive.extractall(partial, filter="tar")
    (partial / PACKAGE).rename(tree)
    partial.rmdir()
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True)
    print(kernel_tree(parser.parse_args().work))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
