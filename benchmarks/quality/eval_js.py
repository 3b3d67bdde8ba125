"""Docstring → code retrieval eval for TypeScript and JavaScript: the same
eval as `quality/eval_python.py`, with JSDoc comments in place of docstrings.

Every `/** ... */` comment that stands on lines of its own is stripped; each
one directly above a function (a declaration, a method, or an arrow function
or function expression bound to a name, a class field or a property) becomes a query: its
first sentence, before any `@tag`. A hit is a result in the right file whose
range covers the function's first line; a strict hit starts there too (or at
its first decorator, or at the first of its TypeScript overload signatures) and has its name.
Same methods, same scoring, same table:

    python -m benchmarks.quality.eval_js /tmp/npmeval/rxjs-7.8.1/package/src ...

Nothing here knows the projects: any folder of .ts/.tsx/.js/.mjs/.cjs works.
"""
from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).resolve().parent

from fathom.index.names import module_name

from benchmarks.quality.eval_python import MIN_QUERY_WORDS, Query, Unit, first_sentence, run, write_copy

GRAMMARS = {".ts": "typescript", ".tsx": "tsx", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
            ".jsx": "javascript"}
FUNCTIONS = {"function_declaration", "generator_function_declaration", "method_definition"}
FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}
SKIPPED_DIRS = {"node_modules", "dist", "build", "__tests__", "test", "tests", "spec"}


def _parsers():
    from tree_sitter_language_pack import get_parser

    return {name: get_parser(name) for name in set(GRAMMARS.values())}


def jsdoc_sentence(comment: str) -> str:
    body = comment[3:-2]
    lines = [re.sub(r"^\s*\*?\s?", "", line) for line in body.split("\n")]
    prose = []
    for line in lines:
        if line.lstrip().startswith("@"):
            break
        prose.append(line)
    return first_sentence("\n".join(prose))


def _function_of(node):
    """The function a node declares, looking through `export` and `const x = () => …`."""
    if node.type == "export_statement":
        inner = node.child_by_field_name("declaration")
        return _function_of(inner) if inner is not None else None
    if node.type in FUNCTIONS:
        return node
    if node.type in ("lexical_declaration", "variable_declaration"):
        declarators = [c for c in node.named_children if c.type == "variable_declarator"]
        if len(declarators) == 1:
            value = declarators[0].child_by_field_name("value")
            if value is not None and value.type in FUNCTION_VALUES:
                return node
    if node.type == "expression_statement" and node.named_children \
            and node.named_children[0].type == "assignment_expression":
        value = node.named_children[0].child_by_field_name("right")
        if value is not None and value.type in FUNCTION_VALUES:
            return node  # `Schema.prototype.add = function (…) {…}`
    if node.type in ("public_field_definition", "field_definition"):
        value = node.child_by_field_name("value")
        if value is not None and value.type in FUNCTION_VALUES:
            return node
    return None


