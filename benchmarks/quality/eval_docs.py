"""Heading → section retrieval over a project's Markdown documentation: whether
prose stays findable (issue #22's check on a code-tuned model).

Takes unpacked projects (an sdist that ships its docs: starlette, hatch), keeps
their code as it is, and in every Markdown file (release notes, changelogs,
licences and templates left out) turns each heading of level 2 to 4 over a
section of at least MIN_SECTION_WORDS words into a query: the heading's text is
the question, and in the copy it becomes "Section N", so the words asked are
nowhere in the index but the section's meaning is. A hit is a result in the
right file whose range covers the heading's line; a strict hit starts there (the
section's own chunk). Same methods, scoring and table as the code evals:

    python -m benchmarks.quality.eval_docs /tmp/docs-eval/starlette-0.41.3 /tmp/docs-eval/hatch-1.13.0
"""
from __future__ import annotations

import re
from pathlib import Path

from benchmarks.quality.eval_python import Query, Unit, run, write_copy
from fathom.index.policy import is_test_code, is_vendored

MIN_QUERY_WORDS = 2
MIN_SECTION_WORDS = 15
LEFT_OUT = re.compile(r"release|changelog|history|licen[cs]e|template|contributing|code.of.conduct", re.I)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def headings(lines: list[str]) -> list[tuple[int, int, str]]:
    """(line, level, text) of every Markdown heading outside fenced code."""
    found, fenced = [], False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _HEADING.match(line)
        if match:
            found.append((i, len(match.group(1)), match.group(2)))
    return found


def question(heading: str) -> str:
    """A heading as a user would type it: no code marks, links or emphasis."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return " ".join(re.sub(r"[`*_]", " ", text).split())


def prepare(projects: list[Path], work: Path) -> tuple[list[Query], list[Unit], list[Path]]:
    queries: list[Query] = []
    units: list[Unit] = []
    roots: list[Path] = []
    for project in projects:
        root = work / project.name
        roots.append(root)
        for path in sorted(project.rglob("*")):
            rel = path.relative_to(project).as_posix()
            if not path.is_file() or path.is_symlink() or is_vendored(rel) or rel.startswith("."):
                continue
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if not rel.endswith(".md") or is_test_code(rel) or LEFT_OUT.search(rel):
                write_copy(root / rel, text)
                continue
            lines = text.split("\n")
            marks = headings(lines)
            for n, (line, level, heading) in enumerate(marks):
                end = (marks[n + 1][0] if n + 1 < len(marks) else len(lines)) - 1
                section = "\n".join(lines[line + 1:end + 1])
                asked = question(heading)
                name = f"Section {n + 1}"
                lines[line] = "#" * level + " " + name
                units.append(Unit(f"{project.name}/{rel}", line, end, "\n".join([name, section]), name))
                if 2 <= level <= 4 and len(asked.split()) >= MIN_QUERY_WORDS \
                        and len(section.split()) >= MIN_SECTION_WORDS:
                    queries.append(Query(project.name, asked, rel, line, line, name))
            write_copy(root / rel, "\n".join(lines))
    return queries, units, roots


def main() -> int:
    return run(__doc__, prepare, "fathom-eval-docs-")


if __name__ == "__main__":
    raise SystemExit(main())
