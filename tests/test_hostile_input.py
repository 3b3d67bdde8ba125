"""Input from outside (editors, agents, shells, settings) that must get a clear
answer and harm nothing: found by an adversarial probe of the server and CLI."""
import pytest

from fathom.cli import main as cli_main
from fathom.config import LARGEST_MAX_FILE_SIZE, Settings
from fathom.index.lexical import with_lexical
from fathom.models import Chunk, ChunkedFile, FileStat, Range, SymbolKind
from fathom.search import Searcher
from fathom.store import Store


def test_a_huge_max_file_size_is_capped_or_refused(tmp_path, capsys):
    """100 GB made every file fail with MemoryError: 0 files indexed, exit 0."""
    assert Settings().merged({"maxFileSize": 100_000_000_000}).max_file_size == LARGEST_MAX_FILE_SIZE
    assert cli_main(["index", "--no-embed", "--max-file-size", "100000000000", str(tmp_path)]) == 2
    assert "--max-file-size must be between" in capsys.readouterr().err


@pytest.mark.parametrize("query", ["\ud800 parse", "\udcff", "parse \udc80date"])
def test_a_query_with_lone_surrogates_is_answered(tmp_path, query, fake_embedder):
    """A client can send "\\ud800" in JSON, and a shell hands undecodable bytes
    over as such: `symbols` died with UnicodeEncodeError."""
    store = Store(tmp_path / "i.db")
    chunk = Chunk("parse_date", SymbolKind.Function, "", Range(0, 0, 1, 1), "parse_date", "def parse_date(s): ...")
    store.write_files([with_lexical(ChunkedFile("d.py", FileStat(1, 1, 1), "h", "python", "indexed", "", [], [chunk]))])
    hits = Searcher(store, fake_embedder.embed_query).search(query, 5).hits
    assert all(h.name == "parse_date" for h in hits)
    assert Searcher(store, None).symbols(query, 5) == [] or Searcher(store, None).symbols(query, 5)[0].name == "parse_date"


def test_the_server_log_is_private_and_a_file_name_cannot_forge_a_line(tmp_path):
    import logging
    import os

    from fathom.lsp.server import log_handler

    path = tmp_path / "server.log"
    handler = log_handler(str(path))
    logger = logging.getLogger("fathom.test-forge")
    logger.addHandler(handler)
    try:
        logger.error("indexed %s", "evil\n2026-01-01 ERROR fathom: forged line\r")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert os.stat(path).st_mode & 0o077 == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and "forged line" in lines[0] and "\\x0a" in lines[0]
