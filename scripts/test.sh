#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has only rustup.
#
# Installs what the tests need (the wasm32-wasip2 target for the guest
# components; promtool, from Debian's `prometheus` package, for the deploy/
# file checks), then runs every host test. The guest test programs and the
# examples are compiled to components by host/test-programs/artifacts/build.rs
# as part of `cargo test`, never committed as binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx wasm32-wasip2; then
        echo "==> installing the wasm32-wasip2 target"
        rustup target add wasm32-wasip2
    fi
fi

# promtool (from the Debian package `prometheus`) checks deploy/prometheus/
# and the Grafana dashboard's queries (host/cli/tests/all/deploy_files.rs).
if ! command -v promtool >/dev/null 2>&1; then
    echo "==> installing promtool (Debian package prometheus)"
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    command -v promtool >/dev/null 2>&1 || { echo "promtool still missing" >&2; exit 1; }
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "==> cargo test (host)"
cargo test --locked "$@" 2>&1 | tee -a "$log"

# The SDK and the JSON example's logic also run natively (the guest crates
# are not default members): unit tests and doc examples.
echo "==> cargo test (SDK and examples, native)"
cargo test --locked -p wharf-sdk -p wharf-sdk-macro -p json-api "$@" 2>&1 | tee -a "$log"

# One closing line for the whole suite (the last cargo runner alone may be a
# crate with no doc tests, which would read as "0 passed").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
