"""Docstring → code retrieval eval for Go, Rust, Java, C, C++, Ruby, PHP, Lua, C#, Solidity, Elixir and Haskell: the same eval as
`quality/eval_python.py`, with each language's doc comments in place of docstrings.

The projects are `eval_sets.EVAL_SETS[LANGUAGE]`, fetched from Debian on the
first run. Every doc comment right above a definition is blanked (its lines
kept empty, so line numbers stay); each one above a function or method becomes
a query, its first sentence: Go's leading name dropped ("Parse reads…" asks
"Reads…"), Rust's code blocks and `# Examples` skipped, Javadoc's text before
the first `@tag` with `{@code x}` unwrapped and HTML removed, gtk-doc's and
Doxygen's description past the name and parameters, PHPDoc's, YARD's and
LDoc's text before the first `@tag`, RDoc's past its `call-seq:`, C#'s
`<summary>` with its references as words, NatSpec's `@notice` (else its
`@dev`), Elixir's `@doc` attribute (`elixir_docs`), Haddock's `-- |` with its
markup as words. Test code is left out.
A hit is a result in the right file whose range covers the function's first
line; a strict hit starts there and has the function's name. Same methods,
same scoring, same table:

    python -m benchmarks.quality.eval_lang go --sources /tmp/fathom-eval-sources

Nothing here knows the projects beyond their list. `--project NAME=PATH`
(repeated) asks the same of other trees instead: the validation projects that
ranking choices are made on, never the eval's.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from pathlib import Path

from benchmarks.model.pairs import question_prose
from benchmarks.quality.eval_python import (MIN_QUERY_WORDS, Query, Unit, add_eval_options, evaluate, first_sentence,
                                            write_copy)
from benchmarks.quality.eval_sets import EVAL_SETS, project_root

EXTENSIONS = {"go": (".go",), "rust": (".rs",), "java": (".java",), "c": (".c",), "ruby": (".rb",), "php": (".php",),
              "cpp": (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".h"), "lua": (".lua",), "csharp": (".cs",),
              "solidity": (".sol",), "elixir": (".ex",),
              "haskell": (".hs",)}
SEED = 23


_ELIXIR_DOC = re.compile(r'@doc\s+(?:~[sS])?(?:"""(.*?)"""|"((?:[^"\\]|\\.)*)")', re.DOTALL)


def elixir_docs(grammars, text: str) -> tuple[str, list[tuple[str, int, int, str]]]:
    """Elixir documents a function with an attribute, not a comment: the text with
    each function's `@doc` blanked, and (name, def line, chunk start, prose) of
    each. The chunk starts at the `@spec`, `@impl` and `@doc since: …` lines
    between the doc and the `def`, which Fathom's chunk holds (`chunker._documents`)."""
    from fathom.index.definitions import sibling_before

    data = text.encode("utf-8")
    try:
        defs = grammars.definitions("elixir", data)
    except Exception:  # noqa: BLE001 - a file the grammar fails on: no questions from it
        return text, []
    blank: set[int] = set()
    documented = []
    for d in defs:
        if d.spec.role != "function":
            continue
        start = d.start_node.start_point[0]
        prev = sibling_before(d.start_node)
        while prev is not None and prev.type == "unary_operator" and prev.end_point[0] >= start - 1 \
                and (prev.text.startswith((b"@spec", b"@impl")) or re.match(rb"@doc\s+\w+:", prev.text)):
            start = prev.start_point[0]
            prev = prev.prev_named_sibling
        if prev is None or prev.type != "unary_operator" or not prev.text.startswith(b"@doc"):
            continue
        found = _ELIXIR_DOC.match(prev.text.decode("utf-8", "replace"))
        if found is None:  # `@doc false`
            continue
        blank.update(range(prev.start_point[0], prev.end_point[0] + 1))
        documented.append((d.name, d.start_node.start_point[0], start, found.group(1) or found.group(2) or ""))
    stripped = "\n".join("" if i in blank else line for i, line in enumerate(text.split("\n")))
    return stripped, documented


