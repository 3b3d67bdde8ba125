"""Which grammar reads which file, and which of its nodes are definitions.

A definition is either a *function* (its whole body is one chunk, or line windows
when too long; then each function nested one level in it has a chunk too), a *scope*
(a class, interface, module…: its chunk shows its own lines, with the functions
inside collapsed to their first line) or a *name* (a C macro or typedef, a C++, Go or
Rust type alias: a symbol, never a chunk or a container; its lines stay in the chunk around
them). `symbol=False` scopes (a Rust `impl`) name a container but are not symbols
themselves. A *heading* scope without a body (PHP's `namespace App;`) names the
container of what follows it instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..models import SymbolKind

K = SymbolKind


@dataclass(frozen=True)
class Definition:
    kind: SymbolKind
    role: str  # "function" | "scope"
    symbol: bool = True
    needs_body: bool = False  # C-family `struct S;` forward declarations are not definitions
    # Without a body of its own it is a heading: it names the container of the
    # top-level definitions after it, up to the next (PHP's `namespace App;`, Perl's
    # `package Foo::Bar;`), and is a symbol unless `symbol` says not; with a body, a
    # scope like any other.
    heading: bool = False


def _fn(kind: SymbolKind = K.Function) -> Definition:
    return Definition(kind, "function")


def _scope(kind: SymbolKind = K.Class, **kw) -> Definition:
    return Definition(kind, "scope", **kw)


def _name(kind: SymbolKind) -> Definition:
    return Definition(kind, "name")


_JS = {
    "function_declaration": _fn(),
    "generator_function_declaration": _fn(),
    "class_declaration": _scope(),
    "class": _scope(),
    "method_definition": _fn(K.Method),
    # These four, and `export_statement` below, only when their value is a function: `const f = () => …`,
    # `Schema.prototype.add = function (…) {…}`, `{ parse: function (…) {…} }`, `onClick = (e) => …`.
    "variable_declarator": _fn(),
    "assignment_expression": _fn(),
    "pair": _fn(K.Method),
    "field_definition": _fn(K.Method),
    # `export default function () {…}`, `export default () => …`: named after the module.
    "export_statement": _fn(),
}
_TS = {
    **{node: spec for node, spec in _JS.items() if node != "field_definition"},
    "public_field_definition": _fn(K.Method),
    "abstract_class_declaration": _scope(),
    "interface_declaration": _scope(K.Interface),
    "type_alias_declaration": _fn(K.TypeParameter),
    "enum_declaration": _scope(K.Enum),
    "internal_module": _scope(K.Namespace),
    "module": _scope(K.Module),
    "function_signature": _fn(),
    "abstract_method_signature": _fn(K.Method),
}
_C = {
    "function_definition": _fn(),
    "struct_specifier": _scope(K.Struct, needs_body=True),
    "union_specifier": _scope(K.Struct, needs_body=True),
    "enum_specifier": _scope(K.Enum, needs_body=True),
    # What C code is searched for by name as often as its functions (`container_of`,
    # `GList`, `gboolean`), as ctags lists them. Constant macros are left out: the
    # kernel has 5.6 million `#define NAME …` lines (136,283 function-like ones).
    "preproc_function_def": _name(K.Function),
    "type_definition": _name(K.TypeParameter),
}

DEFINITIONS: dict[str, dict[str, Definition]] = {
    "python": {"function_definition": _fn(), "class_definition": _scope()},
    "javascript": _JS,
    "typescript": _TS,
    "tsx": _TS,
    "go": {
        "function_declaration": _fn(),
        "method_declaration": _fn(K.Method),
        "type_spec": _scope(K.Class),  # refined to Struct/Interface by its type
        "type_alias": _name(K.TypeParameter),  # `type A = B`
    },
    "rust": {
        "function_item": _fn(),
        "function_signature_item": _fn(),
        "struct_item": _scope(K.Struct),
        "enum_item": _scope(K.Enum),
        "union_item": _scope(K.Struct),
        "trait_item": _scope(K.Interface),
        "impl_item": _scope(K.Class, symbol=False),
        "mod_item": _scope(K.Module),
        "macro_definition": _fn(),
        "type_item": _name(K.TypeParameter),  # `type Result<T> = …;`
    },
    "java": {
        "class_declaration": _scope(),
        "interface_declaration": _scope(K.Interface),
        "enum_declaration": _scope(K.Enum),
        "record_declaration": _scope(K.Struct),
        "annotation_type_declaration": _scope(K.Interface),
        "method_declaration": _fn(K.Method),
        "constructor_declaration": _fn(K.Constructor),
    },
    "c": _C,
    "cpp": {
        **_C,
        "class_specifier": _scope(K.Class, needs_body=True),
        "namespace_definition": _scope(K.Namespace),
        "alias_declaration": _name(K.TypeParameter),  # `using Handler = std::function<…>;`
    },
    "csharp": {
        "class_declaration": _scope(),
        "interface_declaration": _scope(K.Interface),
        "struct_declaration": _scope(K.Struct),
        "enum_declaration": _scope(K.Enum),
        "record_declaration": _scope(K.Struct),
        "namespace_declaration": _scope(K.Namespace),
        "method_declaration": _fn(K.Method),
        "constructor_declaration": _fn(K.Constructor),
        "local_function_statement": _fn(),
        # A symbol, as an IDE's outline lists it; its lines stay in its class's chunk.
        "property_declaration": _name(K.Property),
    },
    "ruby": {
        "method": _fn(K.Method),
        "singleton_method": _fn(K.Method),
        "class": _scope(),
        "module": _scope(K.Module),
    },
    "php": {
        "function_definition": _fn(),
        "method_declaration": _fn(K.Method),
        "class_declaration": _scope(),
        "interface_declaration": _scope(K.Interface),
        "trait_declaration": _scope(K.Interface),
        "enum_declaration": _scope(K.Enum),
        # Not a symbol: each file repeats its `namespace App\Http;`, and a workspace's
        # symbol search would list it once a file.
        "namespace_definition": _scope(K.Namespace, heading=True, symbol=False),
    },
    "kotlin": {
        "function_declaration": _fn(),
        "class_declaration": _scope(),
        "object_declaration": _scope(),
        "property_declaration": _name(K.Property),  # a file's or a class's, not a local `val`
    },
    "swift": {
        "function_declaration": _fn(),
        "init_declaration": _fn(K.Constructor),
        "class_declaration": _scope(),  # also struct/enum/extension: see chunker
        "protocol_declaration": _scope(K.Interface),
        "property_declaration": _name(K.Property),
    },
    "scala": {
        "function_definition": _fn(),
        "function_declaration": _fn(),
        "class_definition": _scope(),
        "object_definition": _scope(K.Module),
        "trait_definition": _scope(K.Interface),
    },
    "lua": {
        "function_declaration": _fn(),
        # Only with a function as the value: `M.setup = function (…) … end`, `{ open = function … }`.
        "assignment_statement": _fn(),
        "field": _fn(K.Method),
    },
    "bash": {"function_definition": _fn()},
    "solidity": {
        "contract_declaration": _scope(),
        "interface_declaration": _scope(K.Interface),
        "library_declaration": _scope(K.Module),
        "struct_declaration": _scope(K.Struct),
        "enum_declaration": _scope(K.Enum),
        "function_definition": _fn(),
        "modifier_definition": _fn(),
    },
    "dart": {
        "class_definition": _scope(),
        "mixin_declaration": _scope(K.Interface),
        "extension_declaration": _scope(),
        "enum_declaration": _scope(K.Enum),
        # A signature, its body beside it (definitions._detached_body); in a class, inside a `method_signature`.
        "function_signature": _fn(),
        "getter_signature": _fn(K.Property),
        "setter_signature": _fn(K.Property),
        "factory_constructor_signature": _fn(K.Constructor),
    },
    "objc": {
        **_C,
        "class_interface": _scope(),
        "class_implementation": _scope(),
        "protocol_declaration": _scope(K.Interface),
        "method_definition": _fn(K.Method),
    },
    "zig": {
        "FnProto": _fn(),  # its body beside it (definitions._detached_body)
        "VarDecl": _scope(K.Struct),  # only a `struct`, `enum` or `union` bound to a name (definitions._defines)
    },
    "proto": {
        "message": _scope(K.Struct),
        "enum": _scope(K.Enum),
        "service": _scope(K.Interface),
        "rpc": _fn(K.Method),
    },
    "julia": {
        "module_definition": _scope(K.Module),
        "struct_definition": _scope(K.Struct),
        "abstract_definition": _name(K.Interface),
        "function_definition": _fn(),
        "macro_definition": _fn(),
    },
    "r": {"binary_operator": _fn()},  # only `name <- function(…)` (definitions._defines)
    "sql": {
        "create_table": _scope(K.Struct),
        "create_view": _scope(K.Struct),
        "create_materialized_view": _scope(K.Struct),
        "create_type": _scope(K.Struct),
        "create_function": _fn(),
    },
    "perl": {"subroutine_declaration_statement": _fn(), "package_statement": _scope(K.Package, heading=True)},
    "ocaml": {
        "let_binding": _fn(),  # a module's or a file's, not a `let … in` (definitions._defines)
        "module_binding": _scope(K.Module),
        "type_binding": _scope(K.Struct),
    },
    "haskell": {
        # A type signature and the equations after it are one definition (definitions.OVERLOAD_SIGNATURES).
        "signature": _fn(),
        "function": _fn(),
        "bind": _fn(),  # `join = concat`: a file's, a class's or an instance's, not a `where` clause's
        "data_type": _scope(K.Struct),
        "newtype": _scope(K.Struct),
        "type_synomym": _name(K.TypeParameter),
        "class": _scope(K.Interface),
        "instance": _scope(),
    },
    # Terraform's and other HCL: a labelled block, its kind by its type (names.HCL_BLOCK_KINDS).
    "hcl": {"block": _scope()},
    # Every Elixir definition is a call (`def`, `defmodule`): which one, ELIXIR_CALLS says.
    "elixir": {"call": _fn()},
}
ELIXIR_CALLS = {
    "defmodule": _scope(K.Module), "defprotocol": _scope(K.Interface), "defimpl": _scope(K.Class),
    "def": _fn(), "defp": _fn(), "defmacro": _fn(), "defmacrop": _fn(), "defguard": _fn(), "defguardp": _fn(),
    "defdelegate": _fn(),
}
# CUDA's grammar is C++'s with kernels' qualifiers and launches: the same definitions.
DEFINITIONS["cuda"] = DEFINITIONS["cpp"]

# Nodes that wrap a definition and belong to its chunk (decorators, `export`).
WRAPPERS = frozenset({"decorated_definition", "export_statement", "template_declaration", "lexical_declaration", "variable_declaration", "type_declaration", "expression_statement", "method_signature", "implementation_definition", "Decl", "statement", "value_definition"})

EXTENSIONS = {
    "py": "python", "pyi": "python", "pyw": "python",
    "js": "javascript", "mjs": "javascript", "cjs": "javascript", "jsx": "javascript",
    "ts": "typescript", "mts": "typescript", "cts": "typescript", "tsx": "tsx",
    "go": "go", "rs": "rust", "java": "java",
    "c": "c", "h": "c",
    "cc": "cpp", "cpp": "cpp", "cxx": "cpp", "c++": "cpp", "hpp": "cpp", "hh": "cpp", "hxx": "cpp", "ipp": "cpp",
    "cu": "cuda", "cuh": "cuda", "sol": "solidity", "dart": "dart", "ex": "elixir", "exs": "elixir", "mm": "objc", "zig": "zig",
    "proto": "proto", "tf": "hcl", "hcl": "hcl", "jl": "julia", "r": "r", "sql": "sql", "pl": "perl", "pm": "perl", "hs": "haskell", "ml": "ocaml",
    "cs": "csharp", "rb": "ruby", "rake": "ruby", "gemspec": "ruby", "php": "php",
    "kt": "kotlin", "kts": "kotlin", "swift": "swift", "scala": "scala", "sc": "scala",
    "lua": "lua", "sh": "bash", "bash": "bash", "zsh": "bash",
}

SHEBANGS = {"python": "python", "node": "javascript", "bash": "bash", "sh": "bash", "zsh": "bash", "ruby": "ruby", "lua": "lua", "php": "php", "perl": "perl"}


# What only C++ says at the start of a line (a template, a namespace, a class
# with a body or bases, an access label) or anywhere (`std::`): a `.h` header
# holding it is C++, and the C grammar would lose its classes and most methods.
_CPP_ONLY = re.compile(
    r"^[ \t]*(?:template[ \t]*<|namespace[ \t]+\w+[ \t]*(?:\{|$)|using[ \t]+namespace[ \t]"
    r"|class[ \t]+(?:[A-Z][A-Z0-9_]*[ \t]+)?\w+[ \t]*(?:final[ \t]*)?(?:[:{]|$)|(?:public|private|protected)[ \t]*:)"
    r"|\bstd::\w",
    re.MULTILINE,
)


_OBJC = re.compile(r"^[ \t]*(?:@(?:interface|implementation|protocol)\b|#import[ \t]*[<\"])", re.MULTILINE)


def language_for(relpath: str, head: str = "") -> str | None:
    """The language of a file by its name, else by a `#!` line; `head` is the
    start of its text (a `.h` header is C unless it reads as C++)."""
    name = relpath.rsplit("/", 1)[-1]
    if name in ("Rakefile", "Gemfile"):
        return "ruby"
    if "." in name:
        extension = name.rsplit(".", 1)[-1].lower()
        lang = EXTENSIONS.get(extension)
        if lang == "c" and extension == "h" and _CPP_ONLY.search(head):
            return "cpp"
        if extension == "m":  # Objective-C's, or MATLAB's and Octave's (no grammar here: read as text)
            return "objc" if _OBJC.search(head) else None
        if lang:
            return lang
    first_line = head.split("\n", 1)[0]
    if first_line.startswith("#!"):
        words = first_line[2:].replace("/", " ").split()
        for word in reversed(words):
            for prefix, lang in SHEBANGS.items():
                if word.startswith(prefix):
                    return lang
    return None
