import os
from pathlib import Path

from fathom.index.policy import (LARGEST_EMBEDDED_DATA_FILE, is_bulk_data, is_release_notes, is_test_chunk, is_test_code,
                                 is_vendored)
from fathom.index.walk import discover, is_indexable_path


def write(root: Path, rel: str, text: str = "x = 1\n") -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def paths(root, **kw):
    return {f.relpath for f in discover(root, kw.pop("max_file_size", 1 << 20), **kw).files}


def test_nested_gitignore_with_negation(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path, ".gitignore", "*.log\nbuild_out/\n")
    write(tmp_path, "a.py")
    write(tmp_path, "debug.log")
    write(tmp_path, "build_out/gen.py")
    write(tmp_path, "sub/.gitignore", "!keep.log\nlocal_*.py\n")
    write(tmp_path, "sub/keep.log")
    write(tmp_path, "sub/other.log")
    write(tmp_path, "sub/local_x.py")
    write(tmp_path, "sub/b.py")
    write(tmp_path, "local_y.py")  # the sub/.gitignore rule does not apply above it
    found = paths(tmp_path)
    assert found == {".gitignore", "a.py", "sub/.gitignore", "sub/keep.log", "sub/b.py", "local_y.py"}


def test_info_exclude_fathomignore_and_user_excludes(tmp_path):
    write(tmp_path, ".git/info/exclude", "secret_dir/\n")
    write(tmp_path, ".fathomignore", "generated/\n")
    write(tmp_path, "secret_dir/a.py")
    write(tmp_path, "generated/b.py")
    write(tmp_path, "vendor/c.py")
    write(tmp_path, "main.py")
    assert paths(tmp_path, exclude=("vendor/",)) == {".fathomignore", "main.py"}


def test_always_skipped_dirs_virtualenvs_secrets_and_size(tmp_path):
    write(tmp_path, "node_modules/x.js")
    write(tmp_path, ".git/config")
    write(tmp_path, "myenv/pyvenv.cfg", "home = /usr\n")
    write(tmp_path, "myenv/lib/site.py")
    write(tmp_path, "condaenv/conda-meta/history", "")
    write(tmp_path, "condaenv/lib/site.py")
    write(tmp_path, "dist/out.js")
    write(tmp_path, "_build/dev/lib/shop/ebin/shop.app")
    write(tmp_path, ".dart_tool/package_config.json")
    write(tmp_path, ".stack-work/dist/x.hs")
    write(tmp_path, ".env", "TOKEN=1")
    write(tmp_path, ".env.local", "TOKEN=1")
    write(tmp_path, "server.pem")
    write(tmp_path, "id_rsa")
    write(tmp_path, "big.py", "x" * 5000)
    write(tmp_path, "logo.png")
    write(tmp_path, "ok.py")
    result = discover(tmp_path, 4096)
    assert {f.relpath for f in result.files} == {"ok.py"}
    assert ("big.py", "larger than 4096 bytes") in result.skipped


def test_symlinks_outside_are_not_followed_and_loops_survive(tmp_path):
    outside = tmp_path / "outside"
    write(outside, "stolen.py", "SECRET = 1\n")
    root = tmp_path / "ws"
    write(root, "real.py")
    os.symlink(outside, root / "link_dir")
    os.symlink(outside / "stolen.py", root / "link_file.py")
    os.symlink(root, root / "loop")
    os.symlink(root / "missing", root / "dangling.py")
    write(root, "inner/x.py")
    os.symlink(root / "inner", root / "inner_link")
    found = paths(root)
    assert "real.py" in found and "inner/x.py" in found
    assert not any("stolen" in p or p.startswith("link_") or p.startswith("loop") for p in found)


