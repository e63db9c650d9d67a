#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 60) on a nightly toolchain: `deploy`
# (component validation + compile + link, the upload path) and `gateway` (request target ->
# gateway parsing). New inputs that reach new coverage are added to fuzz/corpus/<target>;
# crashes land in fuzz/artifacts/<target> — minimize them (`cargo fuzz tmin`) and commit them:
# `cargo test` replays corpus and crashes on stable (runtime/engine/tests/fuzz_corpus.rs,
# runtime/http/tests/fuzz_corpus.rs). Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(deploy gateway)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked

status=0
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    echo "fuzz: $target for ${seconds}s" >&2
    # -rss_limit_mb: compiling a large component legitimately takes a few hundred MiB.
    cargo +nightly fuzz run --fuzz-dir fuzz "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=262144 \
        -artifact_prefix="fuzz/artifacts/$target/" || status=$?
done
exit "$status"
