#!/usr/bin/env bash
# The JavaScript and Python guest toolchains the tests build functions with, installed once
# per machine from npm and PyPI: Node.js and npm (Debian's, if missing) for componentize-js
# and esbuild (each project's npm install pins them), and componentize-py in a virtualenv at
# target/guest-tools/py (GEYSER_PY_TOOLS). The version is the one sdk/python/build.sh pins.
set -euo pipefail
cd "$(dirname "$0")/.."

need=""
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
python3 -c 'import venv, ensurepip' 2>/dev/null || need="$need python3-venv"
if [ -n "$need" ]; then
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $need >/dev/null
fi

version=$(sed -n 's/^COMPONENTIZE_PY_VERSION=//p' sdk/python/build.sh)
tools=target/guest-tools/py
if ! "$tools/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $version"; then
    rm -rf "$tools"
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "componentize-py==$version"
fi
echo "guest tools: node $(node --version), npm $(npm --version), $("$tools/bin/componentize-py" --version)"