def test_gitignore_counts_only_inside_a_git_repository_as_in_ripgrep(tmp_path):
    # An unpacked tarball keeps an upstream .gitignore written for another repository
    # (Debian's kernel source ignores "/*"); .fathomignore is Fathom's own and always counts.
    tarball = tmp_path / "linux-source"
    write(tarball, ".gitignore", "/*\n!/debian/\n")
    write(tarball, ".fathomignore", "*.log\n")
    write(tarball, "kernel/fork.c", "int fork(void);\n")
    write(tarball, "kernel/trace.log")
    assert paths(tarball) == {".gitignore", ".fathomignore", "kernel/fork.c"}
    assert is_indexable_path(tarball, tarball / "kernel/fork.c", 1 << 20)
    assert not is_indexable_path(tarball, tarball / "kernel/trace.log", 1 << 20)

    repository = tmp_path / "repo"
    (repository / ".git").mkdir(parents=True)
    write(repository, "sub/project/.gitignore", "/*\n!/debian/\n")
    write(repository, "sub/project/kernel/fork.c", "int fork(void);\n")
    write(repository, "sub/project/debian/rules", "all:\n")
    assert paths(repository / "sub/project") == {"debian/rules"}  # a folder below the repository's root


def test_is_indexable_path_agrees_with_discover(tmp_path):
    (tmp_path / ".git").mkdir()
    write(tmp_path, ".gitignore", "ignored/\n")
    a = write(tmp_path, "src/a.py")
    b = write(tmp_path, "ignored/b.py")
    c = write(tmp_path, ".env")
    assert is_indexable_path(tmp_path, a, 1 << 20)
    assert not is_indexable_path(tmp_path, b, 1 << 20)
    assert not is_indexable_path(tmp_path, c, 1 << 20)
    assert not is_indexable_path(tmp_path, tmp_path.parent / "x.py", 1 << 20)
    # A file saved inside a virtualenv or an always-skipped folder, which the walk never enters.
    write(tmp_path, "env-py/pyvenv.cfg", "home = /usr/bin\n")
    d = write(tmp_path, "env-py/lib/d.py")
    e = write(tmp_path, "src/node_modules/e.js")
    assert not is_indexable_path(tmp_path, d, 1 << 20) and not is_indexable_path(tmp_path, e, 1 << 20)
    assert {"src/a.py"} == paths(tmp_path) - {".gitignore"}


def test_vendored_directories_are_recognised_by_name():
    assert is_vendored("vendor/github.com/pkg/errors/errors.go")
    assert is_vendored("src/pip/_vendor/requests/api.py")
    assert is_vendored("static/admin/js/vendor/jquery/jquery.js")
    assert is_vendored("third_party/zlib/inflate.c")
    assert is_vendored("deps/phoenix/lib/phoenix/router.ex") and is_vendored("Pods/Alamofire/Source/Session.swift")
    assert not is_vendored("vendor.py") and not is_vendored("src/vendors_api/client.py")


def test_lockfiles_are_never_indexed_whatever_their_format(tmp_path):
    for name in ["package-lock.json", "web/npm-shrinkwrap.json", "pnpm-lock.yaml", "bun.lockb", "go.sum",
                 "Cargo.lock", "poetry.lock", "src/packages.lock.json"]:
        write(tmp_path, name, "{}\n")
    write(tmp_path, "package.json", "{}\n")
    write(tmp_path, "go.mod", "module example.com/m\n")
    assert paths(tmp_path) == {"package.json", "go.mod"}


def test_only_large_files_in_data_formats_are_bulk_data():
    big = LARGEST_EMBEDDED_DATA_FILE + 1
    assert is_bulk_data("locales/ru/messages.json", big)
    assert is_bulk_data("api/openapi.YAML", big)
    assert is_bulk_data("src/__snapshots__/app.test.ts.snap", big)
    assert not is_bulk_data("package.json", 2_000)
    assert not is_bulk_data("src/generated_parser.py", big)
    assert not is_bulk_data("docs/guide.md", big)
    assert not is_bulk_data("json", big)


def test_a_large_sql_file_of_rows_is_a_dump_and_a_schema_is_not():
    from fathom.index.policy import is_sql_dump

    rows = "".join(f"INSERT INTO users VALUES ({i}, 'user {i}', 'user{i}@example.com');\n" for i in range(600))
    assert is_sql_dump("db/seed.sql", "CREATE TABLE users (id int, name text, email text);\n" + rows)
    tuples = "INSERT INTO t VALUES\n" + "".join(f"  ({i}, 'row number {i} of the table'),\n" for i in range(1200))
    assert is_sql_dump("data/t.SQL", tuples)
    assert is_sql_dump("backup.sql", "COPY public.users (id) FROM stdin;\n" + "1\n" * 40000 + "\\.\n")
    schema = "".join(f"CREATE TABLE t{i} (\n  id serial PRIMARY KEY,\n  name text NOT NULL\n);\n" for i in range(600))
    assert not is_sql_dump("db/schema.sql", schema)
    assert not is_sql_dump("db/seed.sql", rows[:20_000])  # small enough to embed whatever it holds
    assert not is_sql_dump("db/seed.txt", rows)


