#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has only rustup.
#
# Installs what the tests need (the wasm32-wasip2 target for the guest
# components), then runs every host test. The guest test programs and the
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

echo "==> cargo test"
cargo test --locked "$@"
