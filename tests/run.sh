#!/usr/bin/env bash
# The test command (README.md, .ci/run): sets up everything the suite needs on a
# fresh Debian machine with Python 3.11 and Node.js, then runs it. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install -q torch==2.13.0 -e '.[test]'

# A real serving engine for tests/test_serving_engine.py: Infinity pins an older
# numpy and sentence-transformers than Fathom's, so it lives in a virtualenv of its own.
if [ ! -x .venv-engines/infinity/bin/infinity_emb ]; then
    python3 -m venv .venv-engines/infinity
    .venv-engines/infinity/bin/pip install -q torch==2.13.0 'infinity-emb[server,torch]==0.0.78'
fi

# The editor tests drive real editors: Debian's Neovim 0.7.2 (0.11.4 comes from
# the test extras), Emacs with eglot (a plain LSP client), Chromium for VS Code,
# and the headers code-server's native modules build against.
packages=(neovim emacs-nox elpa-eglot chromium ripgrep build-essential pkg-config libkrb5-dev libsecret-1-dev libxkbfile-dev libx11-dev)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo -n"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

(cd editors/vscode && npm ci --no-audit --no-fund && npm run package)

# code-server's ripgrep package downloads its binary from GitHub, which an
# offline machine cannot reach: hand it Debian's rg through its download cache.
seed="$(node -p "require('os').tmpdir()")/vscode-ripgrep-cache-1.15.11"
if [ ! -f "$seed/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" ]; then
    mkdir -p "$seed/rg"
    cp "$(command -v rg)" "$seed/rg/rg"
    tar czf "$seed/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$seed/rg" rg
fi
if [ ! -x editors/vscode/test/node_modules/.bin/code-server ]; then
    (cd editors/vscode/test && npm_config_yes=true npm_config_unsafe_perm=true npm ci --no-audit --no-fund)
fi

# One worker per core (pytest-xdist), each test file kept on one worker so a
# file's model, engine or editor is started once.
FATHOM_REQUIRE_EDITORS=1 FATHOM_REQUIRE_ENGINES=1 exec .venv/bin/python -m pytest -q -n auto --dist loadfile "$@"
