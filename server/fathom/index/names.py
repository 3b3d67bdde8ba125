"""What a definition is called, and what kind it is, read from its syntax node
language by language: the names half of `definitions.py`."""
from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..models import SymbolKind

IDENTIFIER_TYPES = frozenset(
    {
        "identifier", "type_identifier", "field_identifier", "property_identifier",
        "simple_identifier", "constant", "name", "word", "namespace_identifier",
        "destructor_name", "operator_name", "qualified_identifier", "scoped_identifier",
        "dot_index_expression", "method_index_expression", "private_property_identifier",
        "IDENTIFIER",  # Zig's
        "message_name", "enum_name", "service_name", "rpc_name",  # Protocol Buffers'
        "value_name", "module_name",  # OCaml's
    }
)
MAX_NAME = 120
# `exports.f = …`, `A.prototype.f = …`: these parts of an assignment's target say
# nothing a reader would call a container.
NOT_CONTAINERS = frozenset({"prototype", "exports", "module", "this"})
_DOTTED_NAME = re.compile(r"[\w$]+(?:\.[\w$]+)*")


def definition_name(node, lang: str, data: bytes, module: str = "") -> str:
    """The name a definition goes by ("" for none): `module`, what the file is
    imported as, names a module's one anonymous export."""
    reader = _NAME_READERS.get(lang)
    if reader is not None:
        return reader(node, data)
    if node.type == "type_definition":
        return _typedef_name(node, data)
    return _name_of(node, data) or (module if module and _exported_whole(node, data) else "")


def module_name(relpath: str) -> str:
    """What a module is imported as: its file's name, or its folder's for an
    `index.js` (`require('./populate')` loads `populate/index.js`)."""
    parts = PurePosixPath(relpath).parts
    if not parts:
        return ""
    stem = parts[-1].split(".", 1)[0]
    if stem == "index" and len(parts) > 1:
        return parts[-2]
    return stem


_TOP_LEVEL_STATEMENT_PARTS = frozenset({"expression_statement", "assignment_expression", "variable_declarator",
                                        "variable_declaration", "lexical_declaration"})


def _exported_whole(node, data: bytes) -> bool:
    """`module.exports = function (…) {…}`, `export default () => …`, `export
    default class {…}`: a module's one export, with no name of its own. Only at
    the file's top level: a bundle (browserify's, django's vendored xregexp)
    wraps many modules' `module.exports` in functions of one file, none of them
    the file's."""
    if node.type == "assignment_expression":
        target = node.child_by_field_name("left")
        if target is None or data[target.start_byte:target.end_byte] != b"module.exports":
            return False
        outer = node.parent  # through `var proto = module.exports = function (…)` (express's router)
        while outer is not None and outer.type in _TOP_LEVEL_STATEMENT_PARTS:
            outer = outer.parent
        return outer is not None and outer.type == "program"
    if node.type == "export_statement":
        return True  # only captured with a function as its value (FUNCTION_VALUE_FIELD)
    parent = node.parent
    return node.type == "class" and parent is not None and parent.type == "export_statement"


def elixir_target(call, data: bytes) -> str:
    target = call.child_by_field_name("target")
    return data[target.start_byte:target.end_byte].decode("utf-8", "replace") \
        if target is not None and target.type == "identifier" else ""


def _elixir_name(call, data: bytes) -> str:
    """`Shop.Cart` of `defmodule Shop.Cart do`, `add` of `def add(cart, item) do`
    (and of `def add(x) when …`, `def zero do`)."""
    arguments = next((c for c in call.named_children if c.type == "arguments"), None)
    head = arguments.named_children[0] if arguments is not None and arguments.named_children else None
    if head is not None and head.type == "binary_operator":  # a guard: `name(args) when …`
        head = head.child_by_field_name("left")
    if head is not None and head.type == "call":
        head = head.child_by_field_name("target")
    if head is None or head.type not in ("identifier", "alias"):
        return ""
    return data[head.start_byte:head.end_byte].decode("utf-8", "replace")


def _julia_name(node, data: bytes) -> str:
    """`area` of `function area(s::Shape)`, `Base.show` of `function Base.show(io, x)`,
    `Point` of `struct Point{T} <: Shape`; a module's from its `name` field."""
    named = node.child_by_field_name("name")
    head = named or next((c for c in node.named_children if c.type in ("signature", "type_head")), None)
    while head is not None and head.type not in ("identifier", "field_expression"):
        head = head.named_children[0] if head.named_child_count else None
    return data[head.start_byte:head.end_byte].decode("utf-8", "replace") if head is not None else ""


