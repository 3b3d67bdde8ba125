"""Carry the model's rebuild to the accelerator machine, and the model back.

    # here, once the pairs are mined and the sources read (`rebuild.py --until "prose pairs"`)
    .venv/bin/python -m benchmarks.model.devkit pack /tmp/rebuild .devkit
    # there, through the `device` tool's run (carry [".devkit"]):
    PYTHONPATH=server:. python3 -m benchmarks.model.devkit train .devkit "$OUT" --device cuda --threads 16
    # here again: the parts it wrote, back into a folder
    .venv/bin/python -m benchmarks.model.devkit unpack FILES_AT /tmp/device-rebuild

The accelerator machine reaches no registry and has torch and sentence-transformers
but none of Fathom's own dependencies, and a run's tree travels within 64 MiB, its
files come back as at most 8 of 16 MiB. So the kit holds the mined pairs, the question
encoder's distractors and headings (read from the sources by Fathom's chunker, xz) and the
original model in float16 (45 MB; the CPU recipe reads the float32 original, a
difference of at most 0.001 in any weight), and the shipped folder (66 MB) must be
moved out of the checkout while the run is sent. `train` runs `rebuild.py`'s steps
after mining, the training ones on `--device`, then packs the model, each step's
time and each stage's curve into one xz archive cut into parts small enough to come
back; `unpack` joins them.
"""
from __future__ import annotations

import argparse
import lzma
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

from benchmarks.model.rebuild import MODEL_NAME, ORIGINAL, PROSE_STEP

PAIRS = "pairs.jsonl.xz"
# What the steps that read the mined sources (the chunker's work, here) leave for the question encoder.
SOURCES_READ = ("distractors.json", "prose.json")
BASE = "base"
WEIGHTS = "model.safetensors"
ARCHIVE = "rebuild.tar.xz"
PART_BYTES = 15 * 2**20  # the device tool brings back files of up to 16 MiB
MAX_PARTS = 6  # with times.csv and curves.txt: 8 files, the most that come back
TREE_LIMIT = 64 * 2**20


def pack(work: Path, kit: Path, base: str = ORIGINAL) -> int:
    """The kit's bytes: the mined pairs and what was read of the sources, compressed, and the
    original model in float16 (its weights compressed too)."""
    from benchmarks.model.export import export
    from benchmarks.model.train import model_folder

    if not (work / "pairs.jsonl").exists():
        raise SystemExit(f"{work / 'pairs.jsonl'}: mine the pairs first (rebuild.py --work {work} --until mine)")
    kit.mkdir(parents=True, exist_ok=True)
    for name in (*SOURCES_READ, "pairs.jsonl"):
        if not (work / name).exists():
            raise SystemExit(f"{work / name}: run the steps that read the sources first "
                             f"(rebuild.py --work {work} --until '{PROSE_STEP}')")
        with open(work / name, "rb") as f, lzma.open(kit / f"{name}.xz", "wb", preset=6) as o:
            shutil.copyfileobj(f, o)
    original = Path(model_folder(base))
    shutil.rmtree(kit / BASE, ignore_errors=True)
    export(original, kit / BASE, original)
    # float16 weights shrink by 9 % in xz at any preset: room for the rest under the limit.
    weights = kit / BASE / WEIGHTS
    with open(weights, "rb") as f, lzma.open(weights.with_name(WEIGHTS + ".xz"), "wb", preset=0) as o:
        shutil.copyfileobj(f, o)
    weights.unlink()
    return sum(p.stat().st_size for p in kit.rglob("*") if p.is_file())


def tracked_bytes(repo: Path, leaving_out: str = "server/fathom/embed/shipped/") -> int:
    """What of the checkout travels with a run once the shipped models are moved out."""
    names = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
    paths = [repo / n for n in names.decode().split("\0") if n and not n.startswith(leaving_out)]
    return sum(p.stat().st_size for p in paths if p.is_file())


