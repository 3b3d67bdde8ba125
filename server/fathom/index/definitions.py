"""Which nodes of a file's syntax tree are definitions, what they are called and
where they sit: the tree-sitter half of chunking, next to the language tables
(`languages.py`) it reads.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..models import SymbolKind
from .languages import DEFINITIONS, ELIXIR_CALLS, WRAPPERS, Definition
from .names import MAX_NAME, NOT_CONTAINERS, definition_name, elixir_target, go_receiver_type, lua_assigned_function, \
    module_name, refine_kind, zig_container

FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function",
                             "function_definition"})  # the last R's: `add <- function(x) …`
# Nodes that define a function only when this field holds one.
FUNCTION_VALUE_FIELD = {
    "variable_declarator": "value", "assignment_expression": "right", "pair": "value",
    "field_definition": "value", "public_field_definition": "value", "export_statement": "value",
    "binary_operator": "rhs", "field": "value",
}
# Where a Haskell value binding is a definition (elsewhere a `where` clause's or a `let`'s).
HASKELL_BIND_HOLDERS = frozenset({"declarations", "class_declarations", "instance_declarations"})
# Where a property declaration is a type's or a file's (elsewhere a local variable).
PROPERTY_HOLDERS = frozenset({"source_file", "class_body", "protocol_body", "enum_class_body", "declaration_list"})
# TypeScript overloads: signatures that the next definition of the same name implements.
OVERLOAD_SIGNATURES = frozenset({"function_signature",
                                 "signature", "function"})  # Haskell's: `f :: …` and each equation `f 0 = …`
# A nested function shorter than this reads as a line of its outer one: no chunk of its own.
MIN_NESTED_LINES = 3
MAX_CONTAINER = 160
# Languages whose functions never hold functions: one found in another is a parse error's.
SINGLE_LEVEL_FUNCTIONS = frozenset({"c", "cpp", "cuda"})


@dataclass
class Def:
    """One definition found in a syntax tree, with what chunking needs to know of it."""

    node: object
    outer: object  # the node whose range the chunk covers (decorators, export…)
    spec: Definition
    kind: SymbolKind
    name: str
    parent: "Def | None" = None
    chunked: bool = True
    owner: str = ""  # what a dotted name says it belongs to: `A` of `A.prototype.f = …`
    first: object = None  # the outer node of its first overload signature, if it has any
    cut_at: tuple[int, int] | None = None  # its end where a parse error ran it past its own (row, byte column)
    body: object = None  # its body where the grammar puts it beside the signature, not in it (Dart)

    @property
    def start_node(self):
        return self.first if self.first is not None else self.outer

    @property
    def end_point(self) -> tuple[int, int]:
        if self.cut_at is not None:
            return self.cut_at
        return self.body.end_point if self.body is not None else self.outer.end_point

    @property
    def end_byte(self) -> int:
        """Where what it holds ends: a definition that starts before it is inside it."""
        return self.body.end_byte if self.body is not None else self.node.end_byte

    @property
    def qualified_container(self) -> str:
        """The enclosing definitions' names, outermost first; past MAX_CONTAINER
        characters only the innermost ones, after an ellipsis: every symbol and
        chunk header holds its container, and in code nested a thousand deep a
        full path would make a file's index grow with the square of its depth."""
        names: list[str] = []
        length = 0
        p, outermost = self.parent, self
        while p is not None:
            if length + len(p.name) + 1 > MAX_CONTAINER:
                names.append("…")
                break
            names.append(p.name)
            length += len(p.name) + 1
            p, outermost = p.parent, p
        if p is None and outermost.owner and outermost is not self:
            names.append(outermost.owner)  # `Server.Serve` for a closure in Go's `(s *Server) Serve`
        return ".".join(reversed(names)) or self.owner


