"""Documented definitions -> (question, code) pairs, in the exact form Fathom embeds.

For each file of a source tree: the doc of every documented function or method
(a Python docstring; a doc comment right above the definition in the other
languages) becomes the question, its first sentence and its first paragraph;
the doc is removed from the file (Python: cut, as the quality eval does; other
languages: its lines blanked, so line numbers stay), the stripped file is
chunked by Fathom's own chunker, and the first window of the definition's chunk,
header included, is the code. Test code, vendored code and generated code are
never targets. The quality evals (`benchmarks/quality/`) ask the same kind of
question of other projects; the language rules below are theirs too.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from fathom.config import DEFAULT_MODEL
from fathom.embed.modelspec import resolve_model
from fathom.index.chunker import Chunker
from fathom.index.definitions import Grammars, sibling_before
from fathom.index.languages import language_for
from fathom.index.policy import is_generated, is_test_code, is_vendored
from fathom.index.tokens import TokenCounter

MIN_QUERY_WORDS = 4
MAX_FILE_BYTES = 512 * 1024


@dataclass(frozen=True)
class Pair:
    query: str  # the doc's first sentence
    summary: str  # its first paragraph (the same as `query` for one-sentence docs)
    code: str  # what the model reads for the definition: header and stripped code
    language: str
    source: str  # package name and version
    path: str
    name: str

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def code_hash(self) -> str:
        return hashlib.blake2b(self.code.encode(), digest_size=12).hexdigest()


def first_sentence(text: str) -> str:
    first = re.split(r"(?<=[.!?])\s|\n\s*\n", text.strip(), maxsplit=1)[0]
    return " ".join(first.split())


def first_paragraph(text: str) -> str:
    return " ".join(re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0].split())


# -- doc comments, language by language --------------------------------------------------

_HTML_TAG = re.compile(r"<[^>]+>")
_INLINE_TAG = re.compile(r"\{@(?:code|link|linkplain|literal|value)\s+([^}]*)\}")


def comment_prose(comment: str, language: str) -> str:
    """The prose of a doc comment: markers removed, code blocks and tags dropped."""
    text = comment.strip()
    if text.startswith("/*"):
        text = text[3:] if text.startswith("/**") or text.startswith("/*!") else text[2:]
        text = text[:-2] if text.endswith("*/") else text
        lines = [re.sub(r"^\s*\*?\s?", "", line) for line in text.split("\n")]
    elif language == "haskell":  # Haddock: `-- | Summary.` and `--` lines, or a `{- | … -}` block
        text = re.sub(r"^\{-\s*\|?|-\}$", "", text.strip())
        lines = [_haddock_words(re.sub(r"^\s*--\s?\|?\s?", "", line)) for line in text.split("\n")]
    elif language == "lua":  # LDoc: `--- Summary.` and `-- @param` lines; a rule of dashes is no prose
        lines = [re.sub(r"^\s*---?\s?", "", line) for line in text.split("\n") if not re.fullmatch(r"\s*-+\s*", line)]
    else:
        lines = [re.sub(r"^\s*(//!|///?|#)\s?", "", line) for line in text.split("\n")]
    if language in ("c", "cpp"):
        lines = _past_gtk_doc_header(lines)
    if language == "csharp":
        lines = _xml_doc_summary(lines)
    if language == "solidity":
        lines = _natspec_description(lines)
    prose: list[str] = []
    in_code = False
    for line in lines:
        line = _BRIEF.sub(r"\1", line)  # Doxygen's `@brief Summary.` is the summary, not a tag
        stripped = line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        if stripped.startswith(("@", "\\param", "# ", "Returns:", "Return value:", "Since:", "Deprecated:")):
            break  # Javadoc/Doxygen tags, Rust's `# Examples` sections: the summary is above them
        prose.append(line)
    text = "\n".join(prose)
    if language in ("java", "kotlin", "scala", "cpp", "c", "csharp", "php"):
        text = _INLINE_TAG.sub(r"\1", text)
        text = _HTML_TAG.sub("", text)
    if language in ("c", "cpp"):
        text = _GTK_DOC_SIGIL.sub(r"\1", text)  # `#GString`, `%NULL`, `@string`: the word itself
    return text


_BRIEF = re.compile(r"^(\s*)[\\@]brief\s+")
_GTK_DOC_NAME = re.compile(r"^\s*[A-Za-z_][\w:]*:\s*(\([^)]*\)\s*)*$")
_GTK_DOC_SIGIL = re.compile(r"[#%@]([A-Za-z_]\w*)")


_XML_DOC_SUMMARY = re.compile(r"<summary>(.*?)</summary>", re.DOTALL)
# `<see cref="T:Ns.Type.Member"/>`, `<paramref name="x"/>`, `<see langword="null"/>`: the word itself.
_XML_DOC_REFERENCE = re.compile(r"<(?:see|seealso|paramref|typeparamref)\s+(?:cref|name|langword)=\"(?:\w:)?([^\"]*?)\"\s*/>")


def _xml_doc_summary(lines: list[str]) -> list[str]:
    """C#'s XML doc comment: what the member does is its `<summary>`; the
    parameters and return value follow in elements of their own."""
    text = "\n".join(lines)
    summary = _XML_DOC_SUMMARY.search(text)
    text = summary.group(1) if summary else text
    text = _XML_DOC_REFERENCE.sub(lambda m: m.group(1).split("(")[0].rsplit(".", 1)[-1], text)
    return text.split("\n")


def _haddock_words(line: str) -> str:
    """Haddock's markup as the words it marks: 'Parser', @code@; an /O(n)/ cost dropped."""
    line = re.sub(r"'([\w.']+)'", r"\1", line)
    line = re.sub(r"@([^@\n]*)@", r"\1", line)
    return re.sub(r"/O\([^)]*\)/\s*", "", line)