def train(kit: Path, out: Path, work: Path, device: str, threads: int, until: str | None,
          seconds: float | None = None) -> int:
    """The rebuild's steps after mining, then what they wrote, packed into `out`.
    Stopped after `seconds` if still running: a command the device tool stops at its
    limit brings back only what is already in `out`, so what the stopped steps wrote
    (their curves, the times of those done) is packed before then."""
    work.mkdir(parents=True, exist_ok=True)
    for packed, target in [(kit / f"{name}.xz", work / name) for name in ("pairs.jsonl", *SOURCES_READ)] + [
            (kit / BASE / f"{WEIGHTS}.xz", kit / BASE / WEIGHTS)]:
        if not target.exists():
            with lzma.open(packed, "rb") as f, open(target.with_suffix(".partial"), "wb") as o:
                shutil.copyfileobj(f, o)
            target.with_suffix(".partial").rename(target)
    (work / "mined").touch()  # the pairs are the mining's output: rebuild.py skips that step
    command = [sys.executable, "-m", "benchmarks.model.rebuild", "--work", str(work), "--threads", str(threads),
               "--device", device, "--base", str((kit / BASE).resolve())]
    if until:
        command += ["--until", until]
    rebuilding = subprocess.Popen(command, start_new_session=True)  # its steps are its children: stopped with it
    try:
        code = rebuilding.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(rebuilding.pid, signal.SIGKILL)
        rebuilding.wait()
        print(f"stopped after {seconds:.0f} s; packing what the steps wrote", file=sys.stderr, flush=True)
        code = 124
    bundle(work, out)
    return code


def bundle(work: Path, out: Path) -> list[Path]:
    """The model, each step's time and each stage's curve in parts of `out`; the
    times and the curves also as plain files, to read before joining the parts."""
    out.mkdir(parents=True, exist_ok=True)
    curves = sorted(work.glob("*/curve.csv"))
    members = [p for p in (work / MODEL_NAME, work / "times.csv", *curves) if p.exists()]
    archive = out / ARCHIVE
    # xz's lightest preset: float16 weights shrink by 9 % at any preset, and 6 takes 4x as long.
    with tarfile.open(archive, "w:xz", preset=0) as tar:
        for member in members:
            tar.add(member, arcname=str(member.relative_to(work)))
    parts = []
    with open(archive, "rb") as f:
        while chunk := f.read(PART_BYTES):
            parts.append(out / f"{ARCHIVE}.{len(parts):02d}")
            parts[-1].write_bytes(chunk)
    archive.unlink()
    if len(parts) > MAX_PARTS:
        print(f"{len(parts)} parts: more than the {MAX_PARTS} that come back", file=sys.stderr)
    if (work / "times.csv").exists():
        shutil.copyfile(work / "times.csv", out / "times.csv")
    (out / "curves.txt").write_text("".join(f"# {c.relative_to(work)}\n{c.read_text()}" for c in curves))
    return parts


def unpack(parts_in: Path, dest: Path) -> Path:
    """The parts `train` wrote, joined and unpacked into `dest`."""
    parts = sorted(parts_in.glob(f"{ARCHIVE}.[0-9][0-9]"))
    if not parts:
        raise SystemExit(f"{parts_in}: no {ARCHIVE}.NN parts")
    dest.mkdir(parents=True, exist_ok=True)
    joined = dest / ARCHIVE
    with open(joined, "wb") as o:
        for part in parts:
            o.write(part.read_bytes())
    with tarfile.open(joined, "r:xz") as tar:
        tar.extractall(dest, filter="data")
    joined.unlink()
    return dest / MODEL_NAME


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("pack", help="the kit from a rebuild's work folder whose pairs are mined")
    p.add_argument("work", type=Path)
    p.add_argument("kit", type=Path)
    p.add_argument("--base", default=ORIGINAL)
    t = verbs.add_parser("train", help="run the rebuild from the kit (on the accelerator machine)")
    t.add_argument("kit", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--work", type=Path, default=Path("/tmp/fathom-devkit"))
    t.add_argument("--device", default="cuda")
    t.add_argument("--threads", type=int, default=16)
    t.add_argument("--until", help="stop after the rebuild's step of this name")
    t.add_argument("--seconds", type=float, default=540,
                   help="stop the rebuild after this long and pack what it wrote (the device tool's limit is 600)")
    u = verbs.add_parser("unpack", help="join the parts a run brought back")
    u.add_argument("parts", type=Path)
    u.add_argument("dest", type=Path)
    args = parser.parse_args()
    if args.verb == "pack":
        size = pack(args.work, args.kit, args.base)
        travels = size + tracked_bytes(Path(__file__).resolve().parents[2])
        print(f"{args.kit}: {size / 2**20:.1f} MiB; with the checkout less its shipped models "
              f"{travels / 2**20:.1f} MiB of the {TREE_LIMIT // 2**20} MiB a run may carry")
        return 0 if travels <= TREE_LIMIT else 1
    if args.verb == "train":
        return train(args.kit, args.out, args.work, args.device, args.threads, args.until, args.seconds)
    print(unpack(args.parts, args.dest))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
