"""The words half of Fathom's search, approximated for the training scripts.

A model's gain reaches a user through Fathom's hybrid ranking, where BM25 over
identifier-split words already finds much of what the model learns. To see what
a training choice is worth there, the validation also ranks each question's
package by a fusion like `search/hybrid.py`'s convex one: BM25 over the code's
words (the words as the lexical index stores them, `textsplit.expand_identifiers`;
the query's as Fathom asks, `textsplit.query_terms`), each ranking's candidate
pool scaled to [0, 1], then `dense_share` of the cosine and the rest of the
words. An approximation: Fathom's name boost and its three weighted fields are
left out, and its pools come from a whole project's index.
"""
from __future__ import annotations

import math
import re
from collections import Counter

from fathom.textsplit import expand_identifiers, query_terms

K1, B = 1.2, 0.75  # FTS5's bm25() defaults
POOL = 100  # SearchOptions.candidates
_TOKEN = re.compile(r"[a-z0-9]+")


def code_words(code: str) -> list[str]:
    """A code's words as FTS5's unicode61 tokenizer reads the stored text."""
    return _TOKEN.findall(expand_identifiers(code).lower())


def bm25_matrix(questions: list[str], codes: list[str]):
    """BM25 of every question (an OR of its terms) against every code: a
    float32 tensor, one row per question."""
    import torch

    documents = [Counter(code_words(c)) for c in codes]
    lengths = torch.tensor([sum(d.values()) for d in documents], dtype=torch.float32)
    average = float(lengths.mean()) if len(documents) else 0.0
    norm = K1 * (1 - B + B * lengths / max(average, 1e-9))
    asked = [query_terms(q) for q in questions]
    columns: dict[str, torch.Tensor] = {}
    for term in {t for terms in asked for t in terms}:
        tf = torch.tensor([d.get(term, 0) for d in documents], dtype=torch.float32)
        containing = int((tf > 0).sum())
        if containing == 0:
            continue
        idf = math.log((len(documents) - containing + 0.5) / (containing + 0.5) + 1)
        columns[term] = idf * tf * (K1 + 1) / (tf + norm)
    scores = torch.zeros(len(questions), len(codes))
    for row, terms in enumerate(asked):
        for term in terms:
            if term in columns:
                scores[row] += columns[term]
    return scores


def _pooled(scores, from_zero: bool):
    """Each row's top POOL scaled to [0, 1] (from zero, or from the pool's
    lowest), everything outside the pool 0, as `convex_fusion` scales a ranking."""
    import torch

    pool = min(POOL, scores.shape[1])
    top = scores.topk(pool, dim=1)
    high = top.values[:, :1]
    low = torch.zeros_like(high) if from_zero else top.values[:, -1:]
    span = (high - low).clamp_min(1e-12)
    scaled = torch.zeros_like(scores)
    scaled.scatter_(1, top.indices, ((top.values - low) / span).clamp(0, 1))
    if from_zero:
        scaled = torch.where(scores > 0, scaled, torch.zeros_like(scaled))
    return scaled


def fused(dense, lexical, dense_share: float):
    """The convex fusion of a cosine matrix and a BM25 matrix of the same shape."""
    return dense_share * _pooled(dense, False) + (1 - dense_share) * _pooled(lexical, True)


def words_ranks(questions: list[str], codes: list[str], right: list[int]) -> list[int]:
    """Where BM25 puts each question's right code (`codes[right[i]]`) among
    `codes`: 1 first; ties with a wrong code counted against it, and a right
    code the words do not match at all ranked last."""
    scores = bm25_matrix(questions, codes)
    ranks = []
    for row, answer in enumerate(right):
        mine = scores[row, answer]
        ranks.append(len(codes) if mine <= 0 else int((scores[row] >= mine).sum()))
    return ranks
