"""Counting a text's tokens exactly as the embedding model's tokenizer would.

Runs in the chunk workers (and the benchmarks): no torch. Fitting a chunk into
the model's window depends on these counts being exact (ARCHITECTURE: invariants).
"""
from __future__ import annotations

import math
import re

# What BERT's pre-tokenizer makes of ASCII: letter-digit runs, and each
# punctuation character alone (`_` included); whitespace and control characters vanish.
_ASCII_PIECE = re.compile(r"[A-Za-z0-9]+|[!-/:-@\[-`{-~]")
# ... but a control character other than tab, CR or LF is deleted, not a gap: `a\x00b` is one word.
_JOINING_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PIECE_CACHE_LIMIT = 200_000


class TokenCounter:
    """Counts model tokens with the model's own tokenizer when it has a
    `tokenizer.json`, else with a deliberately pessimistic estimate."""

    def __init__(self, tokenizer_json: str | None = None):
        self._tokenizer = None
        self._splits_like_bert = False
        self._lowercases = False
        self._piece_tokens: dict[str, int] = {}
        self._added_token = None  # `[CLS]`, `[MASK]`… in the text are one token each, whole
        if tokenizer_json:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(tokenizer_json)
            self._tokenizer.no_truncation()
            self._tokenizer.no_padding()
            normalizer = self._tokenizer.normalizer
            self._splits_like_bert = (
                type(normalizer).__name__ == "BertNormalizer"
                and type(self._tokenizer.pre_tokenizer).__name__ == "BertPreTokenizer"
                and type(self._tokenizer.model).__name__ == "WordPiece"
            )
            self._lowercases = bool(getattr(normalizer, "lowercase", False))
            added = sorted({t.content for t in self._tokenizer.get_added_tokens_decoder().values() if t.content},
                           key=len, reverse=True)
            if added:
                self._added_token = re.compile("|".join(map(re.escape, added)))

    def count(self, text: str) -> int:
        if self._tokenizer is None:
            return self._estimate(text)
        if self._splits_like_bert:
            return sum(self.count_per_line(text, text.split("\n")))
        return self._encoded_length(text)

    def _encoded_length(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def count_per_line(self, text: str, lines: list[str]) -> list[int]:
        """Tokens on each of `lines` (`text` split at newlines). The model's
        pre-tokenizer splits at whitespace, so no token spans a newline and a
        chunk of whole lines costs the sum of its lines."""
        if self._tokenizer is None:
            return [self._estimate(line) for line in lines]
        if self._splits_like_bert:
            count_line = self._count_line if self._holds_added_token(text) else self._count_bert_line
            return list(map(count_line, lines))
        counts = [0] * len(lines)
        line, next_start = 0, len(lines[0]) + 1
        for start, _end in self._tokenizer.encode(text, add_special_tokens=False).offsets:
            while start >= next_start:
                line += 1
                next_start += len(lines[line]) + 1
            counts[line] += 1
        return counts

    def _count_bert_line(self, line: str) -> int:
        """Exactly what the tokenizer would count, four times faster: code
        repeats its words, so each distinct ASCII word is tokenized once per worker."""
        if not line.isascii() or (not line.isprintable() and _JOINING_CONTROL.search(line)):
            return self._encoded_length(line)
        cache = self._piece_tokens
        total = 0
        for piece in _ASCII_PIECE.findall(line):
            n = cache.get(piece)
            if n is None:
                if len(cache) >= _PIECE_CACHE_LIMIT:
                    cache.clear()
                # An ASCII piece needs no normalizing beyond case: ask WordPiece directly.
                n = cache[piece] = len(self._tokenizer.model.tokenize(piece.lower() if self._lowercases else piece))
            total += n
        return total

    def _holds_added_token(self, text: str) -> bool:
        return self._added_token is not None and self._added_token.search(text) is not None

    def _count_line(self, line: str) -> int:
        return self._encoded_length(line) if self._holds_added_token(line) else self._count_bert_line(line)

    @staticmethod
    def _estimate(text: str) -> int:
        total = 0
        for match in re.finditer(r"[A-Za-z]+|\d+|\S", text):
            token = match.group()
            total += math.ceil(len(token) / 2) if token[0].isalnum() else 1
        return total

