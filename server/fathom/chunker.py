"""Stage 3: turn one file's text into symbols and chunks with tree-sitter.

Runs inside the chunk pool's worker processes (see `chunk_pool`), so it must stay
light to import: no torch, no SQL. `chunk_source` is a pure function of the text.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .languages import DEFINITIONS, WRAPPERS, Definition, language_for
from .models import CONTINUED, Chunk, Range, Symbol, SymbolKind

FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})
# Raised whenever the same source would chunk differently, or its chunks would be
# embedded or not by other rules (discover.is_vendored, discover.is_bulk_data,
# chunk_pool.is_generated): a workspace chunked by another version is chunked again
# on its next full run (its vectors stay cached by text, so only texts that really
# changed are embedded again).
CHUNKER_VERSION = "3"

# Nodes that define a function only when this field holds one.
FUNCTION_VALUE_FIELD = {
    "variable_declarator": "value", "assignment_expression": "right", "pair": "value",
    "field_definition": "value", "public_field_definition": "value",
}
# `exports.f = …`, `A.prototype.f = …`: these parts of an assignment's target say
# nothing a reader would call a container.
_NOT_CONTAINERS = frozenset({"prototype", "exports", "module", "this"})
_DOTTED_NAME = re.compile(r"[\w$]+(?:\.[\w$]+)*")
# TypeScript overloads: signatures that the next definition of the same name implements.
OVERLOAD_SIGNATURES = frozenset({"function_signature"})
IDENTIFIER_TYPES = frozenset(
    {
        "identifier", "type_identifier", "field_identifier", "property_identifier",
        "simple_identifier", "constant", "name", "word", "namespace_identifier",
        "destructor_name", "operator_name", "qualified_identifier", "scoped_identifier",
        "dot_index_expression", "method_index_expression", "private_property_identifier",
    }
)
WINDOW_LINES = 40
# A line this long means minified or generated code: nobody navigates to its
# "functions", and it would cost thousands of chunks to embed.
MINIFIED_LINE_CHARS = 5_000
MAX_NAME = 120


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


@dataclass
class _Def:
    node: object
    outer: object  # the node whose range the chunk covers (decorators, export…)
    spec: Definition
    kind: SymbolKind
    name: str
    parent: "_Def | None" = None
    chunked: bool = True
    owner: str = ""  # what a dotted name says it belongs to: `A` of `A.prototype.f = …`
    first: object = None  # the outer node of its first overload signature, if it has any

    @property
    def start_node(self):
        return self.first if self.first is not None else self.outer

    @property
    def qualified_container(self) -> str:
        names = []
        p = self.parent
        while p is not None:
            names.append(p.name)
            p = p.parent
        return ".".join(reversed(names)) or self.owner


class Chunker:
    def __init__(self, counter: TokenCounter, max_tokens: int):
        self.counter = counter
        # [CLS] and [SEP] take two of the model's positions.
        self.max_tokens = max_tokens - 2
        self._parsers: dict[str, object] = {}
        self._queries: dict[str, object] = {}
        self._file_text = ""
        self._file_lines: list[str] = []
        self._file_counts: list[int] | None = None

    def _parser(self, lang: str):
        if lang not in self._parsers:
            from tree_sitter import Query
            from tree_sitter_language_pack import get_language, get_parser

            self._parsers[lang] = get_parser(lang)
            pattern = "\n".join(f"({t}) @def" for t in DEFINITIONS[lang])
            self._queries[lang] = Query(get_language(lang), pattern)
        return self._parsers[lang]

    @staticmethod
    def minified_reason(text: str) -> str | None:
        """Why a file is not worth indexing as code, or None. Short files cannot
        hold such a line, so most files cost only a length check."""
        if len(text) > MINIFIED_LINE_CHARS and any(len(line) > MINIFIED_LINE_CHARS for line in text.split("\n")):
            return f"minified or generated (a line over {MINIFIED_LINE_CHARS:,} characters)"
        return None

    def chunk_source(self, relpath: str, text: str) -> tuple[str, list[Symbol], list[Chunk]]:
        first_line = text[:200].split("\n", 1)[0]
        lang = language_for(relpath, first_line)
        lines = text.split("\n")
        self._file_text, self._file_lines, self._file_counts = text, lines, None
        if lang is None or not text.strip():
            return lang or "text", [], self._windows(relpath, lines, 0, len(lines) - 1)
        try:
            symbols, chunks = self._chunk_code(relpath, text, lang)
        except Exception:  # a grammar's failure costs the file its symbols, not its text
            symbols = []
            chunks = self._windows(relpath, lines, 0, len(lines) - 1)
        return lang, symbols, chunks

    # -- code ------------------------------------------------------------------------

    def _chunk_code(self, relpath: str, text: str, lang: str):
        from tree_sitter import QueryCursor

        data = text.encode("utf-8")
        tree = self._parser(lang).parse(data)
        lines = text.split("\n")
        line_bytes = data.split(b"\n")
        captures = QueryCursor(self._queries[lang]).captures(tree.root_node)
        nodes = sorted(captures.get("def", []), key=lambda n: (n.start_byte, -n.end_byte))
        defs = self._definitions(nodes, lang, data)

        def char_col(line: int, byte_col: int) -> int:
            raw = line_bytes[line][:byte_col] if line < len(line_bytes) else b""
            return len(raw.decode("utf-8", "replace").encode("utf-16-le")) // 2

        def node_range(node) -> Range:
            (sl, sc), (el, ec) = node.start_point, node.end_point
            return Range(sl, char_col(sl, sc), el, char_col(el, ec))

        def span_range(d: _Def) -> Range:
            start, end = node_range(d.start_node), node_range(d.outer)
            return Range(start.start_line, start.start_char, end.end_line, end.end_char)

        symbols = [
            Symbol(d.name, d.kind, d.qualified_container, span_range(d))
            for d in defs
            if d.spec.symbol
        ]

        self._share_lines_once(defs)
        chunked = [d for d in defs if d.chunked]
        children: dict[int, list[_Def]] = {}
        for d in chunked:
            if d.parent is not None:
                children.setdefault(id(d.parent), []).append(d)

        chunks: list[Chunk] = []
        covered = [False] * len(lines)
        for d in chunked:
            first = d.start_node
            start = self._leading_comment_start(first, lines)
            end = d.outer.end_point[0]
            if d.parent is None:
                for i in range(start, min(end, len(lines) - 1) + 1):
                    covered[i] = True
            body = self._collapsed(lines, start, end, children.get(id(d), []))
            rng = Range(start, 0 if start < first.start_point[0] else char_col(start, first.start_point[1]),
                        end, char_col(end, d.outer.end_point[1]))
            chunks.extend(self._fit(relpath, d.name, d.kind, d.qualified_container, rng, body, lines))

        # Module-level code outside every definition: imports, constants, scripts.
        block_start = None
        for i in range(len(lines) + 1):
            inside = i < len(lines) and not covered[i]
            if inside and block_start is None:
                block_start = i
            elif not inside and block_start is not None:
                chunks.extend(self._module_block(relpath, lines, block_start, i - 1))
                block_start = None
        chunks.sort(key=lambda c: (c.range.start_line, c.range.end_line))
        return symbols, chunks

    @staticmethod
    def _share_lines_once(defs: list[_Def]) -> None:
        """Chunks are whole lines. A definition on lines that an earlier one's chunk
        already holds (a dozen functions on one line of minified code) gets no chunk
        of its own, or that line would be stored and embedded once per definition."""
        held_to = -1
        for d in defs:
            if d.parent is not None:
                d.chunked = d.chunked and d.parent.chunked
            elif d.chunked:
                if d.outer.end_point[0] <= held_to:
                    d.chunked = False
                else:
                    held_to = d.outer.end_point[0]

    def _definitions(self, nodes, lang: str, data: bytes) -> list[_Def]:
        table = DEFINITIONS[lang]
        defs: list[_Def] = []
        open_defs: list[_Def] = []
        for node in nodes:
            spec = table[node.type]
            if spec.needs_body and node.child_by_field_name("body") is None:
                continue
            value_field = FUNCTION_VALUE_FIELD.get(node.type)
            if value_field is not None:
                value = node.child_by_field_name(value_field)
                if value is None or value.type not in FUNCTION_VALUES:
                    continue
            name = self._name_of(node, data)
            if not name:
                continue
            kind = self._refine_kind(node, spec.kind)
            owner = ""
            outer = node
            while outer.parent is not None and outer.parent.type in WRAPPERS and outer.parent.named_child_count <= 3:
                outer = outer.parent
            while open_defs and open_defs[-1].node.end_byte <= node.start_byte:
                open_defs.pop()
            parent = open_defs[-1] if open_defs else None
            if parent is not None and parent.spec.role == "scope" and kind == SymbolKind.Function:
                kind = SymbolKind.Method
            if "." in name or ":" in name:  # Lua `function M.h()`, `M:k()`; JS `A.prototype.f = …`
                prefix, _, last = name.replace(":", ".").rpartition(".")
                parts = prefix.split(".")
                if "prototype" in parts and kind == SymbolKind.Function:
                    kind = SymbolKind.Method
                owner = ".".join(part for part in parts if part not in _NOT_CONTAINERS)
                name = last or name
            d = _Def(node, outer, spec, kind, name[:MAX_NAME], parent, owner=owner[:MAX_NAME])
            overloaded = defs[-1] if defs else None
            if overloaded is not None and overloaded.node.type in OVERLOAD_SIGNATURES \
                    and overloaded.name == d.name and overloaded.parent is parent:
                # One definition from the first signature to the implementation:
                # one symbol, one chunk that reads every signature with the body.
                d.first = overloaded.start_node
                defs.pop()
            ancestor = parent
            while ancestor is not None:
                if ancestor.spec.role == "function":
                    d.chunked = False
                    break
                ancestor = ancestor.parent
            defs.append(d)
            open_defs.append(d)
        return defs

    @staticmethod
    def _name_of(node, data: bytes) -> str:
        def text(n) -> str:
            return data[n.start_byte:n.end_byte].decode("utf-8", "replace")

        if node.type == "impl_item":
            target = node.child_by_field_name("type")
            return text(target) if target is not None else ""
        named = node.child_by_field_name("name")
        if named is not None:
            return text(named).strip()
        if node.type == "assignment_expression":
            return Chunker._assigned_name(node, text)
        if node.type in ("pair", "field_definition"):  # `{ parse: function … }`, `onClick = () => …`
            named = node.child_by_field_name("key") or node.child_by_field_name("property")
            if named is None or named.type not in ("property_identifier", "private_property_identifier", "string"):
                return ""
            return text(named).strip("'\"` ")
        declarator = node.child_by_field_name("declarator")
        while declarator is not None:
            if declarator.type in IDENTIFIER_TYPES:
                return text(declarator)
            declarator = declarator.child_by_field_name("declarator") or declarator.child_by_field_name("name")
        for child in node.named_children:
            if child.type in IDENTIFIER_TYPES:
                return text(child)
        return ""

    @staticmethod
    def _assigned_name(node, text) -> str:
        """`f`, or the dotted `A.prototype.f`, for `… = function …`; `module.exports =
        function createApp()` is called by the function's own name."""
        target = node.child_by_field_name("left")
        if target is None or target.type not in ("identifier", "member_expression"):
            return ""
        dotted = text(target)
        if dotted.rpartition(".")[2] in _NOT_CONTAINERS:
            own = node.child_by_field_name("right").child_by_field_name("name")
            return text(own) if own is not None else ""
        return dotted if _DOTTED_NAME.fullmatch(dotted) else ""  # not `a[i] = …`, `f().g = …`

    @staticmethod
    def _refine_kind(node, kind: SymbolKind) -> SymbolKind:
        if node.type == "type_spec":
            inner = node.child_by_field_name("type")
            if inner is not None and inner.type == "struct_type":
                return SymbolKind.Struct
            if inner is not None and inner.type == "interface_type":
                return SymbolKind.Interface
        if node.type == "class_declaration" and node.child_count:
            keyword = node.children[0].type
            if keyword == "struct":
                return SymbolKind.Struct
            if keyword == "enum":
                return SymbolKind.Enum
        return kind

    @staticmethod
    def _leading_comment_start(node, lines: list[str]) -> int:
        """Doc comments above a definition belong to its chunk: those that touch it,
        and a `/**` block a blank line above it (a common JSDoc layout)."""
        start = node.start_point[0]
        prev = node.prev_named_sibling
        while prev is not None and "comment" in prev.type:
            gap = start - 1 - prev.end_point[0]
            if gap > 1 or (gap == 1 and not (lines[prev.start_point[0]].lstrip().startswith("/**")
                                             and not lines[start - 1].strip())):
                break
            start = prev.start_point[0]
            prev = prev.prev_named_sibling
        return start

    @staticmethod
    def _collapsed(lines: list[str], start: int, end: int, nested: list[_Def]) -> list[tuple[int, str]]:
        """The definition's own lines, each nested chunked definition shown by its
        first line only (it has a chunk of its own)."""
        hidden: set[int] = set()
        for child in nested:
            c_start, c_end = child.node.start_point[0], child.outer.end_point[0]
            if c_start > start and c_end <= end:
                hidden.update(range(c_start + 1, c_end + 1))
        out: list[tuple[int, str]] = []
        for i in range(start, min(end, len(lines) - 1) + 1):
            if i not in hidden:
                out.append((i, lines[i]))
            elif i - 1 not in hidden:
                indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
                out.append((i, indent + "..."))
        return out

    def _module_block(self, relpath: str, lines: list[str], start: int, end: int) -> list[Chunk]:
        while start <= end and not lines[start].strip():
            start += 1
        while end >= start and not lines[end].strip():
            end -= 1
        if start > end:
            return []
        name = relpath.rsplit("/", 1)[-1]
        body = [(i, lines[i]) for i in range(start, end + 1)]
        rng = Range(start, 0, end, len(lines[end]))
        return self._fit(relpath, name, SymbolKind.Module, "", rng, body, lines)

    # -- plain text ------------------------------------------------------------------

    def _windows(self, relpath: str, lines: list[str], start: int, end: int) -> list[Chunk]:
        """Markdown, YAML, unknown text: sections at headings, then line windows."""
        name = relpath.rsplit("/", 1)[-1]
        chunks: list[Chunk] = []
        section_start, title = start, name
        for i in range(start, end + 2):
            heading = i <= end and lines[i].startswith("#") and relpath.endswith((".md", ".markdown", ".rst", ".mdx"))
            if i == end + 1 or (heading and i > section_start):
                s = section_start
                while s < i:
                    e = min(i - 1, s + WINDOW_LINES - 1)
                    body = [(j, lines[j]) for j in range(s, e + 1)]
                    if any(text.strip() for _, text in body):
                        rng = Range(s, 0, e, len(lines[e]))
                        chunks.extend(self._fit(relpath, title, SymbolKind.File, "", rng, body, lines))
                    s = e + 1
                section_start = i
            if heading:
                title = lines[i].lstrip("#").strip()[:MAX_NAME] or name
        return chunks

    # -- fitting the model's window --------------------------------------------------

    def _fit(self, relpath, name, kind, container, rng: Range, body: list[tuple[int, str]], lines) -> list[Chunk]:
        qualified = f"{container}.{name}" if container else name
        # No path in what the model reads: vectors are cached by the hash of that
        # text, and a moved folder or a copied function must find them again.
        # Path words still reach search through the lexical index's path column.
        header = qualified if kind not in (SymbolKind.Module, SymbolKind.File) else ""
        if kind in (SymbolKind.Module, SymbolKind.File) and name != relpath.rsplit("/", 1)[-1]:
            header = name  # a document section's heading
        text = "\n".join(t for _, t in body)
        budget = self.max_tokens - self.counter.count(header) - 1
        if len(text) <= budget:
            return [Chunk(name, kind, container, rng, header, text)]
        counts = self._body_counts(body)
        if sum(counts) <= budget:
            return [Chunk(name, kind, container, rng, header, text)]
        # Too long for the model: consecutive line windows, each under the budget.
        signature = body[0][1].strip()[:200]
        cont_header = f"{header}\n{signature}{CONTINUED}" if header else f"{signature}{CONTINUED}"
        cont_budget = max(16, self.max_tokens - self.counter.count(cont_header) - 1)
        parts: list[list[tuple[int, str]]] = [[]]
        used = 0
        for (line_no, line_text), n in zip(body, counts):
            limit = budget if len(parts) == 1 else cont_budget
            if n > cont_budget:  # one enormous line (minified code): cut it
                for piece in self._cut_line(line_text, cont_budget):
                    parts.append([(line_no, piece)])
                parts.append([])
                used = 0
                continue
            if parts[-1] and used + n + 1 > limit:
                parts.append([])
                used = 0
            parts[-1].append((line_no, line_text))
            used += n + 1
        chunks = []
        for i, part in enumerate(p for p in parts if p):
            first, last = part[0][0], part[-1][0]
            part_range = Range(
                first, rng.start_char if first == rng.start_line else 0,
                last, rng.end_char if last == rng.end_line else len(lines[last]) if last < len(lines) else 0,
            )
            chunks.append(
                Chunk(name, kind, container, part_range, header if i == 0 else cont_header,
                      "\n".join(t for _, t in part))
            )
        return chunks

    def _body_counts(self, body: list[tuple[int, str]]) -> list[int]:
        """Tokens per body line: whole source lines from the file's one
        tokenizer pass, altered ones (a collapsed nested definition) counted alone."""
        lines = self._file_lines
        if self._file_counts is None:
            self._file_counts = self.counter.count_per_line(self._file_text, lines)
        counts = self._file_counts
        return [counts[i] if i < len(lines) and t == lines[i] else self.counter.count(t) for i, t in body]

    def _cut_line(self, line: str, budget: int) -> list[str]:
        pieces, i = [], 0
        step = max(8, budget * 2)
        while i < len(line):
            size = step
            while size > 8 and self.counter.count(line[i:i + size]) > budget:
                size = size * 3 // 4
            pieces.append(line[i:i + size])
            i += size
        return pieces
