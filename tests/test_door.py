"""`fathom search` from a shell asks the server that holds the workspace open
(`engine/door.py`) instead of loading a model of its own."""
import os
import socket
import stat

from conftest import FakeEmbedder
from fathom.config import Settings, index_dir
from fathom.engine import Engine
from fathom.engine.door import SOCKET_NAME, socket_address


def tree(root):
    root.mkdir(parents=True)
    (root / "dates.py").write_text("def parse_http_date(value):\n    return value\n")
    (root / "mail.py").write_text("def send_email_message(to):\n    return to\n")
    return root


def one_shot_engine() -> Engine:
    """An engine as the CLI makes one, whose embedder must never be needed."""
    def no_model(_spec, _settings):
        raise AssertionError("the one-shot caller loaded a model although a server answers")

    return Engine(Settings(watcher=False), embedder_factory=no_model)


def test_a_one_shot_search_is_answered_by_the_running_server(tmp_path):
    root = tree(tmp_path / "ws")
    fake = FakeEmbedder()
    server = Engine(Settings(watcher=False), embedder_factory=lambda _s, _t: fake)
    try:
        service = server.open(root)
        assert service.wait_idle(60)
        sock = index_dir(root) / SOCKET_NAME
        assert stat.S_ISSOCK(os.stat(sock).st_mode) and stat.S_IMODE(os.stat(sock).st_mode) & 0o077 == 0
        expected = service.search("parse http date", 5)
        with one_shot_engine() as cli:
            got = cli.search(root, "parse http date", 5)
            assert got == expected and got.hits[0].name == "parse_http_date"
            assert cli.symbols(root, "sndemail", 5)[0].name == "send_email_message"
    finally:
        server.close()
    assert not sock.exists()  # a closed server leaves no socket to ask


def test_a_socket_left_by_a_dead_server_is_replaced_and_a_caller_answers_itself(tmp_path):
    root = tree(tmp_path / "ws")
    dead = index_dir(root) / SOCKET_NAME
    dead.parent.mkdir(parents=True)
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with socket_address(dead) as address:
        left.bind(address)
    left.close()  # bound, never listening: what a killed server leaves
    fake = FakeEmbedder()
    with Engine(Settings(watcher=False), embedder_factory=lambda _s, _t: fake) as alone:
        assert alone.search(root, "send email", 5).hits[0].name == "send_email_message"  # built its own index
    server = Engine(Settings(watcher=False), embedder_factory=lambda _s, _t: FakeEmbedder())
    try:
        assert server.open(root).wait_idle(60)
        with one_shot_engine() as cli:
            assert cli.search(root, "send email", 5).hits[0].name == "send_email_message"
    finally:
        server.close()


def test_a_cache_folder_too_deep_for_a_socket_address_still_has_a_door(tmp_path, monkeypatch):
    """Unix socket addresses stop near 108 bytes; a long home or cache root must not
    cost the door (the socket is reached through its folder's descriptor)."""
    deep = tmp_path / ("a-cache-root-nested-deep-" * 6)
    monkeypatch.setenv("FATHOM_CACHE_DIR", str(deep))
    root = tree(tmp_path / "ws")
    sock = index_dir(root) / SOCKET_NAME
    assert len(os.fsencode(str(sock))) > 108
    server = Engine(Settings(watcher=False), embedder_factory=lambda _s, _t: FakeEmbedder())
    try:
        assert server.open(root).wait_idle(60)
        assert stat.S_ISSOCK(os.stat(sock).st_mode) and stat.S_IMODE(os.stat(sock).st_mode) & 0o077 == 0
        with one_shot_engine() as cli:
            assert cli.search(root, "parse http date", 5).hits[0].name == "parse_http_date"
    finally:
        server.close()
    assert not sock.exists()


def test_a_shells_question_waits_through_the_door_for_the_servers_first_files(tmp_path):
    """`fathom search` asked while the editor's server had not yet written its
    first files got an empty answer, which a shell user (or an agent) takes as
    final; it now waits for them (bounded), an editor's own request does not."""
    import threading

    root = tree(tmp_path / "ws")
    server = Engine(Settings(watcher=False), embedder_factory=lambda _s, _t: FakeEmbedder())
    events = []
    try:
        service = server.open(root)
        assert service.wait_idle(60)
        searched = service.search
        service.search = lambda *a, **k: (events.append("searched"), searched(*a, **k))[1]
        service.words_ready.clear()  # as before the first run has written every file
        with one_shot_engine() as cli:
            assert cli.search(root, "parse http date", 5).hits  # no wait asked: answered at once
            assert events == ["searched"]

            def first_files_written():
                events.append("written")
                service.words_ready.set()

            threading.Timer(0.5, first_files_written).start()
            got = cli.search(root, "parse http date", 5, wait_for_answer=20)
            assert got.hits[0].name == "parse_http_date"
            assert events == ["searched", "written", "searched"]
    finally:
        server.close()