_NATSPEC_TAG = re.compile(r"^\s*@(\w+)\s?(.*)$")


def _natspec_description(lines: list[str]) -> list[str]:
    """Solidity's NatSpec: what a function does is its `@notice` (written for its
    callers), else its `@dev`, else the text before the first tag; `{Transfer}`
    cross-references read as the word."""
    sections: dict[str, list[str]] = {"": []}
    tag = ""
    for line in lines:
        opened = _NATSPEC_TAG.match(line)
        if opened:
            tag = opened.group(1)
            line = opened.group(2)
        sections.setdefault(tag, []).append(line)
    for wanted in ("notice", "dev", ""):
        section = sections.get(wanted, [])
        if any(line.strip() for line in section):
            return [re.sub(r"\{(\w+)\}", r"\1", line) for line in section]
    return []


def _past_gtk_doc_header(lines: list[str]) -> list[str]:
    """A gtk-doc comment (glib, libxml2) opens with `name:` and its `@param:`
    lines; the description is the paragraph after them."""
    at = next((i for i, line in enumerate(lines) if line.strip()), None)
    if at is None or not _GTK_DOC_NAME.match(lines[at]):
        return lines
    at += 1
    while at < len(lines) and lines[at].strip():
        at += 1  # the parameters, up to the blank line
    return lines[at:]


def go_question(sentence: str, name: str) -> str:
    """Go's convention starts a doc comment with the name: "Parse reads…" asks "reads…"."""
    words = sentence.split(" ", 1)
    if len(words) == 2 and words[0].strip(",.") in (name, f"{name}s"):
        return words[1][:1].upper() + words[1][1:]
    if len(words) == 2 and words[0] in ("A", "An", "The") and words[1].split(" ", 1)[0] == name:
        rest = words[1].split(" ", 1)
        return rest[1][:1].upper() + rest[1][1:] if len(rest) == 2 else sentence
    return sentence


