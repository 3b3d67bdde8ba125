"""Put a trained question encoder's transformer layers beside the model it asks:

    .venv/bin/python -m benchmarks.model.question_layers /tmp/fathom-qt/run3/query-model \\
        server/fathom/embed/shipped/fathom-code-minilm-v3

`query_tower.py` trains a whole copy of the model; only its transformer layers
travel (`encoder.layer.*`, float16 as the model's own weights: 21 MB instead of
45 MB). The word embeddings stay the model's: sharing them moved validation by
less than 0.001 (RESULTS 10m). The index's vectors are untouched: questions
alone are read by these layers, so no index is embedded again.

Given several encoders trained from the same model (other seeds, or one run's
snapshots), their layers are averaged weight by weight before they ship: one
set of layers, the search's cost unchanged.
"""
from __future__ import annotations

import argparse
from pathlib import Path

LAYER_PREFIX = "encoder.layer."


def average_layers(query_models: list[Path]) -> dict:
    """The transformer layers of each encoder, averaged in float32 (one encoder: its own)."""
    from safetensors.torch import load_file

    total: dict = {}
    for folder in query_models:
        trained = load_file(str(folder / "model.safetensors"))
        for key, tensor in trained.items():
            if key.removeprefix("bert.").startswith(LAYER_PREFIX):
                total[key] = total.get(key, 0) + tensor.float()
    return {key: total[key] / len(query_models) for key in sorted(total)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("query_models", type=Path, nargs="+",
                        help="the sentence-transformers folder(s) query_tower.py wrote; several are averaged")
    parser.add_argument("model", type=Path, help="the model folder the question encoder was trained against")
    args = parser.parse_args()

    from safetensors.torch import load_file, save_file

    from fathom.embed.bert import QUESTION_LAYERS, read_question_layers

    layers = {key: tensor.half().contiguous() for key, tensor in average_layers(args.query_models).items()}
    out = args.model / QUESTION_LAYERS
    save_file(layers, str(out), metadata={"trained_from": args.model.name})
    read_question_layers(out, load_file(str(args.model / "model.safetensors")))  # they fit, or this raises
    print(f"{out}: {len(layers)} tensors, {out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
