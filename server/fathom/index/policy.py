"""What is indexed, what is embedded, and in what order: every rule in one place.

The walk (`walk.py`) asks `skipped_dir`, `never_indexed` and `is_secret` by name
before anything is read; the run asks `embedded_by_path` before a file is read
and `embed_order`'s test rule for each text; the chunk worker asks `is_generated`
and `minified_reason` once it has the text. Any change here that makes the same
tree index or embed differently raises `CHUNKER_VERSION`.
"""
from __future__ import annotations

import re

import pathspec

# Raised whenever the same source would chunk differently, or its chunks would be
# embedded or not by other rules (vendored code, bulk data, generated code, key
# material; 4: containers bounded in length; 5: Go methods in their receiver type,
# Rust impls without generics, certificates not embedded; 6: Markdown headings only
# outside fenced code; 7: functions nested in a function
# too long for one chunk chunked as well, a C function run past its end by a parse
# error cut where the next one starts; 8: a module's anonymous export, `module.exports =
# function (…)` or `export default …`, named after the module; 9: C and C++ function-like
# macros, typedef names and C++, Go and Rust type aliases are symbols, names only; a header's
# `G_BEGIN_DECLS` no longer hides the declaration after it; 10: C++ headers named `.h`
# read as C++, C++ names through reference declarators, export macros and template
# specializations, a Ruby class's first method with its doc comment, a Kotlin interface,
# and definitions in CUDA, Objective-C, Zig, Dart, Elixir, Haskell, OCaml, Julia, R, Perl,
# Solidity, SQL, Protocol Buffers and HCL; a large `.sql` file of rows not embedded): a
# workspace chunked by another version is chunked again on its next full run (its
# vectors stay cached by text, so only texts that really changed are embedded again).
CHUNKER_VERSION = "16"

# -- never walked ----------------------------------------------------------------------

ALWAYS_SKIPPED_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".jj", "node_modules", "bower_components",
        "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox",
        ".venv", "venv", ".eggs", ".gradle", ".idea", ".vscode-test", ".next", ".nuxt",
        ".cache", ".parcel-cache", ".terraform", "build", "dist", "target", "coverage",
        ".coverage", "htmlcov", "site-packages",
        # Build outputs and caches of the other languages read by definition: Elixir's and
        # OCaml's `_build`, Dart's, Zig's, Haskell's (stack, cabal), OCaml's opam switch,
        # SwiftPM's and Xcode's, Elm's, R's renv library.
        "_build", ".dart_tool", "zig-cache", ".zig-cache", "zig-out", ".stack-work", "dist-newstyle",
        "_opam", ".build", "DerivedData", "elm-stuff", "renv",
    }
)


def skipped_dir(name: str) -> bool:
    """A directory never walked, whatever the ignore files say."""
    return name in ALWAYS_SKIPPED_DIRS or name.endswith(".egg-info")


# -- never indexed ---------------------------------------------------------------------

# Credentials are never read, whatever the ignore files say: by name here, and
# by content (`holds_key_material`) for those whose name says nothing.
SECRET_PATTERNS = pathspec.GitIgnoreSpec.from_lines(
    [
        ".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks",
        "*.keystore", "*.kdbx", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
        ".netrc", ".pgpass", ".npmrc", ".pypirc", "*.gpg", "*.asc", "credentials",
        "credentials.json", "secrets.*", "*.secret", "*.tfstate", "*.tfstate.*",
        # SSH host and deploy keys, PuTTY keys, Apple's .p8 keys
        "deploy_key*", "ssh_host_*_key", "ssh_host_*_key.pub", "*.ppk", "*.p8",
        # tools' credential stores
        ".git-credentials", "**/.docker/config.json", "**/.kube/config", "*.kubeconfig",
        "*.tfvars", "*.tfvars.json", ".htpasswd", ".vault-token", ".my.cnf", ".s3cfg", ".boto",
        ".yarnrc.yml", ".yarnrc", ".dockercfg", "*.ovpn", "*.keytab",
    ]
)
# Matched by the file's own name only: as patterns they would hide a directory so called.
SECRET_FILE_NAMES = frozenset({"shadow", "gshadow", "kubeconfig", "master.key", "private_key", "id_token"})
_KEY_MATERIAL = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"  # PEM, OpenSSH, PGP private keys
    r"|PuTTY-User-Key-File-\d"
    r"|\"type\"\s*:\s*\"service_account\"[\s\S]{0,4000}\"private_key\"\s*:"  # a cloud service account
)


def _one_regex(spec: pathspec.GitIgnoreSpec) -> re.Pattern:
    """The spec's include-only patterns as one regular expression: pathspec tries
    each of them in Python, 6 s for the kernel's 86k paths; one search is C."""
    anywhere, whole = [], []
    for pattern in spec.patterns:
        assert pattern.include, "negations would need pathspec's order"
        body = pattern.regex.pattern.replace("(?P<ps_d>/)", "/")
        if body.startswith("^(?:.+/)?") and body.endswith("(?:/|$)"):
            anywhere.append(body[len("^(?:.+/)?"):-len("(?:/|$)")])
        else:
            whole.append(body)
    return re.compile("|".join([f"^(?:.+/)?(?:{'|'.join(anywhere)})(?:/|$)"] + [f"(?:{w})" for w in whole]))


