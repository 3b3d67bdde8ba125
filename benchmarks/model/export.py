"""Write a trained model as the folder Fathom ships: the base model's files with
the tuned weights in float16.

    .venv/bin/python -m benchmarks.model.export /tmp/fathom-model/run5/model \\
        server/fathom/embed/shipped/fathom-code-minilm-v3

Everything but the weights is the base model's (all-MiniLM-L6-v2's configs,
tokenizer and window), in the sentence-transformers layout `embed/bert.py` reads
without sentence-transformers; the trainer's own saved configs come from a newer
sentence-transformers whose layout that module does not know, and nothing in
them changed. Float16 halves the folder (about 45 MB); Fathom computes in float32
on a CPU whatever the file stores.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

# The base model's files the shipped folder needs: sentence-transformers' layout,
# the BERT config and both tokenizer forms (tokenizers reads tokenizer.json;
# transformers, for the benchmarks' dense baseline, reads the others).
BASE_FILES = ("config.json", "config_sentence_transformers.json", "modules.json", "sentence_bert_config.json",
              "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
              "1_Pooling/config.json")

CARD = """# {name}

Fathom's code-search model: all-MiniLM-L6-v2 (Apache-2.0, by sentence-transformers)
fine-tuned on documentation → code pairs mined from the packages listed in
`benchmarks/model/train_sources.txt` and `train_sources_v3.txt`, with in-batch negatives.
Same architecture, tokenizer and 256-token window as the base; weights stored in float16.

`question_layers.safetensors`: the model's six transformer layers as trained to read questions
against its own vectors of code (the word embeddings and tokenizer shared; float16): each question
against every code and other chunk of its package, and each Markdown heading's section (read by
the model itself) against them. Questions are read by them; code and the index's texts by the
model itself, so an index's vectors do not change.

Rebuilt, every stage in order, by `benchmarks/model/rebuild.py` (mine.py, train.py, sample.py,
distractors.py, prose_pairs.py, export.py, query_tower.py, question_layers.py; commands and
figures: benchmarks/RESULTS.md, sections 10c, 10d, 10f, 10m, 10n, 10p, 10r and 10v).
"""


def export(trained: Path, target: Path, base: Path) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    weights = load_file(str(trained / "model.safetensors"))
    with safe_open(str(base / "model.safetensors"), "pt") as names:  # the names alone, not 90 MB of weights
        expected = set(names.keys()) - {"embeddings.position_ids"}
    missing = expected - set(weights)
    if missing:
        raise SystemExit(f"{trained}: not the base model's architecture (missing {sorted(missing)[:3]})")
    target.mkdir(parents=True, exist_ok=True)
    for name in BASE_FILES:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / name, target / name)
    half = {key: tensor.to(torch.float16).contiguous() for key, tensor in sorted(weights.items()) if key in expected}
    save_file(half, str(target / "model.safetensors"), metadata={"format": "pt"})
    (target / "README.md").write_text(CARD.format(name=target.name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trained", type=Path, help="the trainer's saved model folder")
    parser.add_argument("target", type=Path)
    parser.add_argument("--base", default="all-MiniLM-L6-v2", help="the model it was trained from")
    args = parser.parse_args()
    from benchmarks.model.train import model_folder

    export(args.trained, args.target, Path(model_folder(args.base)))
    print(f"{args.target}: {sum(p.stat().st_size for p in args.target.rglob('*') if p.is_file()) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
