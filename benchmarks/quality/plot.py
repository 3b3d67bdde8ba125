"""The README's quality picture: MRR@10 (and strict MRR@10) per method, from
the JSON that quality/eval_python.py writes, plus mcp-vector-search's figures.

    python -m benchmarks.quality.plot /tmp/eval.json --mvs /tmp/mvs.json -o benchmarks/quality/quality.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"bm25": "BM25\n(bm25s)", "dense": "plain dense\nMiniLM", "rrf": "RRF of\nBM25 + dense",
          "fathom": "Fathom", "mcp-vector-search": "mcp-vector-search\n4.1.14"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_json", type=Path)
    parser.add_argument("--mvs", type=Path, help="JSON printed by quality/vs_mcp_vector_search.py")
    parser.add_argument("-o", "--output", type=Path, default=Path("benchmarks/quality/quality.png"))
    args = parser.parse_args()
    evaluation = json.loads(args.eval_json.read_text())
    rows = {method: row["all"] for method, row in evaluation["table"].items()}
    if args.mvs:
        rows["mcp-vector-search"] = json.loads(args.mvs.read_text())["scores"]
    order = [m for m in ("bm25", "dense", "rrf", "mcp-vector-search", "fathom") if m in rows]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    xs = range(len(order))
    width = 0.38
    lenient = [rows[m]["mrr@10"] for m in order]
    strict = [rows[m]["strict_mrr@10"] for m in order]
    colors = ["#3b7dd8" if m == "fathom" else "#9aa5b1" for m in order]
    bars = ax.bar([x - width / 2 for x in xs], lenient, width, color=colors, label="MRR@10 (range covers the def)")
    ax.bar([x + width / 2 for x in xs], strict, width, color=colors, alpha=0.55,
           label="strict MRR@10 (result starts at the function)")
    for bar, value in zip(bars, lenient):
        ax.text(bar.get_x() + bar.get_width() / 2, value + 0.01, f"{value:.2f}", ha="center", fontsize=9)
    ax.axhline(0.45, color="#d0613b", linestyle="--", linewidth=1)
    ax.text(-0.45, 0.458, "target 0.45", color="#d0613b", ha="left", fontsize=8)
    ax.set_xticks(list(xs), [LABELS[m] for m in order], fontsize=9)
    ax.set_ylim(0, 0.75)
    ax.set_ylabel("MRR@10")
    ax.set_title(f"Docstring → code search, {evaluation['queries']} queries (flask + rich), all-MiniLM-L6-v2, CPU",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper center")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(args.output)
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