def test_test_code_is_recognised_by_its_usual_names():
    for path in ["tests/test_api.py", "sympy/core/tests/test_basic.py", "test_cli.py", "pkg/conftest.py",
                 "server/handler_test.go", "src/app.test.ts", "web/button.spec.jsx", "spec/models/user_spec.rb",
                 "src/test/java/org/acme/ParserTest.java", "__tests__/render.js", "absl/strings/str_split_test.cc",
                 "base/json/json_reader_unittest.cc", "lib/src/repo_test.dart", "src/Token.t.sol",
                 "src/Monolog/LoggerTest.php", "lib/rack/utils_test.rb", "Sources/CacheTests.swift", "Cache/CacheTests.m", "t/basic.t"]:
        assert is_test_code(path), path
    for path in ["src/testing_utils.py", "contest.py", "attestation/verify.py", "django/testing/client.py",
                 "latest.py", "src/protest/app.ts", "src/contest.cc", "src/Console/Tester/CommandTester.php",
                 "lib/latest.rb", "contracts/Vault.sol"]:
        assert not is_test_code(path), path


def test_release_notes_are_recognised_by_their_usual_names():
    for path in ["CHANGELOG.md", "HISTORY.rst", "NEWS", "CHANGES.txt", "docs/releases/5.1.txt", "Doc/whatsnew/3.12.rst",
                 "docs/changelog.md", "changelog.d/123.fix.md", "newsfragments/45.feature", "docs/history/hatch.md"]:
        assert is_release_notes(path), path
    for path in ["src/changes/models.py", "changes.py", "history.go", "README.md", "docs/api.md", "src/news/feed.ts"]:
        assert not is_release_notes(path), path


def test_a_rust_test_module_holds_test_code():
    assert is_test_chunk("src/map.rs", "tests") and is_test_chunk("src/map.rs", "tests.Fixture")
    assert not is_test_chunk("src/map.rs", "Map") and not is_test_chunk("src/map.rs", "")
    assert is_test_chunk("server/handler_test.go", "")


CREDENTIALS = {
    "deploy_key": "ssh key", "etc/ssh/ssh_host_rsa_key": "ssh key", "keys/server.ppk": "PuTTY",
    "AuthKey_ABC123.p8": "apple key", ".git-credentials": "https://u:p@host", ".docker/config.json": "{}",
    ".kube/config": "apiVersion: v1", "infra/terraform.tfvars": "password = 1", ".htpasswd": "u:$apr1$",
    ".vault-token": "s.token", ".my.cnf": "[client]\npassword=1", ".s3cfg": "secret_key = 1",
    ".yarnrc.yml": "npmAuthToken: 1", "etc/shadow": "root:$6$",
}
KEY_MATERIAL = {
    "private-key.txt": "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n",
    "notes/key.txt": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n",
    "gcp.json": '{"type": "service_account", "project_id": "p", "private_key": "-----BEGIN"}',
}


def test_credentials_are_recognised_by_name_and_key_material_by_content(tmp_path, fake_embedder):
    """16 of 32 credential-like files got into the index from outside."""
    from fathom.config import Settings
    from fathom.index.run import Indexer
    from fathom.workspace import Workspace

    root = tmp_path / "ws"
    for rel, text in {**CREDENTIALS, **KEY_MATERIAL, "app/shadow/render.py": "def cast_shadow(): ...\n",
                      "app/keys.py": "def generate_key():\n    return 1\n"}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    found = {f.relpath for f in discover(root, 1 << 20).files}
    assert not found & set(CREDENTIALS), found & set(CREDENTIALS)
    ws = Workspace(root, Settings(workers=1))
    indexer = Indexer(ws, fake_embedder)
    try:
        indexer.run()
    finally:
        indexer.close()
    assert ws.reader.counts().files == 2  # app/shadow/render.py and app/keys.py
    from fathom.search import Searcher

    hits = Searcher(ws.reader, None).search("BEGIN RSA PRIVATE KEY service_account", 10).hits
    assert {h.relpath for h in hits} <= {"app/keys.py"}  # found for its name, `generate_key`
    assert not any("PRIVATE KEY" in t or "service_account" in t for t in fake_embedder.embedded)
    ws.close()