DOC_COMMENT = {
    # language -> whether a comment's text is a doc comment there
    "go": lambda c: c.startswith("//"),
    "rust": lambda c: c.startswith("///") and not c.startswith("////"),
    "java": lambda c: c.startswith("/**"),
    "kotlin": lambda c: c.startswith("/**"),
    "c": lambda c: c.startswith("/**") or c.startswith("///") or c.startswith("/*!"),
    "cpp": lambda c: c.startswith("/**") or c.startswith("///") or c.startswith("/*!"),
    "javascript": lambda c: c.startswith("/**"),
    "typescript": lambda c: c.startswith("/**"),
    "tsx": lambda c: c.startswith("/**"),
}

# The doc comments of the languages the first two sources lists were mined without
# (`sources.EARLIER_LISTS`: their pairs stay as the shipped v3 read them), which the
# per-language evals read by the same rules: Ruby's `#` lines (RDoc, YARD), PHPDoc,
# C++'s Doxygen in each of its forms, Lua's `--` lines (LDoc), C#'s `///` XML,
# Solidity's NatSpec, Haskell's Haddock.
_RUBY_NOT_DOC = ("#!", "# frozen_string_literal", "# -*-", "# rubocop:", "# :nodoc:", "# encoding:")
_LUA_NOT_DOC = ("--[[", "--]]", "-- luacheck:", "--luacheck:", "-- -*-", "--!")
MORE_DOC_COMMENT = {
    "ruby": lambda c: c.startswith("#") and not c.startswith(_RUBY_NOT_DOC),
    "php": lambda c: c.startswith("/**"),
    "cpp": lambda c: DOC_COMMENT["cpp"](c) or c.startswith("//!"),
    "lua": lambda c: c.startswith("--") and not c.startswith(_LUA_NOT_DOC),
    "csharp": lambda c: c.startswith("///") and not c.startswith("////"),
    "solidity": lambda c: (c.startswith("///") and not c.startswith("////")) or c.startswith("/**"),
    "haskell": lambda c: c.startswith(("-- |", "{- |")),
}


def question_prose(prose: str) -> str:
    """RDoc's `call-seq:` block (the method's calling forms) is not what it does:
    the description is the paragraph after it. A Doxygen `//! brief` line above
    a `/*! details */` block: the block is a paragraph of its own."""
    prose = re.sub(r"^[ \t]*/\*[*!]?", "\n", prose, flags=re.MULTILINE).replace("*/", "")
    if prose.lstrip().startswith("call-seq:"):
        _, _, rest = prose.lstrip().partition("\n\n")
        return rest
    return prose


# -- mining one file ------------------------------------------------------------------

