"""The validation figures `train.py` writes to its curve, for models already trained.

    .venv/bin/python -m benchmarks.model.validate /tmp/fathom-model3/pairs-run6.jsonl \\
        all-MiniLM-L6-v2 fathom-code-minilm-v3 /tmp/fathom-model4/fmtA/model [--dense-share 0.5 0.7]

MRR@10 of the validation split's questions (first sentences): mixed, within each
package, and within each package fused with the words as Fathom ranks (`words.py`),
at each dense share asked for.
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path


def main() -> int:
    from benchmarks.model.train import SEED, WORDS_DENSE_SHARE, Validation, encode_pairs, load_pairs

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path)
    parser.add_argument("models", nargs="+", help="names or directories")
    parser.add_argument("--validation-size", type=int, default=400)
    parser.add_argument("--dense-share", type=float, nargs="+", default=[WORDS_DENSE_SHARE])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--query-prefix", default="", help="words before every question (as the model was trained)")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    from fathom.embed.modelspec import resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    pairs, sources = load_pairs(args.pairs, "validation", "query")
    shuffled = list(range(len(pairs)))
    random.Random(SEED).shuffle(shuffled)  # as train.py orders them: the same mixed sample
    pairs, sources = [pairs[i] for i in shuffled], [sources[i] for i in shuffled]
    validation = Validation(pairs, sources, min(args.validation_size, len(pairs)))
    print("model\tdense share\tmixed\tin package\twith words\tseconds")
    for name in args.models:
        started = time.monotonic()
        model = SentenceTransformer(resolve_model(name).load_path, device="cpu",
                                    model_kwargs={"dtype": torch.float32})
        model.eval()
        queries, codes = encode_pairs(model, pairs, query_prefix=args.query_prefix)
        for share in args.dense_share:
            figures = validation.figures(queries, codes, share)
            print(f"{name}\t{share}\t" + "\t".join(f"{f:.4f}" for f in figures)
                  + f"\t{time.monotonic() - started:.0f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