_SECRET_REGEX = _one_regex(SECRET_PATTERNS)


def is_secret(relpath: str) -> bool:
    return relpath.rsplit("/", 1)[-1] in SECRET_FILE_NAMES or _SECRET_REGEX.search(relpath) is not None


# Certificates are public, but a base64 block answers no question about code
# and, embedded, comes up for every query nothing else matches.
_CERTIFICATE = re.compile(r"-----BEGIN (?:TRUSTED |X509 )?CERTIFICATE( REQUEST)?-----")


def holds_certificate(text: str) -> bool:
    """Whether a file holds a PEM certificate: indexed for words, never embedded."""
    return _CERTIFICATE.search(text) is not None


def holds_key_material(text: str) -> bool:
    """Whether a file holds a private key whatever it is called (`private-key.txt`,
    a service account's JSON): such a file is not indexed at all."""
    return _KEY_MATERIAL.search(text) is not None


# Formats that are never source, skipped by name without opening them: binaries,
# and generated data nobody searches as code (lockfiles, minified bundles, source
# maps, gettext catalogs, compiled or not: django's .po files alone are half its
# chunks; SVG, which is a picture however textual).
NOT_SOURCE_SUFFIXES = frozenset(
    """
    png jpg jpeg gif bmp ico icns webp tiff psd svgz pdf zip gz tgz bz2 xz zst 7z rar jar war
    ear whl egg so dylib dll exe bin o a lib obj class pyc pyo pyd wasm ttf otf woff woff2 eot
    mp3 mp4 m4a wav ogg flac avi mov mkv webm db sqlite sqlite3 parquet feather npy npz pkl
    pickle pt pth onnx safetensors h5 ckpt lock min.js min.css map po pot mo svg crt cer der csr p7b p7c srl
    """.split()
)
# Lockfiles whose format does not say so: dependency pins and checksums, often
# thousands of lines that no question about the code is answered by.
NOT_SOURCE_NAMES = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "bun.lockb", "go.sum", "packages.lock.json"}
)


def never_indexed(name: str) -> bool:
    """A file name that is never source (binaries, lockfiles, minified bundles)."""
    lowered = name.lower()
    if lowered in NOT_SOURCE_NAMES:
        return True
    parts = lowered.split(".")
    if len(parts) < 2:
        return False
    return parts[-1] in NOT_SOURCE_SUFFIXES or ".".join(parts[-2:]) in NOT_SOURCE_SUFFIXES


# A line this long means minified or generated code: nobody navigates to its
# "functions", and it would cost thousands of chunks to embed.
MINIFIED_LINE_CHARS = 5_000


def minified_reason(text: str) -> str | None:
    """Why a file is not worth indexing as code, or None. Short files cannot
    hold such a line, so most files cost only a length check."""
    if len(text) > MINIFIED_LINE_CHARS and any(len(line) > MINIFIED_LINE_CHARS for line in text.split("\n")):
        return f"minified or generated (a line over {MINIFIED_LINE_CHARS:,} characters)"
    return None


# -- indexed, never embedded -----------------------------------------------------------

# Other people's code copied into the tree. It is indexed for symbols and
# lexical search, so navigation reaches it, but not embedded: it would cost as
# much as the project's own code to embed (more, in a Go tree with its modules
# vendored) and answer questions about the project with library internals.
VENDORED_DIRS = frozenset(
    {"vendor", "vendors", "_vendor", "vendored", "third_party", "third-party", "thirdparty", "3rdparty",
     "deps", "Pods"}  # Elixir's fetched dependencies (and C's copied ones), CocoaPods'
)


def is_vendored(relpath: str) -> bool:
    return any(part in VENDORED_DIRS for part in relpath.split("/")[:-1])


# Data, not code: a configuration file is written by hand and rarely runs past a
# thousand lines; beyond that a file in these formats is a translation catalogue,
# an API schema, a fixture or a snapshot. Those are indexed for lexical search but
# not embedded: they are most of the text of the trees that hold them (botocore's
# service models: 120,687 texts to embed, 23,533 without them) and little of what
# a question about the code is answered by.
DATA_SUFFIXES = frozenset("json jsonl ndjson geojson yaml yml csv tsv xml snap".split())
LARGEST_EMBEDDED_DATA_FILE = 32 * 1024


def is_bulk_data(relpath: str, size: int) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return size > LARGEST_EMBEDDED_DATA_FILE and "." in name and name.rsplit(".", 1)[-1].lower() in DATA_SUFFIXES


_DATA_ROW = re.compile(r"[ \t]*(?:INSERT[ \t]+INTO\b|\(|VALUES\b)", re.IGNORECASE)
DUMP_PROBE_LINES = 2000