class Grammars:
    """Each language's parser and definitions query, built at the first file
    that needs them (about 8 ms of CPU a language per worker, and a
    workspace needs two or three). Parsers do not pickle: one set per process."""

    def __init__(self) -> None:
        self._parsers: dict[str, object] = {}
        self._queries: dict[str, object] = {}

    def definitions(self, lang: str, data: bytes, relpath: str = "") -> list[Def]:
        """The definitions in a file's bytes, outermost first, in source order
        (`relpath` names what the module exports without a name of its own)."""
        from tree_sitter import QueryCursor

        source = data
        if lang in SINGLE_LEVEL_FUNCTIONS:
            source = _without_block_macro_lines(source, lang)
        if lang in ("cpp", "cuda"):
            source = _without_export_macros(source)
        tree = self._parser(lang).parse(source)
        captures = QueryCursor(self._queries[lang]).captures(tree.root_node)
        nodes = sorted(captures.get("def", []), key=lambda n: (n.start_byte, -n.end_byte))
        return find_definitions(nodes, lang, data, module_name(relpath))

    def _parser(self, lang: str):
        if lang not in self._parsers:
            from tree_sitter import Query
            from tree_sitter_language_pack import get_language, get_parser

            self._parsers[lang] = get_parser(lang)
            pattern = "\n".join(f"({t}) @def" for t in DEFINITIONS[lang])
            self._queries[lang] = Query(get_language(lang), pattern)
        return self._parsers[lang]


# `G_BEGIN_DECLS`, `__BEGIN_DECLS`: a header's macro alone on a line, which the
# preprocessor turns into `extern "C" {` or nothing and tree-sitter, which does not
# expand macros, reads as the start of the next declaration, so that `typedef struct
# _GList GList;` after it is an error, not a typedef. (Other bare macros, such as
# `G_GNUC_BEGIN_IGNORE_DEPRECATIONS` above a function, parse as part of it and stay.)
# A line that is only a macro opening or closing a block the grammar cannot see:
# glib's `G_BEGIN_DECLS`; in C++ also `QT_BEGIN_NAMESPACE`, `RAPIDJSON_NAMESPACE_BEGIN`,
# `NLOHMANN_JSON_NAMESPACE_BEGIN`. Unexpanded, it is read as the type of the
# declaration after it: the class or namespace below is lost, or one named
# `namespace` swallows the file.
_DECLS_LINE = re.compile(rb"^[A-Z_][A-Z0-9_]*_(?:BEGIN|END)_DECLS[ \t]*$", re.M)
_BLOCK_MACRO_LINE = re.compile(rb"^[ \t]*[A-Z_][A-Z0-9_]*(?:_BEGIN|BEGIN_|_END|END_)[A-Z0-9_]*[ \t]*$", re.M)


def _without_block_macro_lines(data: bytes, lang: str) -> bytes:
    """The source with each such line blanked to spaces: every byte keeps its offset,
    so the tree's positions are the file's."""
    if lang == "c":
        if b"_DECLS" not in data:  # a plain substring search first: the regex costs 5 s over a kernel
            return data
        return _DECLS_LINE.sub(lambda m: b" " * len(m.group()), data)
    if b"BEGIN" not in data:
        return data
    return _BLOCK_MACRO_LINE.sub(lambda m: b" " * len(m.group()), data)


# `class YAML_CPP_API Parser {`, `class Q_CORE_EXPORT QString :`: a library's export
# macro between `class` and the name, which tree-sitter (expanding no macros) reads
# as a function `Parser` returning `class YAML_CPP_API`, the class's body its body.
_EXPORT_MACRO = re.compile(
    rb"\b(?:class|struct)[ \t]+([A-Z][A-Z0-9_]{2,})[ \t]+(?=[A-Za-z_]\w*[ \t]*(?:final[ \t]*)?(?:[:{]|$))", re.M)


def _without_export_macros(data: bytes) -> bytes:
    """The source with each such macro blanked to spaces, offsets kept."""
    return _EXPORT_MACRO.sub(lambda m: m.group()[:m.start(1) - m.start()] + b" " * len(m.group(1))
                             + m.group()[m.end(1) - m.start():], data)


def sibling_before(node):
    """The node just before a definition, where its doc comment would be. Ruby
    puts the comments above a class's first method beside the class's body,
    not inside it (HCL those above a file's first block, Haskell above its first
    declaration): for that first definition, they are the body's sibling."""
    prev = node.prev_named_sibling
    parent = node.parent
    if prev is None and parent is not None and parent.type in ("body_statement", "body", "declarations"):
        prev = parent.prev_named_sibling
        # Haskell's grammar keeps the comments after a file's last import inside its `imports`.
        if prev is not None and prev.type == "imports" and prev.named_child_count \
                and prev.named_children[-1].type in ("haddock", "comment"):
            return prev.named_children[-1]
    return prev