HCL_BLOCK_KINDS = {"resource": SymbolKind.Class, "data": SymbolKind.Class, "module": SymbolKind.Module,
                   "variable": SymbolKind.Variable, "output": SymbolKind.Property, "provider": SymbolKind.Namespace}


def _hcl_name(block, data: bytes) -> str:
    """A labelled block by its labels, as Terraform addresses it (`aws_s3_bucket.logs`
    of `resource "aws_s3_bucket" "logs" {`, `region` of `variable "region" {`);
    "" for a block without labels (`locals`, `lifecycle`)."""
    labels = [n for n in block.named_children if n.type in ("identifier", "string_lit")][1:]
    return ".".join(data[n.start_byte:n.end_byte].decode("utf-8", "replace").strip('"') for n in labels)


def zig_container(var_decl):
    """The `struct`/`enum`/`union` a Zig constant is bound to, or None."""
    value = var_decl.named_children[1] if var_decl.named_child_count > 1 else None
    while value is not None and value.type in ("ErrorUnionExpr", "SuffixExpr"):
        value = value.named_children[0] if value.named_child_count else None
    return value if value is not None and value.type == "ContainerDecl" else None


def _sql_name(node, data: bytes) -> str:
    """`public.orders` of `CREATE TABLE public.orders (…)`: its schema a container."""
    named = next((c for c in node.named_children if c.type == "object_reference"), None)
    return data[named.start_byte:named.end_byte].decode("utf-8", "replace") if named is not None else ""


def _typedef_name(typedef, data: bytes) -> str:
    """The name a `typedef` gives (`typedef int (*compare_fn)(…)`: `compare_fn`).
    `typedef struct {…} point_t;` is the only name its struct has: the struct
    has no chunk of its own, its lines stay in the chunk around them."""
    pending = [typedef.child_by_field_name("declarator")]
    while pending:
        n = pending.pop(0)
        if n is None:
            continue
        if n.type in ("type_identifier", "primitive_type"):
            return data[n.start_byte:n.end_byte].decode("utf-8", "replace")
        if n.type != "parameter_list":
            pending.extend(n.named_children)
    return ""


def _name_of(node, data: bytes) -> str:
    def text(n) -> str:
        return data[n.start_byte:n.end_byte].decode("utf-8", "replace")

    if node.type == "impl_item":
        target = node.child_by_field_name("type")
        if target is not None and target.type == "generic_type":  # `impl<K, V> Map<K, V>` is `Map`'s
            target = target.child_by_field_name("type") or target
        return text(target) if target is not None else ""
    named = node.child_by_field_name("name")
    if named is not None and named.type == "template_type":  # `struct convert<std::vector<T>>`: `convert`
        named = named.child_by_field_name("name") or named
    if named is not None and node.type == "field" and named.type == "string":  # Lua's `["close"] = function …`
        named = next((c for c in named.named_children if c.type == "string_content"), None)
    if named is not None:
        return text(named).strip()
    if node.type == "assignment_expression":
        return _assigned_name(node, text)
    if node.type == "property_declaration":  # Kotlin's `val size: Int`: the name is in its variable
        variable = next((c for c in node.named_children if c.type == "variable_declaration"), None)
        named = next((c for c in variable.named_children if c.type in IDENTIFIER_TYPES), None) if variable else None
        if named is not None:
            return text(named)
    if node.type == "assignment_statement":  # Lua's `M.setup = function …`: `M.setup`, not `a[i]`
        target = next(c for c in node.named_children if c.type == "variable_list").named_children[0]
        dotted = text(target)
        return dotted if target.type in ("identifier", "dot_index_expression") and _DOTTED_NAME.fullmatch(dotted) else ""
    if node.type in ("pair", "field_definition"):  # `{ parse: function … }`, `onClick = () => …`
        named = node.child_by_field_name("key") or node.child_by_field_name("property")
        if named is None or named.type not in ("property_identifier", "private_property_identifier", "string"):
            return ""
        return text(named).strip("'\"` ")
    declarator = node.child_by_field_name("declarator")
    while declarator is not None:
        if declarator.type in IDENTIFIER_TYPES:
            return text(declarator)
        if declarator.type == "operator_cast":  # `operator bool() const`
            target = declarator.child_by_field_name("type")
            return f"operator {text(target)}" if target is not None else "operator"
        # C++'s `T& f()` and `T&& f()`: the reference declarator holds the function's
        # declarator as a plain child, not a field (else the return type was taken for the name).
        declarator = declarator.child_by_field_name("declarator") or declarator.child_by_field_name("name") \
            or next((c for c in declarator.named_children if c.type.endswith("declarator")), None)
    for child in node.named_children:
        if child.type in IDENTIFIER_TYPES:
            return text(child)
    return ""


