"""How alike two pieces of code are in shape, whatever their names.

A code-tuned model reads names closely: asked for code like a function, it can
rank a caller that shares the function's name above a copy of the function whose
names were changed. What "similar code" must find first is that copy, so the
nearest definitions are also compared token by token, every name but a common
keyword read as one placeholder (identifier-blind clone detection, as token-based
clone detectors do).
"""
from __future__ import annotations

import re
from collections import Counter

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?|\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|\S")
# Keywords of the languages Fathom chunks: they are the shape, not names.
_KEYWORDS = frozenset("""
if else elif for while do return def fn func function class struct enum trait impl interface try except
catch finally raise throw throws import from in is not and or None null nil true false True False self this
let const var mut match case switch default break continue yield async await new public private protected
static void int pub use mod go defer select chan map type package with as lambda pass del global assert
sizeof typedef unsigned signed char long short float double bool goto where loop ref move dyn
""".split())
SHINGLE = 4


def shape_tokens(code: str) -> list[str]:
    """The code's tokens with every name a placeholder, numbers and strings one each."""
    tokens = []
    for token in _TOKEN.findall(code):
        if token in _KEYWORDS:
            tokens.append(token)
        elif token[0].isalpha() or token[0] == "_":
            tokens.append("I")
        elif token[0].isdigit():
            tokens.append("N")
        elif token[0] in "\"'":
            tokens.append("S")
        else:
            tokens.append(token)
    return tokens


def shingles(code: str) -> Counter:
    tokens = shape_tokens(code)
    if len(tokens) < SHINGLE:
        return Counter([tuple(tokens)]) if tokens else Counter()
    return Counter(tuple(tokens[i:i + SHINGLE]) for i in range(len(tokens) - SHINGLE + 1))


def shape_similarity(a: Counter, b: Counter) -> float:
    """Weighted Jaccard of two shingle multisets, in [0, 1]."""
    if not a or not b:
        return 0.0
    shared = sum((a & b).values())
    return shared / (sum(a.values()) + sum(b.values()) - shared)