def share_lines_once(defs: list[Def]) -> None:
    """Chunks are whole lines. A definition on lines that an earlier one's chunk
    already holds (a dozen functions on one line of minified code) gets no chunk
    of its own, or that line would be stored and embedded once per definition."""
    held_to = -1
    for d in defs:
        if d.parent is not None:
            d.chunked = d.chunked and d.parent.chunked
        elif d.chunked:
            if d.end_point[0] <= held_to:
                d.chunked = False
            else:
                held_to = d.end_point[0]

def find_definitions(nodes, lang: str, data: bytes, module: str = "") -> list[Def]:
    table = DEFINITIONS[lang]
    split: list[bytes] = []

    def line_of(row: int) -> bytes:  # the file is split once, and only if a parse error needs it
        if not split:
            split.extend(data.split(b"\n"))
        return split[row]

    defs: list[Def] = []
    open_defs: list[Def] = []
    heading = ""  # the last `namespace X;` / `package X;` above: the owner of top-level definitions
    for node in nodes:
        spec = table[node.type]
        if lang == "elixir":
            spec = ELIXIR_CALLS.get(elixir_target(node, data))
            if spec is None:  # any other call
                continue
        if not _defines(node, spec, lang):
            continue
        name = definition_name(node, lang, data, module)
        if not name:
            continue
        kind = refine_kind(node, spec.kind)
        if spec.heading and _body_of(node) is None:
            heading = name[:MAX_NAME]
            defs.append(Def(node, node, replace(spec, role="name"), kind, heading, None, chunked=False))
            continue
        owner = ""
        outer = node
        while outer.parent is not None and outer.parent.type in WRAPPERS and outer.parent.named_child_count <= 3:
            outer = outer.parent
        while open_defs and open_defs[-1].end_byte <= node.start_byte:
            open_defs.pop()
        _close_swallowing_function(open_defs, node, lang, line_of)
        parent = open_defs[-1] if open_defs else None
        if parent is not None and parent.spec.role == "scope" and kind == SymbolKind.Function \
                and not _is_namespace(parent, lang):
            kind = SymbolKind.Method
        if lang == "go" and node.type == "method_declaration":
            owner = go_receiver_type(node, data)  # as gopls does: `(s *Server) Serve` is `Server.Serve`
        if ("." in name or ":" in name) and kind != SymbolKind.Package:
            # Lua `function M.h()`, `M:k()`; JS `A.prototype.f = …`; C++ `void Foo::bar()`; not Perl's `Foo::Bar`.
            prefix, _, last = name.replace("::", ".").replace(":", ".").rpartition(".")
            parts = prefix.split(".")
            if "prototype" in parts and kind == SymbolKind.Function:
                kind = SymbolKind.Method
            owner = ".".join(part for part in parts if part not in NOT_CONTAINERS)
            name = last or name
        if parent is None and not owner and kind not in (SymbolKind.Namespace, SymbolKind.Package):
            owner = heading
        d = Def(node, outer, spec, kind, name[:MAX_NAME], parent, owner=owner[:MAX_NAME],
                body=_detached_body(node, outer) if lang in ("dart", "zig") else None)
        overloaded = defs[-1] if defs else None
        if overloaded is not None and overloaded.node.type in OVERLOAD_SIGNATURES \
                and overloaded.name == d.name and overloaded.parent is parent:
            # One definition from the first signature to the implementation:
            # one symbol, one chunk that reads every signature with the body.
            d.first = overloaded.start_node
            defs.pop()
        if spec.role == "name":  # a symbol only: never a chunk, nor anything's container
            d.chunked = False
            defs.append(d)
            continue
        d.chunked = _chunked_where_nested(d)
        defs.append(d)
        open_defs.append(d)
    return defs