class Miner:
    """`every_language`: read MORE_DOC_COMMENT's doc comments too, as the per-language
    evals do; without it, only DOC_COMMENT's, as the earlier lists were mined."""

    def __init__(self, model: str = DEFAULT_MODEL, every_language: bool = False):
        spec = resolve_model(model)
        counter = TokenCounter(spec.tokenizer_json)
        self.chunker = Chunker(counter, spec.max_tokens)
        self.grammars = Grammars()
        self.every_language = every_language
        self.doc_comment = {**DOC_COMMENT, **MORE_DOC_COMMENT} if every_language else DOC_COMMENT

    def without_docs(self, relpath: str, text: str) -> tuple[str, str, list[tuple[str, int, str]]] | None:
        """(language, the file with its docs removed, (name, def line, doc) of each
        documented definition) of a file that can hold targets; None for any other."""
        if is_test_code(relpath) or is_vendored(relpath) or is_generated(text) or len(text) > MAX_FILE_BYTES \
                or relpath.endswith(".d.ts"):  # declarations: a signature is not the code a question wants
            return None
        # The first line alone, as when the shipped model's pairs were mined (a `.h` stays C): a rebuild mines them again.
        language = language_for(relpath, text[:200].split("\n", 1)[0])
        if language == "python":
            return language, *_python_docs(text)
        if language in self.doc_comment:
            return language, *self.comment_docs(text, language)
        return None

    def file_codes(self, relpath: str, text: str) -> list[str]:
        """What the model reads for every chunk of the file with its docs removed:
        the code a search of the project ranks a question's answer among."""
        found = self.without_docs(relpath, text)
        if found is None:
            return []
        return [c.embed_text for c in self.chunker.chunk_source(relpath, found[1])[2]]

    def file_pairs(self, source: str, relpath: str, text: str) -> list[Pair]:
        found = self.without_docs(relpath, text)
        if found is None or not found[2]:
            return []
        language, stripped, documented = found
        _, _, chunks = self.chunker.chunk_source(relpath, stripped)
        pairs = []
        for name, line, doc in documented:
            if self.every_language:
                doc = question_prose(doc)
            chunk = next((c for c in chunks if c.name == name and c.range.start_line <= line <= c.range.end_line
                          and not c.continues_a_definition), None)
            sentence = first_sentence(doc)
            if language == "go":
                sentence = go_question(sentence, name)
            if chunk is None or len(sentence.split()) < MIN_QUERY_WORDS:
                continue
            summary = first_paragraph(doc)
            if language == "go":
                summary = go_question(summary, name)
            pairs.append(Pair(sentence, summary, chunk.embed_text, language, source, relpath, name))
        return pairs

    def comment_docs(self, text: str, language: str) -> tuple[str, list[tuple[str, int, str]]]:
        """The text with every doc comment's lines blanked, and (name, def line,
        prose) of each function or method right below one (the miner's rules say
        which comments are docs)."""
        data = text.encode("utf-8")
        lines = text.split("\n")
        try:
            defs = self.grammars.definitions(language, data)
        except Exception:  # noqa: BLE001 - a grammar that fails: no pairs from this file
            return text, []
        is_doc = self.doc_comment[language]
        blank: set[int] = set()
        documented = []
        for d in defs:
            if d.spec.role == "name":  # a macro's or typedef's comment is no function's doc, and stays
                continue
            first = d.start_node
            comments = []
            prev = sibling_before(first)
            next_line = first.start_point[0]
            # Rust's `#[inline]`, `#[must_use]` stand between a doc comment and its `fn`.
            while prev is not None and ("comment" in prev.type or prev.type in ("attribute_item", "haddock")) \
                    and prev.end_point[0] >= next_line - 1 \
                    and not (prev.end_point[0] == next_line - 1 and prev.end_point[1] == 0):
                if prev.type != "attribute_item":
                    comments.append(prev)
                next_line = prev.start_point[0]
                prev = prev.prev_named_sibling
            texts = [data[c.start_byte:c.end_byte].decode("utf-8", "replace").strip() for c in reversed(comments)]
            if not texts or not all(is_doc(t) for t in texts):
                continue
            for c in comments:
                # A line comment may end at column 0 of the next line (Rust's take their newline).
                last = c.end_point[0] - 1 if c.end_point[1] == 0 and c.end_point[0] > c.start_point[0] else c.end_point[0]
                blank.update(range(c.start_point[0], last + 1))
            if d.spec.role == "function":
                prose = comment_prose("\n".join(texts), language)
                documented.append((d.name, first.start_point[0], prose))
        stripped = "\n".join("" if i in blank else line for i, line in enumerate(lines))
        return stripped, documented


def _python_docs(text: str) -> tuple[str, list[tuple[str, int, str]]]:
    """Docstrings cut out as the Python quality eval does; (name, new def line, docstring)."""
    import ast

    from benchmarks.quality.eval_python import strip_file

    try:
        tree = ast.parse(text)
        stripped, found = strip_file(text)
    except (SyntaxError, ValueError, RecursionError):
        return text, []
    docs: dict[str, str] = {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                doc = ast.get_docstring(child)
                if doc and not isinstance(child, ast.ClassDef):
                    docs[name] = doc
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return stripped, [(qualified.rsplit(".", 1)[-1], line, docs.get(qualified, sentence))
                      for qualified, line, _start, sentence in found]


def tree_pairs(miner: Miner, source: str, root: Path) -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        if language_for(rel) is None:
            continue
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        pairs.extend(miner.file_pairs(source, rel, text))
    return pairs
