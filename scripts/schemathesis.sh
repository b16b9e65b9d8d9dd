#!/usr/bin/env bash
# The admin API fuzzed against its OpenAPI document (host/admin/openapi.yaml)
# by schemathesis (pinned in scripts/schemathesis.txt; scripts/test.sh
# installs it into target/schemathesis), against a real host: `wharf up
# examples/hello` on loopback ports of its own with a fresh state directory.
#
# Passes when schemathesis finds no 5xx (`not_a_server_error`) in at least
# 1,000 generated requests (counted from its HAR report) and the host is
# still running afterwards. `GET /v1/services/{name}/logs` is left out: it is
# an event stream that never ends by design (the console tests cover it).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${SCHEMATHESIS_VENV:-target/schemathesis}
min_requests=1000
token=schemathesis-admin-token

[ -x "$venv/bin/schemathesis" ] || { echo "schemathesis is not installed in $venv (scripts/test.sh installs it)" >&2; exit 1; }
wharf=target/debug/wharf
[ -x "$wharf" ] || cargo build --locked -q -p wharf

work=$(mktemp -d)
host_pid=
cleanup() {
    if [ -n "$host_pid" ]; then kill "$host_pid" 2>/dev/null || true; wait "$host_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# SCHEMATHESIS_APP serves another app (a prebuilt `.wasm`, no build step).
app=(--build examples/hello)
[ -n "${SCHEMATHESIS_APP:-}" ] && app=("$SCHEMATHESIS_APP")
WHARF_ADMIN_TOKEN=$token "$wharf" up "${app[@]}" \
    --listen 127.0.0.1:0 --admin 127.0.0.1:0 --state-dir "$work/state" \
    >"$work/stdout" 2>"$work/stderr" &
host_pid=$!
admin=
for _ in $(seq 1 600); do
    if grep -q '^Serving ' "$work/stdout" 2>/dev/null; then
        admin=$(sed -n 's|^Admin API on \(http://[^/]*\)/$|\1|p' "$work/stdout")
        break
    fi
    kill -0 "$host_pid" 2>/dev/null || { cat "$work/stderr" >&2; echo "wharf up failed" >&2; exit 1; }
    sleep 0.2
done
[ -n "$admin" ] || { cat "$work/stderr" >&2; echo "wharf up did not start" >&2; exit 1; }
echo "host up; admin API at $admin"

# Fixed seed: the same requests every run, so a failure reproduces. The
# coverage phase is left out: in 4.32.5 it stops on an internal error of
# Hypothesis's lambda introspection ("AST constructor recursion depth
# mismatch") on two operations, which is not a finding about the host.
status=0
"$venv/bin/schemathesis" run host/admin/openapi.yaml \
    --url "$admin" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error \
    --exclude-operation-id service-logs \
    --max-examples 120 \
    --phases examples,fuzzing,stateful \
    --seed 20261208 \
    --workers 2 \
    --request-timeout 10 \
    --suppress-health-check all \
    --warnings off \
    --report har --report-har-path "$work/requests.har" || status=$?

requests=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["log"]["entries"]))' "$work/requests.har")
echo "schemathesis sent $requests requests (exit status $status)"
if ! kill -0 "$host_pid" 2>/dev/null; then
    cat "$work/stderr" >&2
    echo "FAILED: the host is no longer running" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "FAILED: schemathesis found failures" >&2
    exit 1
fi
if [ "$requests" -lt "$min_requests" ]; then
    echo "FAILED: only $requests requests, fewer than $min_requests" >&2
    exit 1
fi
echo "ok: $requests generated requests, no 5xx, host still running"
