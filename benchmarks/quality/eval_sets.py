"""The projects of the per-language quality evals, and where their code lies.

Chosen once, for being well documented and fetchable from a registry; never
trained on (`benchmarks/model/mine.py` refuses them) nor used to choose a
model. Each entry is (kind, spec, the folder of the unpacked package that holds
the code), fetched as `mine.py` fetches training sources.
"""
from __future__ import annotations

from pathlib import Path

EVAL_SETS: dict[str, list[tuple[str, str, str]]] = {
    "go": [
        ("deb", "golang-github-gorilla-websocket-dev", "usr/share/gocode/src/github.com/gorilla/websocket"),
        ("deb", "golang-github-go-chi-chi-dev", "usr/share/gocode/src/github.com/go-chi/chi"),
        ("deb", "golang-github-spf13-afero-dev", "usr/share/gocode/src/github.com/spf13/afero"),
        ("deb", "golang-github-pelletier-go-toml-dev", "usr/share/gocode/src/github.com/pelletier/go-toml"),
    ],
    "rust": [
        ("deb", "librust-hashbrown-dev", "usr/share/cargo/registry"),
        ("deb", "librust-indexmap-dev", "usr/share/cargo/registry"),
        ("deb", "librust-url-dev", "usr/share/cargo/registry"),
        ("deb", "librust-smallvec-dev", "usr/share/cargo/registry"),
    ],
    "java": [
        ("src", "libcommons-lang3-java", ""),
        ("src", "jsoup", ""),
        ("src", "libcommons-collections4-java", ""),
    ],
    "c": [
        ("src", "glib2.0", "gobject"),
        ("src", "pango1.0", "pango"),
        ("src", "gdk-pixbuf", "gdk-pixbuf"),
        ("src", "libsoup3", "libsoup"),
    ],
    # Languages the model was never trained on: whether it lost them what it gained elsewhere.
    "cpp": [
        ("deb", "libcli11-dev", "usr/include"),
        ("deb", "rapidjson-dev", "usr/include"),
        ("deb", "nlohmann-json3-dev", "usr/include"),
        ("deb", "libtinyxml2-dev", "usr/include"),
    ],
    "ruby": [
        ("deb", "ruby-rack", "usr/share/rubygems-integration/all/gems"),
        ("deb", "ruby-tzinfo", "usr/share/rubygems-integration/all/gems"),
        ("deb", "ruby-thor", "usr/share/rubygems-integration/all/gems"),
        ("deb", "ruby-i18n", "usr/share/rubygems-integration/all/gems"),
    ],
    "php": [
        ("deb", "php-league-commonmark", "usr/share/php"),
        ("deb", "php-monolog", "usr/share/php"),
        ("deb", "php-twig", "usr/share/php"),
        ("deb", "php-symfony-console", "usr/share/php"),
    ],
    "lua": [
        ("deb", "lua-penlight", "usr/share/lua/5.1/pl"),
        ("deb", "lua-moses", "usr/share/lua/5.1"),
        ("deb", "lua-lgi", "usr/share/lua/5.1/lgi"),
        ("deb", "lua-socket", "usr/share/lua/5.1"),
        ("deb", "lua-cliargs", "usr/share/lua/5.1"),
    ],
    "csharp": [
        ("src", "newtonsoft-json", "Src/Newtonsoft.Json"),
        ("src", "dnlib", "src"),
        ("src", "hyena", ""),
    ],
    "solidity": [
        ("npm", "@openzeppelin/contracts@5.1.0", ""),
        ("npm", "@uniswap/v3-core@1.0.1", "contracts"),
        ("npm", "@uniswap/v3-periphery@1.4.4", "contracts"),
        ("npm", "@aave/core-v3@1.19.3", "contracts"),
    ],
    # Elixir's own libraries, documented by `@doc` attributes (`eval_lang.elixir_docs`).
    "elixir": [
        ("src", "elixir-lang", "lib/elixir/lib"),
        ("src", "elixir-lang", "lib/mix/lib"),
        ("src", "elixir-lang", "lib/ex_unit/lib"),
        ("src", "elixir-lang", "lib/iex/lib"),
        ("src", "elixir-lang", "lib/logger/lib"),
    ],
    "haskell": [
        ("src", "haskell-aeson", "src"),
        ("src", "haskell-megaparsec", "Text"),
        ("src", "haskell-conduit", "src"),
        ("src", "haskell-unordered-containers", "Data"),
        ("src", "haskell-optparse-applicative", "src"),
    ],
}

# The Python and JS/TS evals' projects, fetched by hand (see their scripts).
OTHER_EVAL_PROJECTS = frozenset({"flask", "rich", "rxjs", "commander", "mongoose", "express"})


def held_out_names() -> frozenset[str]:
    """Every name a training source must not have."""
    return OTHER_EVAL_PROJECTS | {spec for sets in EVAL_SETS.values() for _, spec, _ in sets} \
        | {"cpython", "python3-stdlib"}


def project_root(tree: Path, subdir: str) -> Path:
    """The code of an unpacked package: `subdir` under the package's one top folder
    (a source tarball's `name-version/`) or under the tree itself."""
    if subdir and (tree / subdir).exists():
        return tree / subdir
    tops = [p for p in tree.iterdir() if p.is_dir()]
    if len(tops) == 1 and subdir and (tops[0] / subdir).exists():
        return tops[0] / subdir
    return tops[0] if len(tops) == 1 and not subdir else tree
