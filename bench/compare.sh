#!/usr/bin/env bash
# Side-by-side load test: Wharf vs `wasmtime serve` (same wasmtime version,
# same component), on loopback, runs interleaved so ratios come from one run.
#
#   bench/compare.sh            # concurrency 1, 16, 64; 3 reps of 8 s each
#   QUICK=1 bench/compare.sh    # one 2 s rep at concurrency 16 (smoke test)
#
# Needs wrk (Debian package `wrk`; installed here if missing). wasmtime-cli
# 48.0.8 is installed with cargo into ~/.cache/wharf-bench (outside the repo)
# the first time. Every server is started fresh and stopped by its PID; every
# load run is bounded by -d.
set -euo pipefail
cd "$(dirname "$0")/.."

WASMTIME_VERSION=48.0.8
CACHE="${WHARF_BENCH_CACHE:-$HOME/.cache/wharf-bench}"
WASMTIME="$CACHE/bin/wasmtime"
if [ "${QUICK:-0}" = 1 ]; then DUR=2s; REPS=1; CONNS="16"; else DUR=${DUR:-8s}; REPS=${REPS:-3}; CONNS=${CONNS:-"1 16 64"}; fi

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ ! -x "$WASMTIME" ] || ! "$WASMTIME" --version | grep -q "$WASMTIME_VERSION"; then
    echo "==> installing wasmtime-cli $WASMTIME_VERSION into $CACHE (once; takes a while)"
    cargo install --locked wasmtime-cli --version "$WASMTIME_VERSION" --root "$CACHE"
fi
echo "==> building wharf (release) and the guest"
cargo build --release -q -p wharf
cargo build --release -q --target wasm32-wasip2 --target-dir target/guests -p wharf-test-programs --bin http_hello
WASM=target/guests/wasm32-wasip2/release/http_hello.wasm
WHARF=target/release/wharf

start_server() { # name port -> pid on stdout
    case "$1" in
        wharf) RUST_LOG=off "$WHARF" up "$WASM" --listen "127.0.0.1:$2" --admin "127.0.0.1:$(( $2 + 1 ))" >/dev/null 2>&1 & ;;
        wasmtime) "$WASMTIME" serve -S cli=y --addr "127.0.0.1:$2" "$WASM" >/dev/null 2>&1 & ;;
    esac
    echo $!
}

declare -A RPS P50 P99
for c in $CONNS; do
  for rep in $(seq 1 "$REPS"); do
    for server in wharf wasmtime; do
      port=$(( 20000 + RANDOM % 20000 ))
      pid=$(start_server "$server" "$port")
      for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
      threads=$(( c < 2 ? c : 2 ))
      out=$(wrk -t"$threads" -c"$c" -d"$DUR" --latency "http://127.0.0.1:$port/" 2>&1) || true
      kill "$pid"; wait "$pid" 2>/dev/null || true
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      p50=$(awk '$1=="50%" {print $2}' <<<"$out")
      p99=$(awk '$1=="99%" {print $2}' <<<"$out")
      errs=$(grep -E "Non-2xx|Socket errors" <<<"$out" | tr '\n' ' ' || true)
      echo "c=$c rep=$rep $server rps=$rps p50=$p50 p99=$p99 $errs"
      RPS[$c,$server]+="$rps "; P50[$c,$server]+="$p50 "; P99[$c,$server]+="$p99 "
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
printf "%-5s %-10s %12s %10s %10s\n" conc server "req/s(med)" p50 p99
for c in $CONNS; do
  for server in wharf wasmtime; do
    printf "%-5s %-10s %12s %10s %10s\n" "$c" "$server" \
      "$(median <<<"${RPS[$c,$server]}")" "$(median <<<"${P50[$c,$server]}")" "$(median <<<"${P99[$c,$server]}")"
  done
  w=$(median <<<"${RPS[$c,wharf]}"); t=$(median <<<"${RPS[$c,wasmtime]}")
  awk -v w="$w" -v t="$t" -v c="$c" 'BEGIN { printf "c=%s  wharf / wasmtime serve = %.2fx\n", c, w / t }'
done
