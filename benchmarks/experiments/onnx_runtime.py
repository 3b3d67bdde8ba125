"""A lever tried for CPU embedding speed: ONNX Runtime, fp32 and dynamic int8,
against sentence-transformers on the very chunk texts Fathom embeds.

    .venv/bin/pip install -e '.[experiments]'
    .venv/bin/python -m benchmarks.experiments.onnx_runtime TREE [--work DIR]

Indexes TREE phase 1 only (`fathom index --no-embed`) into a scratch cache, takes
its distinct chunk texts, exports the model with `torch.onnx.export`, and times
each runtime on the same texts (sorted by length, batch 64, 2 threads, model
loaded). Prints texts/s and each runtime's cosine similarity to the fp32 vectors.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tree")
    parser.add_argument("--work", default=None, help="where the exported models go (default: a temp dir)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="fathom-onnx-")
    os.makedirs(work, exist_ok=True)
    cache = os.path.join(work, "cache")
    os.environ["FATHOM_CACHE_DIR"] = cache
    subprocess.run([sys.executable, "-m", "fathom", "index", "--no-embed", args.tree], check=True,
                   stdout=subprocess.DEVNULL)

    from fathom.config import Settings, force_offline
    from fathom.workspace import Workspace

    force_offline()
    ws = Workspace(args.tree, Settings.from_env())
    texts = [p.embed_text for p in ws.reader.pending_embeddings()]  # phase 1 only: every distinct text

    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(ws.spec.load_path, device="cpu")
    tokenizer = model.tokenizer
    max_len = model.max_seq_length
    lengths = [len(tokenizer(t, truncation=True, max_length=max_len)["input_ids"]) for t in texts]
    print(f"{len(texts)} distinct chunk texts, {np.mean(lengths):.0f} tokens mean, {np.median(lengths):.0f} median")

    model.encode(texts[:16], batch_size=64)
    start = time.perf_counter()
    reference = model.encode(texts, batch_size=64, normalize_embeddings=True)
    print(f"sentence-transformers (torch {torch.__version__}): {len(texts) / (time.perf_counter() - start):.1f} texts/s")

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    fp32_path, int8_path = os.path.join(work, "model.onnx"), os.path.join(work, "model.int8.onnx")
    sample = tokenizer(texts[:2], padding=True, return_tensors="pt")
    inputs = ("input_ids", "attention_mask", "token_type_ids")
    torch.onnx.export(LastHiddenState(model[0].auto_model.eval()), tuple(sample[k] for k in inputs), fp32_path,
                      input_names=list(inputs), output_names=["last_hidden_state"],
                      dynamic_axes={k: {0: "batch", 1: "tokens"} for k in (*inputs, "last_hidden_state")},
                      opset_version=17, dynamo=False)
    quantize_dynamic(fp32_path, int8_path, weight_type=QuantType.QInt8, per_channel=True)

    def encode(session, batch_size=64):
        order = np.argsort([-n for n in lengths])
        out = np.zeros((len(texts), reference.shape[1]), dtype=np.float32)
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            enc = tokenizer([texts[j] for j in idx], padding=True, truncation=True, max_length=max_len,
                            return_tensors="np")
            hidden = session.run(None, {k: enc[k].astype(np.int64) for k in inputs})[0]
            mask = enc["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out[idx] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
        return out

    for label, path in (("ONNX Runtime fp32", fp32_path), ("ONNX Runtime int8 (dynamic, per channel)", int8_path)):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = args.threads
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        encode(session)
        start = time.perf_counter()
        vectors = encode(session)
        rate = len(texts) / (time.perf_counter() - start)
        cosine = (vectors * reference).sum(1)
        print(f"{label} {ort.__version__}: {rate:.1f} texts/s, cosine to fp32 mean {cosine.mean():.4f} "
              f"min {cosine.min():.4f}")


if __name__ == "__main__":
    main()