def prepare_language(language: str, projects: list[tuple[str, Path]], work: Path,
                     max_queries: int) -> tuple[list[Query], list[Unit], list[Path]]:
    from benchmarks.model.pairs import Miner, go_question
    from fathom.index.policy import is_generated, is_test_code, is_vendored

    miner = Miner(every_language=True)
    queries: list[Query] = []
    units: list[Unit] = []
    roots: list[Path] = []
    for name, project in projects:
        root = work / name
        roots.append(root)
        mine: list[Query] = []
        for path in sorted(project.rglob("*")):
            rel = path.relative_to(project).as_posix()
            if not path.is_file() or path.is_symlink() or not path.name.endswith(EXTENSIONS[language]) \
                    or is_test_code(rel) or is_vendored(rel):
                continue
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if is_generated(text):
                continue
            if language == "elixir":
                stripped, with_start = elixir_docs(miner.grammars, text)
            else:
                stripped, documented = miner.comment_docs(text, language)
                with_start = [(fn_name, line, line, prose) for fn_name, line, prose in documented]
            write_copy(root / rel, stripped)
            lines = stripped.split("\n")
            for fn_name, line, start, prose in with_start:
                sentence = first_sentence(question_prose(prose))
                if language == "go":
                    sentence = go_question(sentence, fn_name)
                if len(sentence.split()) >= MIN_QUERY_WORDS:
                    mine.append(Query(name, sentence, rel, line, start, fn_name))
            try:
                defs = miner.grammars.definitions(language, stripped.encode("utf-8"))
            except Exception:  # noqa: BLE001 - a file its grammar fails on: no baseline units from it
                continue
            for d in defs:
                if d.spec.role == "function":
                    first, last = d.start_node.start_point[0], d.outer.end_point[0]
                    units.append(Unit(f"{name}/{rel}", first, last, "\n".join(lines[first:last + 1]), d.name))
        if len(mine) > max_queries:
            mine = sorted(random.Random(SEED).sample(mine, max_queries), key=lambda q: (q.path, q.line))
        queries.extend(mine)
    return queries, units, roots


def named_projects(specs: list[str]) -> list[tuple[str, Path]]:
    """`NAME=PATH` pairs as (name, tree); a tree that is not a folder stops the run."""
    projects = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not Path(path).is_dir():
            raise SystemExit(f"--project wants NAME=PATH of a folder, not {spec!r}")
        projects.append((name, Path(path)))
    return projects


def eval_projects(language: str, sources: Path) -> list[tuple[str, Path]]:
    """The eval's projects of `language`, fetched into `sources` on the first run."""
    from benchmarks.model.mine import fetch

    sources.mkdir(parents=True, exist_ok=True)
    projects = []
    entries = EVAL_SETS[language]
    for kind, spec, subdir in entries:
        tree = fetch(kind, spec, sources)
        # A folder's name: npm's `@scope/name@1.0` without its `@` and `/`; several projects
        # of one package (Elixir's `lib/mix/lib`) named by their folder too.
        name = spec.lstrip("@").replace("/", "-")
        if sum(e[1] == spec for e in entries) > 1:
            name = "-".join([name, *(part for part in subdir.split("/") if part != "lib")])
        projects.append((name, project_root(tree, subdir)))
        print(f"{spec}: {projects[-1][1]}", file=sys.stderr)
    return projects


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("language", choices=sorted(EVAL_SETS))
    parser.add_argument("--sources", type=Path, default=Path("/tmp/fathom-eval-sources"),
                        help="where the eval's packages are fetched and unpacked (once)")
    parser.add_argument("--max-queries", type=int, default=250, help="per project, a seeded sample past this")
    parser.add_argument("--project", action="append", default=[], metavar="NAME=PATH",
                        help="a tree of this language to ask instead of the eval's projects (repeatable)")
    add_eval_options(parser)
    args = parser.parse_args()
    projects = named_projects(args.project) if args.project else eval_projects(args.language, args.sources)
    work = args.work or Path(tempfile.mkdtemp(prefix=f"fathom-eval-{args.language}-"))
    queries, units, roots = prepare_language(args.language, projects, work / "trees", args.max_queries)
    return evaluate(queries, units, roots, work, args)


if __name__ == "__main__":
    raise SystemExit(main())
