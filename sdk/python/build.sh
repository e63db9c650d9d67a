#!/bin/sh
# Builds a Python Geyser function into a component: build.sh KIND [MODULE] [OUT]
#   KIND    http | event | schedule | event-http (the world KIND-function: sdk/wit/worlds.wit)
#   MODULE  the app module in the current directory (default: app)
#   OUT     the component (default: MODULE.wasm)
# Run from the function's directory. Tools come from PyPI, pinned: componentize-py goes into
# $GEYSER_PY_TOOLS (default .venv); a requirements.txt beside the module is installed into
# packages/ and bundled with the component (imported at build time: the component has no files
# at run time).
set -eu
KIND=${1:?usage: build.sh http|event|schedule|event-http [MODULE] [OUT]}
MODULE=${2:-app}
OUT=${3:-$MODULE.wasm}
SDK=$(cd "$(dirname "$0")" && pwd)
COMPONENTIZE_PY_VERSION=0.25.1
case $KIND in
  http|event|schedule|event-http) ;;
  *) echo "build.sh: unknown kind $KIND (http, event, schedule or event-http)" >&2; exit 2 ;;
esac
TOOLS=${GEYSER_PY_TOOLS:-.venv}
if ! "$TOOLS/bin/componentize-py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
PATHS="-p . -p $SDK"
if [ -f requirements.txt ]; then
  if [ ! -f packages/.installed ] || [ requirements.txt -nt packages/.installed ]; then
    rm -rf packages
    "$TOOLS/bin/pip" install -q --disable-pip-version-check --no-deps -t packages -r requirements.txt
    touch packages/.installed
  fi
  PATHS="$PATHS -p packages"
fi
# shellcheck disable=SC2086 # PATHS is a list of flags
"$TOOLS/bin/componentize-py" -d "$SDK/../wit" -w "$KIND-function" componentize "$MODULE" $PATHS -o "$OUT"
echo "built $OUT ($(wc -c < "$OUT") bytes)"