def _defines(node, spec: Definition, lang: str) -> bool:
    """Whether a captured node is a definition, where its type alone does not say."""
    if spec.needs_body and node.child_by_field_name("body") is None:
        return False  # C's `struct S;`
    if lang == "haskell":
        if node.type == "bind" and (node.parent is None or node.parent.type not in HASKELL_BIND_HOLDERS):
            return False
        return node.child_by_field_name("name") is not None  # `Int -> Int` in a signature is a `function` too
    if node.type == "let_binding":  # OCaml's: a file's or a module's, not a `let s = … in` local
        definition = node.parent
        return definition is not None and definition.parent is not None \
            and definition.parent.type in ("compilation_unit", "structure")
    if node.type == "VarDecl":  # Zig's `const Point = struct { … };`, and no other constant
        return zig_container(node) is not None
    if node.type == "assignment_statement":  # Lua's
        return lua_assigned_function(node) is not None
    if spec.role == "name" and spec.kind == SymbolKind.Property:  # a file's or a type's, not a function's local `val`/`let`
        return node.parent is not None and node.parent.type in PROPERTY_HOLDERS
    value_field = FUNCTION_VALUE_FIELD.get(node.type)
    if value_field is not None:  # `const f = () => …`, R's `f <- function(…)`
        value = node.child_by_field_name(value_field)
        return value is not None and value.type in FUNCTION_VALUES
    return True


def _body_of(node):
    """A namespace's or package's braced body: PHP's `body` field, Perl's block."""
    return node.child_by_field_name("body") or next((c for c in node.named_children if c.type == "block"), None)


def _detached_body(node, outer):
    """Dart's and Zig's grammars end a function at its signature: its body is the
    next node, beside the signature (Zig's) or beside what wraps it (Dart's in a class)."""
    for signature in (outer, node):
        after = signature.next_named_sibling
        if after is not None and after.type in ("function_body", "Block"):
            return after
    return None


def _close_swallowing_function(open_defs: list[Def], node, lang: str, line_of) -> None:
    """C has no functions in functions: one found right inside a function that
    does not parse (a brace left open mid-edit, or a `#define` in a body that
    tree-sitter's recovery runs to the end of the file) is the next top-level
    function: the broken one is cut at the last line before it, and closed."""
    if lang not in SINGLE_LEVEL_FUNCTIONS or node.type != "function_definition" or not open_defs:
        return
    swallowing = open_defs[-1]
    if swallowing.node.type != "function_definition" or not swallowing.node.has_error:
        return
    row = node.start_point[0] - 1
    while row > swallowing.node.start_point[0] and not line_of(row).strip():
        row -= 1
    swallowing.cut_at = (row, len(line_of(row))) if row >= swallowing.node.start_point[0] else node.start_point
    open_defs.pop()


def _chunked_where_nested(d: Def) -> bool:
    """A function's chunk reads its whole body, nested functions included. A
    function nested one level in it, on lines of its own, may get a chunk too
    (the chunker gives it one where the outer function is too long for one
    chunk), so that a search for what the helper does finds the helper by its
    name and range (`traverse.to_repr`). Deeper ones stay in their outer
    chunks only: each line is then in at most two chunks, and code nested a
    thousand deep stays linear in its size."""
    outer = next((a for a in _ancestors(d) if a.spec.role == "function"), None)
    if outer is None:
        return True
    if d.spec.role != "function" or d.parent is not outer or not outer.chunked \
            or any(a.spec.role == "function" for a in _ancestors(outer)):
        return False
    first, last = d.start_node.start_point[0], d.end_point[0]
    return first > outer.start_node.start_point[0] and last - first + 1 >= MIN_NESTED_LINES


def _ancestors(d: Def):
    p = d.parent
    while p is not None:
        yield p
        p = p.parent


# Languages whose modules hold functions, not methods (a Ruby module's `def`s and
# a Scala object's are methods: of whatever includes it, of the object).
FUNCTION_MODULES = frozenset({"rust", "typescript", "tsx", "solidity", "elixir", "julia", "ocaml"})


def _is_namespace(scope: Def, lang: str) -> bool:
    """A C++, C# or PHP namespace, a Perl package, or a module of FUNCTION_MODULES: it holds functions."""
    return scope.kind in (SymbolKind.Namespace, SymbolKind.Package) \
        or (scope.kind == SymbolKind.Module and lang in FUNCTION_MODULES)