def test_an_ignore_pattern_with_many_wildcards_is_matched_in_linear_time(tmp_path):
    import threading

    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    (root / ".gitignore").write_text("*a*a*a*a*a*a*a*a*a*a*a*a*b\n*.log\n")
    (root / ("a" * 200 + "c.py")).write_text("x = 1\n")  # backtracked for hours in Python's matcher
    (root / ("a" * 20 + "b")).write_text("x = 1\n")  # what the pattern names: ignored, as git ignores it
    (root / "debug.log").write_text("noise\n")
    found: list = []
    walker = threading.Thread(target=lambda: found.append(discover(root, 1 << 20)), daemon=True)
    walker.start()
    walker.join(60)
    assert found, "the walk did not finish"
    assert [f.relpath for f in found[0].files] == [".gitignore", "a" * 200 + "c.py"]  # *.log still applies


def test_an_invalid_ignore_line_is_ignored_as_git_ignores_it_and_the_rest_applies(tmp_path, caplog):
    """A line ending in a lone backslash is no pattern; git skips it. It stopped
    the whole walk (`fathom index` exited 1 and indexed nothing)."""
    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    write(root, ".gitignore", "*.log\nbuild\\\n")
    write(root, "sub/.fathomignore", "\\\nsecret_*.py\n")
    write(root, "a.py")
    write(root, "debug.log")
    write(root, "sub/b.py")
    write(root, "sub/secret_c.py")
    assert paths(root) == {".gitignore", "a.py", "sub/.fathomignore", "sub/b.py"}
    assert "'build\\\\' is not a valid glob" in caplog.text and "the line is ignored" in caplog.text


def test_a_long_ignore_file_keeps_gits_order_last_match_wins(tmp_path):
    """More patterns than one RE2 set holds are matched as consecutive sets: a
    negation thousands of lines after the rule it undoes still wins."""
    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    lines = ["*.log"] + [f"generated_{i}/" for i in range(2500)] + ["!keep.log", "generated_7.py"]
    write(root, ".gitignore", "\n".join(lines) + "\n")
    for name in ("a.py", "debug.log", "keep.log", "generated_7.py", "generated_2499/x.py", "generated_2500/x.py"):
        write(root, name)
    assert paths(root) == {".gitignore", "a.py", "keep.log", "generated_2500/x.py"}


def test_a_folder_its_enclosing_workspace_never_indexes_is_a_workspace_of_its_own(tmp_path, monkeypatch):
    """`fathom search --path` a subdirectory asks its project's index, as git
    finds its repository; a folder that index never walks into (ignored, a
    virtualenv, `node_modules`) would get answers from everywhere but itself."""
    from fathom.config import index_dir
    from fathom.index.walk import walks_into
    from fathom.workspace import enclosing_root

    monkeypatch.setenv("FATHOM_CACHE_DIR", str(tmp_path / "cache"))
    root = (tmp_path / "repo").resolve()
    (root / ".git").mkdir(parents=True)
    write(root, ".gitignore", "generated/\n")
    for rel in ("src/pkg/a.py", "generated/out/b.py", ".env-py/lib/dep/c.py", "node_modules/left-pad/d.js"):
        write(root, rel)
    write(root, ".env-py/pyvenv.cfg", "home = /usr/bin\n")
    own = ["generated/out", ".env-py/lib/dep", "node_modules/left-pad"]
    assert paths(root) == {".gitignore", "src/pkg/a.py"}
    assert walks_into(root, root) and walks_into(root, root / "src" / "pkg")
    assert not any(walks_into(root, root / rel) for rel in own) and not walks_into(root, tmp_path)
    assert enclosing_root(root / "src" / "pkg") == root
    assert [enclosing_root(root / rel) for rel in own] == [root / rel for rel in own]
    # An index at the root answers for its own folders, still not for those it never reads.
    index_dir(root).mkdir(parents=True)
    (index_dir(root) / "index.db").write_bytes(b"")
    (root / ".git").rmdir()
    assert enclosing_root(root / "src") == root
    assert enclosing_root(root / "node_modules" / "left-pad") == root / "node_modules" / "left-pad"