def strip_file(source: str, parser, module: str = "") -> tuple[str, list[tuple[str, int, int, str]], list[tuple[int, int]]]:
    """The source without JSDoc comments, (name, new def line, new start line,
    sentence) per documented function, and (new first, new last line, name) of every
    function; `module` names the module's anonymous export, as it is imported."""
    data = source.encode("utf-8")
    tree = parser.parse(data)
    lines = source.split("\n")
    cuts: list[tuple[int, int]] = []  # 0-based inclusive line spans to delete
    documented: list[tuple[object, str]] = []
    functions: list[object] = []

    def visit(node) -> None:
        children = node.named_children
        for i, child in enumerate(children):
            if child.type == "comment":
                text = data[child.start_byte:child.end_byte].decode("utf-8", "replace")
                (sl, sc), (el, ec) = child.start_point, child.end_point
                alone = not lines[sl][:sc].strip() and not lines[el][ec:].strip()
                if text.startswith("/**") and alone:
                    cuts.append((sl, el))
                    following = children[i + 1] if i + 1 < len(children) else None
                    target = _function_of(following) if following is not None else None
                    if target is not None and not "".join(lines[el + 1:following.start_point[0]]).strip():
                        documented.append((following, jsdoc_sentence(text)))
                continue
            if _function_of(child) is not None:
                functions.append(child)
            visit(child)

    visit(tree.root_node)
    cut_lines = {line for first, last in cuts for line in range(first, last + 1)}
    new_index, kept = {}, []
    for i, line in enumerate(lines):
        if i not in cut_lines:
            new_index[i] = len(kept)
            kept.append(line)

    def name_of(node) -> str:
        target = _function_of(node)
        for field in ("name",):
            named = target.child_by_field_name(field)
            if named is not None:
                return data[named.start_byte:named.end_byte].decode()
        if target.type == "expression_statement":
            assignment = target.named_children[0]
            named = assignment.child_by_field_name("left")
            text = data[named.start_byte:named.end_byte].decode()
            own = assignment.child_by_field_name("right").child_by_field_name("name")
            if text.rsplit(".", 1)[-1] == "exports" and (own is not None or module):
                # `module.exports = function castString(…)`: the module's slot is no
                # name; what its readers (and Fathom's outline) call it is the function's
                # own, or the module's (`require('./isObject')`) when it has none.
                return data[own.start_byte:own.end_byte].decode() if own is not None else module
            return text.rsplit(".", 1)[-1]
        declarator = next((c for c in target.named_children if c.type == "variable_declarator"), None)
        named = declarator.child_by_field_name("name") if declarator is not None else None
        return data[named.start_byte:named.end_byte].decode() if named is not None else "?"

    def first_line(node) -> int:
        """Its first decorator, or the first of the overload signatures right above
        it: in TypeScript those are part of the function's declaration."""
        decorators = [c for c in node.children if c.type == "decorator"]
        first = min([node.start_point[0]] + [d.start_point[0] for d in decorators])
        name = name_of(node)
        previous = node.prev_named_sibling
        while previous is not None:
            if previous.type != "comment":
                signature = previous.child_by_field_name("declaration") \
                    if previous.type == "export_statement" else previous
                named = signature.child_by_field_name("name") if signature is not None else None
                if signature is None or signature.type != "function_signature" or named is None \
                        or data[named.start_byte:named.end_byte].decode() != name:
                    break
                first = previous.start_point[0]
            previous = previous.prev_named_sibling
        return first

    found = []
    for node, sentence in documented:
        if len(sentence.split()) < MIN_QUERY_WORDS:
            continue
        def_line = _def_line(node)
        found.append((name_of(node), new_index[def_line], new_index[first_line(node)], sentence))
    spans = [(new_index[first_line(n)], new_index[n.end_point[0]], name_of(n)) for n in functions
             if first_line(n) in new_index and n.end_point[0] in new_index]
    return "\n".join(kept), found, spans


def _def_line(node) -> int:
    """The line a reader would call the function's: past its decorators."""
    target = _function_of(node)
    keyword = next((c for c in target.children if c.type != "decorator"), target)
    return max(node.start_point[0], keyword.start_point[0])


def prepare(projects: list[Path], work: Path) -> tuple[list[Query], list[Unit], list[Path]]:
    parsers = _parsers()
    queries: list[Query] = []
    units: list[Unit] = []
    roots: list[Path] = []
    for project in projects:
        name = next(p.name for p in (project, *project.parents) if p.name not in ("src", "lib", "package"))
        root = work / name
        roots.append(root)
        for path in sorted(project.rglob("*")):
            grammar = GRAMMARS.get(path.suffix)
            rel = path.relative_to(project)
            if grammar is None or not path.is_file() or SKIPPED_DIRS & set(rel.parts[:-1]) \
                    or path.name.endswith((".d.ts", ".min.js")):
                continue
            try:
                stripped, documented, spans = strip_file(path.read_text(encoding="utf-8"), parsers[grammar],
                                                         module_name(rel.as_posix()))
            except (UnicodeDecodeError, KeyError):
                continue
            write_copy(root / rel, stripped)
            queries.extend(Query(name, sentence, rel.as_posix(), line, start, fn_name)
                           for fn_name, line, start, sentence in documented)
            stripped_lines = stripped.split("\n")
            for first, last, fn_name in spans:
                units.append(Unit(f"{name}/{rel.as_posix()}", first, last, "\n".join(stripped_lines[first:last + 1]),
                                  fn_name))
    return queries, units, roots


def main() -> int:
    return run(__doc__, prepare, "fathom-eval-js-")


if __name__ == "__main__":
    raise SystemExit(main())
