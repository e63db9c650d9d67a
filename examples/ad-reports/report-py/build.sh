#!/bin/sh
# app.py -> report.wasm with the Geyser Python SDK (componentize-py from PyPI, tzdata bundled).
cd "$(dirname "$0")" && exec ../../../sdk/python/build.sh schedule app report.wasm
