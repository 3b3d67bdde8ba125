"""`fathom index|search|symbols|similar|status|export|import|serve|mcp`: the command line, over the same engine as the servers."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..config import LARGEST_MAX_FILE_SIZE, Settings, force_offline
from ..engine import FIRST_INDEX_WAIT_S, StoreError, Terminated, has_words, terminate_as_interrupt

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130  # as a shell reports a process Ctrl-C stopped
EXIT_TERMINATED = 143  # and one SIGTERM stopped


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as the contract says
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fathom", description="Semantic code search and fuzzy symbols for a workspace.")
    p.add_argument("--version", action="version", version=f"fathom {_version()}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def common(sp, positional_path: bool):
        if positional_path:
            sp.add_argument("path", nargs="?", help="workspace (default: .)")
            # search and symbols name the workspace --path (their positional is the query): taken here too.
            sp.add_argument("--path", dest="path_option", metavar="PATH", help="the same as PATH")
        sp.add_argument("--model", help="embedding model name or directory (default: FATHOM_MODEL or fathom-code-minilm-v3, "
                        "Fathom's own; all-MiniLM-L6-v2 is the original it was tuned from)")
        sp.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="where the model runs")
        sp.add_argument("--max-file-size", type=int, help="skip files larger than this many bytes")

    sp = sub.add_parser("index", help="build or update the index")
    common(sp, True)
    sp.add_argument("--no-embed", action="store_true", help="symbols and lexical search only")
    for name, helptext in (("search", "hybrid semantic search"), ("symbols", "fuzzy symbol search")):
        sp = sub.add_parser(name, help=helptext)
        sp.add_argument("query")
        sp.add_argument("--path", default=".", help="workspace (default: .)")
        sp.add_argument("-k", type=int, default=20 if name == "search" else 50, help="number of results")
        sp.add_argument("--json", action="store_true", help="JSON output")
        if name == "search":
            tests = sp.add_mutually_exclusive_group()
            tests.add_argument("--tests", dest="include_tests", action="store_const", const=True,
                               help="rank test code as any code")
            tests.add_argument("--no-tests", dest="include_tests", action="store_const", const=False,
                               help="leave test code out (by default it ranks below the project's own code "
                                    "unless the query asks for tests)")
            sp.add_argument("--lang", action="append", metavar="LANGUAGE", help="only this language (repeatable)")
            sp.add_argument("--kind", action="append", help="only this kind: function, method, class… (repeatable)")
            sp.add_argument("--path-glob", action="append", metavar="GLOB", help="only paths matching (repeatable)")
            sp.add_argument("--exclude", action="append", metavar="GLOB", help="not paths matching (repeatable)")
        common(sp, False)
    sp = sub.add_parser("similar", help="definitions like the one at FILE:LINE")
    sp.add_argument("location", metavar="FILE:LINE", help="a line (1-based) inside a definition")
    sp.add_argument("--path", default=".", help="workspace (default: the one FILE is in)")
    sp.add_argument("-k", type=int, default=10, help="number of results")
    sp.add_argument("--json", action="store_true", help="JSON output")
    common(sp, False)
    sp = sub.add_parser("mcp", help="serve the workspace to coding agents over MCP (stdio)")
    common(sp, True)
    sp.add_argument("--http", type=int, metavar="PORT", help="streamable HTTP on 127.0.0.1:PORT instead of stdio (0: any free port)")
    sp = sub.add_parser("export", help="write the index as a portable snapshot, for other checkouts to seed from")
    common(sp, True)
    sp.add_argument("-o", "--output", required=True, metavar="FILE", help="the snapshot file to write")
    sp = sub.add_parser("import", help="seed the index from a snapshot (a file or an http(s) URL)")
    sp.add_argument("source", metavar="FILE|URL")
    common(sp, True)
    sp = sub.add_parser("status", help="what the index holds")
    common(sp, True)
    sp.add_argument("--json", action="store_true", help="JSON output")
    sp = sub.add_parser("serve", help="run the language server")
    sp.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=2087)
    sp.add_argument("--log-file", help="write the log here instead of stderr")
    sp.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _one_workspace(args) -> None:
    """The workspace given as PATH or as --path (not both, unless they agree)."""
    if not hasattr(args, "path_option"):
        return
    if args.path is not None and args.path_option is not None and Path(args.path) != Path(args.path_option):
        raise UsageError(f"two workspaces given: {args.path} and --path {args.path_option}")
    args.path = args.path or args.path_option or "."


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("fathom-lsp")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    force_offline()
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    try:
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help()
            return EXIT_USAGE
        _one_workspace(args)
        with terminate_as_interrupt():
            return _dispatch(args)
    except UsageError as exc:
        print(f"fathom: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("fathom: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("fathom: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StoreError as exc:
        print(f"fathom: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - one line for the user, the traceback on --debug
        if debug:
            raise
        print(f"fathom: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


def _dispatch(args) -> int:
    if args.command == "serve":
        from ..lsp.server import serve

        return serve(tcp=args.tcp, host=args.host, port=args.port, log_file=args.log_file, log_level=args.log_level)
    if args.command == "similar":
        return _similar(args)
    root = Path(args.path)
    if root.exists() and not root.is_dir():
        narrow = " (--path-glob narrows a search to some files)" if args.command == "search" else ""
        raise UsageError(f"{root} is a file: Fathom works on a workspace folder, such as {root.parent}{narrow}")
    if not root.is_dir():
        raise UsageError(f"no such directory: {root}")
    from ..engine import Engine

    if args.command in ("search", "symbols", "status", "export"):
        root = Engine.enclosing_workspace(root)  # from a subdirectory, its project's index, as git does
    if args.command in ("search", "symbols"):
        if not args.query.strip():
            raise UsageError("the query is empty")
        if args.command == "search" and not has_words(args.query):
            raise UsageError(f"the query {args.query!r} has no words: Fathom searches by words, names and meaning "
                             "(for punctuation alone, use grep)")
        if args.k < 1 or args.k > 1000:
            raise UsageError("-k must be between 1 and 1000")
    filters = None
    if args.command == "search":
        from ..engine import InvalidFilter, SearchFilters

        try:
            filters = SearchFilters.parse(language=args.lang, kind=args.kind, paths=args.path_glob,
                                          exclude=args.exclude)
        except InvalidFilter as bad:
            raise UsageError(str(bad)) from None
    if args.max_file_size is not None and not 1 <= args.max_file_size <= LARGEST_MAX_FILE_SIZE:
        raise UsageError(f"--max-file-size must be between 1 and {LARGEST_MAX_FILE_SIZE} bytes")
    settings = Settings.from_env()
    overrides = {"model": args.model, "device": args.device, "maxFileSize": args.max_file_size}
    settings = settings.merged({k: v for k, v in overrides.items() if v is not None})
    if args.command == "mcp":
        import logging

        from ..mcp.server import PortUnavailable, serve as serve_mcp

        if args.http is not None and not 0 <= args.http <= 65535:
            raise UsageError("--http PORT must be between 0 and 65535 (0: any free port, printed at start)")
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # stdout is the protocol's
        try:
            return serve_mcp(root, settings, http_port=args.http)
        except PortUnavailable as unavailable:
            print(f"fathom: {unavailable}", file=sys.stderr)
            return EXIT_FAILURE
    with Engine(settings) as engine:
        if args.command == "index":
            return _index(engine, root, embed=not args.no_embed)
        if args.command == "status":
            return _status(engine, root, args.json)
        if args.command == "export":
            print(engine.export(root, Path(args.output)).summary())
            return 0
        if args.command == "import":
            return _import(engine, root, args.source)
        if args.command == "symbols":
            return _symbols(engine, root, args.query, args.k, args.json)
        return _search(engine, root, args.query, args.k, args.json, args.include_tests, filters)


def _index(engine, root: Path, embed: bool) -> int:
    from .progress_bar import BarProgress

    try:
        with BarProgress() as progress:
            stats, counts = engine.index(root, progress, embed=embed)
    except KeyboardInterrupt as stop:
        left = engine.status(root)["pending"]
        how = "terminated" if isinstance(stop, Terminated) else "interrupted"
        print(f"fathom: {how}; {left:,} chunks left to embed, run again to resume" if left
              else f"fathom: {how}; run again to finish", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED
    for line in stats.error_summary():
        if line not in progress.said:  # said once, as it happened
            print(f"fathom: {line}", file=sys.stderr)
    print(f"{counts.files} files, {counts.chunks} chunks, {stats.embedded} newly embedded, {stats.seconds:.1f} s")
    if "" in stats.unseen:
        print(f"fathom: cannot list {root}: the index keeps what it held", file=sys.stderr)
    return EXIT_FAILURE if stats.embedding_error or "" in stats.unseen else 0


def _import(engine, root: Path, source: str) -> int:
    from .progress_bar import BarProgress

    if "://" not in source:  # a file named on the command line is relative to where it was typed
        source = str(Path(source).expanduser().resolve())
    with BarProgress() as progress:
        report = engine.seed(root, source, progress)
    print(f"{report.summary()}; `fathom index` now embeds only what the seed has no vector for")
    return 0


def _similar(args) -> int:
    from ..engine import Engine, NoDefinition
    from ..results import search_hit_json

    file, _, line = args.location.rpartition(":")
    if not file or not line.isdigit() or int(line) < 1:
        raise UsageError(f"expected FILE:LINE (a line from 1), not {args.location!r}")
    path = Path(file).resolve()
    if not path.is_file():
        raise UsageError(f"no such file: {file}")
    root = Path(args.path).resolve() if args.path != "." else Engine.enclosing_workspace(path.parent)
    try:
        relpath = path.relative_to(root).as_posix()
    except ValueError:
        raise UsageError(f"{file} is not in the workspace {root}") from None
    if args.k < 1 or args.k > 1000:
        raise UsageError("-k must be between 1 and 1000")
    settings = Settings.from_env().merged({k: v for k, v in {"model": args.model, "device": args.device}.items() if v})
    from .progress_bar import BarProgress

    with Engine(settings) as engine, BarProgress() as progress:
        try:
            result = engine.similar(root, relpath=relpath, line=int(line) - 1, limit=args.k, progress=progress)
        except NoDefinition as nothing:
            print(f"fathom: {nothing}", file=sys.stderr)
            return EXIT_FAILURE
    if args.json:
        print(json.dumps([search_hit_json(root, h) for h in result.hits], indent=2))
        return 0
    if result.partial and not result.hits:
        print("no vectors to compare with yet: the index is still embedding", file=sys.stderr)
    for hit in result.hits:
        name = f"{hit.container}.{hit.name}" if hit.container else hit.name
        print(f"{hit.relpath}:{hit.range.start_line + 1}  {name}  {hit.kind.name} {hit.score:.3f}")
    return 0


def _search(engine, root: Path, query: str, k: int, as_json: bool, include_tests: bool | None, filters=None) -> int:
    from ..results import partial_note, search_hit_json
    from .progress_bar import BarProgress

    with BarProgress() as progress:
        result = engine.search(root, query, k, progress=progress, include_tests=include_tests, filters=filters,
                               wait_for_answer=FIRST_INDEX_WAIT_S)
    partial = partial_note(result)
    if as_json:
        if partial:  # the JSON on stdout stays a list of hits; a script that reads stderr is told
            print(f"fathom: {partial}", file=sys.stderr)
        print(json.dumps([search_hit_json(root.resolve(), h) for h in result.hits], indent=2))
        return 0
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    if partial:
        console.print(f"[yellow]({partial})[/yellow]", soft_wrap=True)
    if not result.hits:
        console.print(f"no results for {escape(_quoted(query))}")
    for hit in result.hits:
        name = f"{hit.container}.{hit.name}" if hit.container else hit.name
        # One line whatever the width: scripts and agents read a hit per line.
        console.print(f"[bold cyan]{escape(hit.relpath)}:{hit.range.start_line + 1}[/]  [bold]{escape(name)}[/]"
                      f"  [dim]{hit.kind.name} {hit.score:.3f}[/]", soft_wrap=True)
        for line in hit.snippet.split("\n")[:4]:
            console.print(f"    {escape(line)}", soft_wrap=False, overflow="ellipsis", no_wrap=True)
    return 0


def _quoted(query: str, most: int = 80) -> str:
    """A query as the user typed it, shortened when it was pasted whole."""
    return repr(query if len(query) <= most else query[:most] + "…")


def _symbols(engine, root: Path, query: str, k: int, as_json: bool) -> int:
    from ..results import signatures, symbol_hit_json
    from .progress_bar import BarProgress

    with BarProgress() as progress:
        hits = engine.symbols(root, query, k, progress=progress, wait_for_answer=FIRST_INDEX_WAIT_S)
    shown = signatures(root, hits)
    if as_json:
        print(json.dumps([{**symbol_hit_json(root.resolve(), h), "signature": signature}
                          for h, signature in zip(hits, shown)], indent=2))
        return 0
    if not hits:
        print(f"no symbols match {_quoted(query)}")
    for hit, signature in zip(hits, shown):
        where = f"{hit.relpath}:{hit.range.start_line + 1}"
        container = f"  ({hit.container})" if hit.container else ""
        print(f"{where}  {hit.kind.name} {hit.name}{container}" + (f"  — {signature}" if signature else ""))
    return 0


def _status(engine, root: Path, as_json: bool) -> int:
    status = engine.status(root)
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        print(status_text(status))
    return 0


def status_text(status: dict) -> str:
    """`fathom status` for a person: what the index holds, in words."""
    lines = [f"{status['root']}"]
    run = status.get("last_run") or {}
    if not run and not status["files"]:
        lines.append("  not indexed yet: run `fathom index` (a search builds the index too)")
    elif not run and status.get("seeded_from"):
        lines.append(f"  seeded from {status['seeded_from']}, not yet brought up to this tree: run `fathom index`")
    else:
        waiting = f", {status['pending']:,} waiting for vectors" if status["pending"] else ", all embedded"
        lines.append(f"  {status['files']:,} files, {status['symbols']:,} symbols, {status['chunks']:,} chunks{waiting}")
    lines.append(f"  model {status['model']} ({status['device']})")
    if status.get("provider", "local") != "local":
        lines.append(f"  embedded by the {status['provider']}")
    if str(status.get("embedder", "")).startswith("failed: "):
        lines.append(f"  embedding {status['embedder']}")
    if run and status.get("seeded_from"):
        lines.append(f"  seeded from {status['seeded_from']}")
    if run:
        lines.append(f"  last run: {run.get('scanned', 0):,} files scanned, {run.get('changed', 0):,} changed, "
                     f"{run.get('embedded', 0):,} texts embedded in {run.get('seconds', 0):.1f} s")
    lines.append(f"  index: {status['db']}")
    return "\n".join(lines)
