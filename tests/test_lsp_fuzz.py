"""Property-based fuzzing of the server's request and notification params:
whatever arrives, a request gets a result or a JSON-RPC error, and the server
keeps serving. One real server (real model) for the whole module."""
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import copy_corpus
from lspclient import LspClient, RpcError

# This test found that `workspace/symbol` with params {} was never answered (pygls
# drops a request lsprotocol cannot structure); the server now answers it -32602.
pytestmark = pytest.mark.slow

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
SEARCH_PARAMS = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={
        "query": JSON | st.text(max_size=300),
        "limit": JSON | st.integers(-5, 500),
        "workspace": JSON | st.text(max_size=30),
        "paths": JSON | st.lists(st.text(max_size=20), max_size=3),
    }),
)
SYMBOL_PARAMS = st.one_of(JSON, st.fixed_dictionaries({}, optional={"query": JSON | st.text(max_size=100)}))
NOTIFICATIONS = st.sampled_from(["textDocument/didSave", "workspace/didChangeWatchedFiles",
                                 "workspace/didChangeConfiguration", "workspace/didChangeWorkspaceFolders",
                                 "textDocument/didOpen", "$/cancelRequest"])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = copy_corpus(tmp_path_factory.mktemp("fuzz") / "ws")
    env = {**os.environ, "FATHOM_CACHE_DIR": str(tmp_path_factory.mktemp("fuzz-cache"))}
    client = LspClient([sys.executable, "-m", "fathom", "serve"], env)
    client.initialize(root.as_uri(), os.getpid())
    yield client
    client.close()


def answered(client: LspClient, method: str, params) -> None:
    try:
        client.request(method, params, timeout=60)
    except RpcError as error:
        assert isinstance(error.code, int)


def still_serving(client: LspClient) -> None:
    assert client.process.poll() is None, "the server died"
    assert isinstance(client.request("workspace/symbol", {"query": "user_cache"}, timeout=60), list)


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(params=SEARCH_PARAMS)
def test_fathom_search_params(server, params):
    answered(server, "fathom/search", params)
    still_serving(server)


@FUZZ
@given(params=SYMBOL_PARAMS)
def test_workspace_symbol_params(server, params):
    answered(server, "workspace/symbol", params)
    still_serving(server)


@FUZZ
@given(method=NOTIFICATIONS, params=JSON)
def test_notifications_with_any_params(server, method, params):
    server.notify(method, params)
    still_serving(server)


def test_workspace_symbol_without_query_is_invalid_params(server):
    with pytest.raises(RpcError) as info:
        server.request("workspace/symbol", {}, timeout=60)
    assert info.value.code == -32602
    assert "query" in str(info.value), info.value
    still_serving(server)