def is_sql_dump(relpath: str, text: str) -> bool:
    """Whether a large `.sql` file is mostly rows (`INSERT INTO …`, a multi-row
    `VALUES`' tuples, `COPY … FROM stdin` data): bulk data, indexed for words,
    never embedded, whatever its name says."""
    if not relpath.lower().endswith(".sql") or len(text) <= LARGEST_EMBEDDED_DATA_FILE:
        return False
    if "FROM stdin;" in text:  # pg_dump's COPY blocks
        return True
    lines = [line for line in text.split("\n", DUMP_PROBE_LINES)[:DUMP_PROBE_LINES] if line.strip()]
    return sum(1 for line in lines if _DATA_ROW.match(line)) > len(lines) / 2


def embedded_by_path(relpath: str, size: int) -> bool:
    """Whether a file's chunks are to have vectors, as far as its path and size tell."""
    return not is_vendored(relpath) and not is_bulk_data(relpath, size)


# Generated code says so in the comments that open the file (Go's "Code generated
# … DO NOT EDIT.", protoc's "DO NOT EDIT!", "@generated", C#'s "<auto-generated>"),
# often below a licence. Past the first line of code the same words are more
# likely a generator's template for the header it writes.
GENERATED_MARKER = re.compile(r"DO NOT EDIT|@generated|<auto-generated")
LINE_COMMENTS = ("#", "//", "--", ";", "<!--")
HEADER_LINES = 60


def is_generated(text: str) -> bool:
    """Whether the file's opening comments say a tool wrote it: such code is
    indexed for symbols and lexical search but not embedded, like vendored code."""
    in_block = False
    for line in text[:16384].split("\n", HEADER_LINES)[:HEADER_LINES]:
        stripped = line.strip()
        if in_block:
            in_block = "*/" not in stripped
        elif stripped.startswith("/*"):
            in_block = "*/" not in stripped[2:]
        elif stripped and not stripped.startswith(LINE_COMMENTS):
            return False
        if GENERATED_MARKER.search(stripped):
            return True
    return False


# -- embedded last ---------------------------------------------------------------------

# Test code is indexed and embedded like any other, but last: questions about
# what a project does are answered by its own code first. Only the order of
# embedding depends on this, so a wrong guess costs nothing but time.
TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs"})
TEST_FILE_PREFIXES = ("test_",)
TEST_FILE_SUFFIXES = ("_test.py", "_tests.py", "_test.go", "_spec.rb", "_test.rb", "Test.java", "Tests.java", "Test.kt",
                      "Tests.cs", "Test.php", "_test.dart", "_test.exs", ".t.sol", "Tests.swift", "Tests.m", ".t",
                      # GoogleTest's beside the code they test (Abseil, Chromium, LevelDB)
                      "_test.cc", "_test.cpp", "_unittest.cc", "_unittest.cpp")
TEST_FILE_INFIXES = (".test.", ".spec.")


# Rust keeps unit tests beside the code, in `#[cfg(test)] mod tests { … }`: a
# definition inside a module of one of these names is test code too.
TEST_MODULES = frozenset({"test", "tests"})


def is_test_chunk(relpath: str, container: str) -> bool:
    """Whether a definition is test code: its file is, or a test module holds it."""
    return is_test_code(relpath) or any(part in TEST_MODULES for part in container.split("."))


def is_test_code(relpath: str) -> bool:
    *dirs, name = relpath.split("/")
    return (
        any(part in TEST_DIRS for part in dirs)
        or name.startswith(TEST_FILE_PREFIXES)
        or name.endswith(TEST_FILE_SUFFIXES)
        or any(infix in name for infix in TEST_FILE_INFIXES)
        or name == "conftest.py"
    )


# -- release notes ----------------------------------------------------------------------

# A project's history in prose: what changed in each release. It answers "when did
# X change", and mentions nearly everything the code does, so it ranks below the
# code and its documentation unless a question asks about changes (search/hybrid.py).
# File names (before the first dot) and folder names.
RELEASE_NOTES_NAMES = frozenset({
    "changelog", "changes", "history", "news", "releases", "releasenotes", "release-notes", "release_notes",
    "whatsnew", "whats-new", "whats_new",
})
# towncrier's fragments: `123.feature`, `45.bugfix.rst`, whatever the suffix.
FRAGMENT_DIRS = frozenset({"changelog.d", "newsfragments"})
PROSE_SUFFIXES = frozenset({"", "md", "markdown", "rst", "txt", "adoc", "asciidoc"})


def is_release_notes(relpath: str) -> bool:
    """`CHANGELOG.md`, `HISTORY.rst`, `NEWS`, `docs/releases/5.1.txt`, `changelog.d/123.fix.md`:
    prose files only (a `changes/` package of code is code)."""
    *dirs, name = relpath.lower().split("/")
    if any(part in FRAGMENT_DIRS for part in dirs):
        return True
    stem, _, suffix = name.partition(".")
    if suffix.rpartition(".")[2] not in PROSE_SUFFIXES:
        return False
    return stem in RELEASE_NOTES_NAMES or any(part in RELEASE_NOTES_NAMES for part in dirs)
