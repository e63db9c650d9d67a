#!/usr/bin/env bash
# Noisy neighbour: tenant B's hello latency alone, then while tenant A runs endless loops and
# memory bombs at its concurrency limit (4) on the same node. Runs the end-to-end test that
# asserts B never fails (tests/tests/quotas.rs) ROUNDS times with long-guest throttling off
# (engine.long_guest_slots = 0: the build before it) and on (the default), alternating, and
# prints each measured line; the ratio of B's p99 under attack to B's p99 alone is what to
# compare.
#
# Usage: bench/noisy.sh [ROUNDS]   (default 3; dev profile, dependencies optimized)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

ROUNDS=${1:-3}
echo "command:     bench/noisy.sh $ROUNDS"
echo "date:        $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine:     $(machine)"
run() {
    GEYSER_BENCH_LONG_GUEST_SLOTS=$1 cargo test -q -p geyser-e2e --test quotas -- --nocapture \
        a_noisy_neighbour_does_not_starve_another_tenant 2>&1 | grep '^tenant B'
}
for round in $(seq "$ROUNDS"); do
    echo "round $round off: $(run 0)"
    echo "round $round on:  $(run "")"
done