def lua_assigned_function(node):
    """The function of Lua's `M.setup = function (…) … end` or `local f =
    function …`: one name, one value, and the value a function."""
    names = next((c for c in node.named_children if c.type == "variable_list"), None)
    values = next((c for c in node.named_children if c.type == "expression_list"), None)
    if names is None or values is None or names.named_child_count != 1 or values.named_child_count != 1:
        return None
    value = values.named_children[0]
    return value if value.type == "function_definition" else None


def go_receiver_type(node, data: bytes) -> str:
    """`Server` of `func (s *Server[T]) Serve()`."""
    receiver = node.child_by_field_name("receiver")
    pending = [receiver] if receiver is not None else []
    while pending:
        n = pending.pop(0)
        if n.type == "type_identifier":
            return data[n.start_byte:n.end_byte].decode("utf-8", "replace")[:MAX_NAME]
        if n.type != "identifier":  # the receiver's own name comes first
            pending.extend(n.named_children)
    return ""


def _assigned_name(node, text) -> str:
    """`f`, or the dotted `A.prototype.f`, for `… = function …`; `module.exports =
    function createApp()` is called by the function's own name."""
    target = node.child_by_field_name("left")
    if target is None or target.type not in ("identifier", "member_expression"):
        return ""
    dotted = text(target)
    if dotted.rpartition(".")[2] in NOT_CONTAINERS:
        own = node.child_by_field_name("right").child_by_field_name("name")
        return text(own) if own is not None else ""
    return dotted if _DOTTED_NAME.fullmatch(dotted) else ""  # not `a[i] = …`, `f().g = …`


def refine_kind(node, kind: SymbolKind) -> SymbolKind:
    """The kind the node's own words say, where its type alone does not: a Go
    `type_spec`'s struct or interface, Swift's `struct`, Kotlin's `interface`, a
    Terraform block's `resource` or `variable`, a Zig container's `enum`, an
    OCaml binding's parameters."""
    if node.type == "let_binding":  # OCaml's: `let add x y = …` a function, `let limit = 10` a value
        body = node.child_by_field_name("body")
        takes = any(c.type == "parameter" for c in node.named_children) or (
            body is not None and body.type in ("fun_expression", "function_expression"))
        return kind if takes else SymbolKind.Variable
    if node.type == "VarDecl":  # Zig's: the kind of the container it is bound to
        container = zig_container(node)
        return refine_kind(container, kind) if container is not None else kind
    if node.type == "block" and node.named_child_count:  # HCL's
        return HCL_BLOCK_KINDS.get(node.named_children[0].text.decode("utf-8", "replace"), kind)
    if node.type == "ContainerDecl":  # Zig's
        declared = node.named_children[0].text if node.named_child_count else b""
        return SymbolKind.Enum if declared.startswith(b"enum") else SymbolKind.Struct
    if node.type == "type_definition":  # `typedef struct _GList GList;` is a struct's name
        inner = node.child_by_field_name("type")
        if inner is not None and inner.type in ("struct_specifier", "union_specifier", "class_specifier"):
            return SymbolKind.Struct
        if inner is not None and inner.type == "enum_specifier":
            return SymbolKind.Enum
        return kind
    if node.type == "type_spec":
        inner = node.child_by_field_name("type")
        if inner is not None and inner.type == "struct_type":
            return SymbolKind.Struct
        if inner is not None and inner.type == "interface_type":
            return SymbolKind.Interface
        # `type mode byte`, `type HandlerFunc func(…)`: a named type, not a class.
        # LSP has no kind for it; TypeParameter is the nearest (rust-analyzer's for aliases).
        return SymbolKind.TypeParameter
    if node.type == "class_declaration" and node.child_count:
        keyword = node.children[0].type
        if keyword == "struct":
            return SymbolKind.Struct
        if keyword == "enum":
            return SymbolKind.Enum
        if "interface" in (c.type for c in node.children[:2]):  # Kotlin's `interface`, `fun interface`
            return SymbolKind.Interface
    return kind


# Languages whose definitions name themselves in a way of their own.
_NAME_READERS = {"elixir": _elixir_name, "julia": _julia_name, "hcl": _hcl_name, "sql": _sql_name}
