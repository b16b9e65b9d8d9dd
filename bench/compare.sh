#!/usr/bin/env bash
# Load test on loopback: Wharf vs `wasmtime serve` (same wasmtime version,
# same component) vs a native hyper + tokio server doing the same work
# (bench/native-server). Runs are interleaved, so every ratio comes from one
# run. See bench/README.md for what each column means.
#
#   bench/compare.sh                 # full: hello + work at c=1,16,64, startup, idle memory
#   bench/compare.sh --quick         # smoke test (CI): hello + work at c=16, 2 s each
#   QUICK=1 bench/compare.sh         # the same
#
# Full-mode knobs (environment): DUR (wrk -d, default 5s), REPS (interleaved
# repetitions, default 3; medians are reported), CONNS (default "1 16 64"),
# WORKLOADS (default "hello work"), SECTIONS (default "load startup idle"),
# REUSE (default 128: also run Wharf with `limits.instance_reuse = REUSE` and
# `wasmtime serve --max-instance-reuse-count REUSE`; 0 leaves them out),
# STARTUP_REPS (default REPS), PROFILE (cargo profile of wharf and the native
# server: release by default, dev in quick mode, which reuses the build
# `cargo test` made), CARGO_TARGET_DIR, BENCH_COMMIT (the commit label when
# run outside a git checkout).
#
# Needs wrk (Debian package `wrk`) and curl. wasmtime-cli 48.0.8 lives in
# ~/.cache/wharf-bench (outside the repo): full mode installs it with
# `cargo install --locked` the first time; quick mode skips `wasmtime serve`
# when it is missing. Every server is started fresh and stopped by its PID
# (a trap stops any left over); every load run is bounded by wrk's -d.
#
# Exits non-zero when a run served zero requests or saw any error (non-2xx
# responses or socket errors), or a server answered the wrong thing. Never on
# a timing threshold.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${1:-}" = --quick ]; then QUICK=1; shift; fi
[ $# -eq 0 ] || { echo "usage: bench/compare.sh [--quick]" >&2; exit 2; }
QUICK=${QUICK:-0}

WASMTIME_VERSION=48.0.8
CACHE="${WHARF_BENCH_CACHE:-$HOME/.cache/wharf-bench}"
WASMTIME="$CACHE/bin/wasmtime"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
GUEST_TARGET_DIR=$ROOT/target/guests

if [ "$QUICK" = 1 ]; then
    DUR=2s; REPS=1; CONNS=16; WORKLOADS="hello work"; PROFILE=${PROFILE:-dev}; SECTIONS=load
else
    DUR=${DUR:-5s}; REPS=${REPS:-3}; CONNS=${CONNS:-"1 16 64"}
    WORKLOADS=${WORKLOADS:-"hello work"}; PROFILE=${PROFILE:-release}
    SECTIONS=${SECTIONS:-"load startup idle"}
fi
BENCH_T0=$SECONDS
STARTUP_REPS=${STARTUP_REPS:-$REPS}
case "$PROFILE" in
    dev) PROFILE_DIR=debug ;;
    release) PROFILE_DIR=release ;;
    *) PROFILE_DIR=$PROFILE ;;
esac

# --- tools ------------------------------------------------------------------
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null; then
    echo "==> installing wrk (Debian package wrk)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }

REUSE=${REUSE:-128}
SERVERS="wharf wasmtime native"
[ "$REUSE" = 0 ] || SERVERS="$SERVERS wharf-reuse wasmtime-reuse"
WASMTIME_NOTE=""
if [ ! -x "$WASMTIME" ] || ! "$WASMTIME" --version | grep -q "$WASMTIME_VERSION"; then
    if [ "$QUICK" = 1 ]; then
        SERVERS="wharf native"
        [ "$REUSE" = 0 ] || SERVERS="$SERVERS wharf-reuse"
        WASMTIME_NOTE="wasmtime serve skipped: $WASMTIME (wasmtime-cli $WASMTIME_VERSION) is not installed; quick mode does not install it"
        echo "==> $WASMTIME_NOTE"
    else
        echo "==> installing wasmtime-cli $WASMTIME_VERSION into $CACHE (once; takes a while)"
        cargo install --locked wasmtime-cli --version "$WASMTIME_VERSION" --root "$CACHE"
    fi
fi

# Startup and idle memory compare the default (fresh-instance) servers only.
FRESH_SERVERS=$(tr ' ' '\n' <<<"$SERVERS" | grep -v -- -reuse | tr '\n' ' ')

# --- build ------------------------------------------------------------------
echo "==> building wharf and bench-native ($PROFILE profile) and the guests (release, wasm32-wasip2)"
cargo build -q --profile "$PROFILE" -p wharf -p wharf-bench-native
cargo build -q --release --target wasm32-wasip2 --target-dir "$GUEST_TARGET_DIR" \
    -p wharf-test-programs -p wharf-bench-work-guest --bin http_hello --bin bench_work
WHARF=$TARGET_DIR/$PROFILE_DIR/wharf
NATIVE=$TARGET_DIR/$PROFILE_DIR/bench-native
HELLO_WASM=$GUEST_TARGET_DIR/wasm32-wasip2/release/http_hello.wasm
WORK_WASM=$GUEST_TARGET_DIR/wasm32-wasip2/release/bench_work.wasm
export WORK_BODY=$ROOT/bench/work.json
EXPECTED_SHA=$(sha256sum "$WORK_BODY" | cut -d' ' -f1)

# --- servers ----------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/wharf-bench.XXXXXX")
SPID=""
cleanup() {
    if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
        kill -KILL "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(( 20000 + RANDOM % 20000 ))
port_in_use() { (: <>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
next_port() { # two consecutive free ports (Wharf's admin listener takes PORT+1)
    while :; do
        PORT=$(( PORT + 2 ))
        [ "$PORT" -lt 60000 ] || PORT=20000
        if ! port_in_use "$PORT" && ! port_in_use $(( PORT + 1 )); then return; fi
    done
}

# new_state_dir NAME: a fresh state dir for Wharf, cache dir for wasmtime.
new_state_dir() {
    local dir=$TMP/$1
    rm -rf "$dir"; mkdir -p "$dir/cache"
    # wasmtime's CLI caches compiled code in ~/.cache/wasmtime by default; point
    # it at a per-run directory so cold is cold and ~ is left alone.
    printf '[cache]\ndirectory = "%s/cache"\n' "$dir" >"$dir/wasmtime-cache.toml"
    echo "$dir"
}

# start_server SERVER COMPONENT_OR_MANIFEST STATE_DIR: starts on a new $PORT,
# sets SPID and STARTED (µs, just before the exec). Output: $TMP/server.log.
start_server() {
    next_port
    STARTED=${EPOCHREALTIME/./}
    # `exec`, so that $! is the server itself, not a subshell around it.
    case "$1" in
        wharf) RUST_LOG=off exec "$WHARF" up "$2" --state-dir "$3" \
                   --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$(( PORT + 1 ))" ;;
        wasmtime) exec "$WASMTIME" serve -S cli=y -C cache-config="$3/wasmtime-cache.toml" \
                   --addr "127.0.0.1:$PORT" "$2" ;;
        # The same component, opted into instance reuse through its manifest.
        wharf-reuse)
            mkdir -p "$3/app"
            printf '[service.bench]\ncomponent = "%s"\nroutes = ["/..."]\n\n[service.bench.limits]\ninstance_reuse = %s\n' \
                "$2" "$REUSE" >"$3/app/wharf.toml"
            RUST_LOG=off exec "$WHARF" up "$3/app/wharf.toml" --state-dir "$3" \
                   --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$(( PORT + 1 ))" ;;
        wasmtime-reuse) exec "$WASMTIME" serve -S cli=y -C cache-config="$3/wasmtime-cache.toml" \
                   --max-instance-reuse-count "$REUSE" --addr "127.0.0.1:$PORT" "$2" ;;
        native) exec "$NATIVE" "127.0.0.1:$PORT" ;;
    esac >"$TMP/server.log" 2>&1 &
    SPID=$!
}

# wait_ready PATH [TIMEOUT_S]: polls http://127.0.0.1:$PORT/PATH with curl in
# a tight loop until it answers 200; fails if the server exits or time runs out.
wait_ready() {
    local deadline=$(( ${EPOCHREALTIME/./} + ${2:-60} * 1000000 ))
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT$1"; do
        if ! kill -0 "$SPID" 2>/dev/null || [ "${EPOCHREALTIME/./}" -gt "$deadline" ]; then
            echo "server did not become ready on :$PORT$1; its output:" >&2
            cat "$TMP/server.log" >&2
            return 1
        fi
    done
}

stop_server() { # SIGTERM, then SIGKILL after 5 s
    kill -TERM "$SPID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
}

cpu_ticks() { # utime + stime of the whole process, in clock ticks
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo $(( ${12} + ${13} ))
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
CLK_TCK=$(getconf CLK_TCK)

to_us() { # wrk latency (12.3us, 1.2ms, 1.1s, 2.0m) -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1000000;
        else if (u == "m") f = 60000000; else f = -1
        if (f < 0 || v == "") print "nan"; else printf "%.1f", n * f }'
}

FAILED=0
fail() { echo "FAIL: $*" >&2; FAILED=1; }

# check_answer SERVER WORKLOAD: one request by hand before the load.
check_answer() {
    local out
    if [ "$2" = work ]; then
        out=$(curl -sf -X POST -H 'content-type: application/json' --data-binary "@$WORK_BODY" \
            "http://127.0.0.1:$PORT/work") || true
        [[ $out == *"\"sha256\":\"$EXPECTED_SHA\""* ]] || fail "$1 answered the work POST with: $out"
    else
        out=$(curl -sf "http://127.0.0.1:$PORT/") || true
        [ "$out" = "hello from http_hello" ] || fail "$1 answered GET / with: $out"
    fi
}

# --- load runs ---------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=$TMP/results.tsv # workload conc server rep rps p50us p99us errors requests cpu% hwm_kb
: >"$RESULTS"
# One state dir per server and workload, kept across repetitions (Wharf
# remembers its deployments there; the compiled code is cached there).
for name in $SERVERS; do for workload in $WORKLOADS; do new_state_dir "load-$name-$workload" >/dev/null; done; done

[[ " $SECTIONS " == *" load "* ]] || CONNS=""
[ -z "$CONNS" ] || echo "==> load: workloads [$WORKLOADS], concurrency [$CONNS], servers [$SERVERS], $REPS x $DUR each (wrk on the same machine)"
for c in $CONNS; do
  for rep in $(seq 1 "$REPS"); do
    for workload in $WORKLOADS; do
      # Rotate the order each repetition so no server always runs first.
      read -r -a order <<<"$SERVERS"
      shift_by=$(( (rep - 1) % ${#order[@]} ))
      order=("${order[@]:shift_by}" "${order[@]:0:shift_by}")
      for server in "${order[@]}"; do
        if [ "$workload" = work ]; then wasm=$WORK_WASM; script=(-s "$ROOT/bench/post.lua"); path=/work
        else wasm=$HELLO_WASM; script=(); path=/; fi
        start_server "$server" "$wasm" "$TMP/load-$server-$workload"
        wait_ready / || { fail "$server did not start"; stop_server; continue; }
        check_answer "$server" "$workload"
        threads=$(( c < 2 ? c : 2 ))
        t0=${EPOCHREALTIME/./}; ticks0=$(cpu_ticks "$SPID")
        out=$(wrk -t"$threads" -c"$c" -d"$DUR" --latency "${script[@]}" "http://127.0.0.1:$PORT$path" 2>&1) || true
        ticks1=$(cpu_ticks "$SPID"); t1=${EPOCHREALTIME/./}
        hwm=$(status_kb "$SPID" VmHWM)
        stop_server
        rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
        requests=$(awk '/ requests in / { print $1 }' <<<"$out")
        p50=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
        p99=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
        errors=$(awk '/^ *Non-2xx or 3xx responses:/ { n += $NF }
                      /^ *Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
                      END { print n + 0 }' <<<"$out")
        cpu=$(awk -v d="$(( ticks1 - ticks0 ))" -v hz="$CLK_TCK" -v us="$(( t1 - t0 ))" \
            'BEGIN { printf "%.0f", 100 * d / hz / (us / 1e6) }')
        printf '%-5s c=%-3s rep=%s %-8s req/s=%-9s p50=%sus p99=%sus errors=%s cpu=%s%% peak_rss=%sKiB\n' \
            "$workload" "$c" "$rep" "$server" "${rps:-?}" "$p50" "$p99" "$errors" "$cpu" "$hwm"
        if [ -z "$requests" ] || [ "$requests" = 0 ]; then fail "$workload c=$c $server: no requests"; echo "$out" >&2; fi
        [ "$errors" = 0 ] || fail "$workload c=$c $server: $errors errors"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$workload" "$c" "$server" "$rep" \
            "${rps:-0}" "$p50" "$p99" "$errors" "${requests:-0}" "$cpu" "$hwm" >>"$RESULTS"
      done
    done
  done
done

# --- startup (full mode) -------------------------------------------------------
STARTUP=$TMP/startup.tsv # server kind rep ms
: >"$STARTUP"
if [[ " $SECTIONS " == *" startup "* ]]; then
    echo "==> startup: exec to first 200 for hello, cold (fresh state/cache dir) then warm (same dir), $STARTUP_REPS reps"
    for rep in $(seq 1 "$STARTUP_REPS"); do
        for server in $FRESH_SERVERS; do
            dir=$(new_state_dir "startup-$server")
            for kind in cold warm; do
                start_server "$server" "$HELLO_WASM" "$dir"
                if wait_ready / 120; then
                    t1=${EPOCHREALTIME/./}
                    ms=$(awk -v us="$(( t1 - STARTED ))" 'BEGIN { printf "%.1f", us / 1000 }')
                    echo "startup rep=$rep $server $kind: $ms ms"
                    printf '%s\t%s\t%s\t%s\n' "$server" "$kind" "$rep" "$ms" >>"$STARTUP"
                else
                    fail "$server ($kind) did not start"
                fi
                sleep 0.5 # let any cache write finish
                stop_server
            done
        done
    done
fi

# --- idle memory (full mode) ---------------------------------------------------
IDLE=$TMP/idle.tsv # server services kind rss_kb anon_kb
: >"$IDLE"
# idle_rss SERVER TARGET N: start on a fresh state/cache dir (cold: compiles)
# and again on the same dir (warm: compiled code from the cache); record the
# RSS after startup + 2 s idle. N services: wait for /s0/ and /s<N-1>/.
idle_rss() {
    local dir kind
    dir=$(new_state_dir "idle-$1-$3")
    for kind in cold warm; do
        start_server "$1" "$2" "$dir"
        if { [ "$1" != wharf ] && wait_ready / 120; } ||
           { [ "$1" = wharf ] && wait_ready "/s0/" 300 && wait_ready "/s$(( $3 - 1 ))/" 10; }; then
            sleep 2
            printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$3" "$kind" \
                "$(status_kb "$SPID" VmRSS)" "$(status_kb "$SPID" RssAnon)" >>"$IDLE"
        else
            fail "$1 with $3 service(s) did not start ($kind)"
        fi
        stop_server
    done
}
if [[ " $SECTIONS " == *" idle "* ]]; then
    echo "==> idle memory: RSS after startup + 2 s idle, cold and warm start"
    for n in 1 50; do
        app=$TMP/app-$n; mkdir -p "$app"
        {
            echo '[app]'; echo 'name = "idle"'
            for i in $(seq 0 $(( n - 1 ))); do
                printf '\n[service.s%d]\ncomponent = "%s"\nroutes = ["/s%d/..."]\n' "$i" "$HELLO_WASM" "$i"
            done
        } >"$app/wharf.toml"
        idle_rss wharf "$app/wharf.toml" "$n"
    done
    for server in $FRESH_SERVERS; do
        [ "$server" = wharf ] || idle_rss "$server" "$HELLO_WASM" 1
    done
fi

# --- report ----------------------------------------------------------------------
echo
echo "## Results"
echo
echo "- mode: $([ "$QUICK" = 1 ] && echo "quick (smoke test; numbers are not a measurement)" || echo full) [$SECTIONS]; load: $REPS x $DUR per cell, medians, wrk -t min(c,2) on the same machine"
echo "- machine: $(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
if [ -z "${BENCH_COMMIT:-}" ]; then # BENCH_COMMIT labels a run outside a git checkout
    BENCH_COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    [ -z "$(git -C "$ROOT" status --porcelain -- host sdk wit 2>/dev/null)" ] ||
        BENCH_COMMIT+=" (+ uncommitted changes in host/, sdk/ or wit/)"
fi
echo "- date: $(date -u +%Y-%m-%d), commit: $BENCH_COMMIT, wharf + bench-native: $PROFILE profile, guests: release"
echo "- load average (1, 5, 15 min) before the runs: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running on the machine skews absolute numbers; ratios come from interleaved runs)"
echo "- wasmtime serve: $([ -x "$WASMTIME" ] && "$WASMTIME" --version || echo 'not run')"
[ -z "$WASMTIME_NOTE" ] || echo "- $WASMTIME_NOTE"
echo "- took $(( SECONDS - BENCH_T0 )) s (builds included)"
echo

fmt_lat() { awk -v u="$1" 'BEGIN { if (u == "nan" || u == "") print "?"; else if (u < 1000) printf "%.0f µs", u;
                                   else if (u < 1000000) printf "%.2f ms", u / 1000; else printf "%.2f s", u / 1000000 }'; }
# median WORKLOAD CONC SERVER FIELD
median() {
    awk -F'\t' -v w="$1" -v c="$2" -v s="$3" -v f="$4" '$1 == w && $2 == c && $3 == s && $f != "nan" { print $f }' "$RESULTS" |
        sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
total() { awk -F'\t' -v w="$1" -v c="$2" -v s="$3" -v f="$4" '$1 == w && $2 == c && $3 == s { n += $f } END { print n + 0 }' "$RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f×", a / b }'; }
label() { case "$1" in wharf) echo Wharf ;; wasmtime) echo "wasmtime serve" ;; native) echo "native hyper" ;;
                    wharf-reuse) echo "Wharf, reuse $REUSE" ;; wasmtime-reuse) echo "wasmtime serve, reuse $REUSE" ;; esac; }
# The Wharf row a server is compared with: reuse against reuse.
peer() { case "$1" in wasmtime-reuse) echo wharf-reuse ;; *) echo wharf ;; esac; }

[ -s "$RESULTS" ] || [ -z "$CONNS" ] || fail "no load run produced a result"
[ ! -s "$RESULTS" ] || echo "| workload | c | server | req/s | p50 | p99 | errors | peak RSS | CPU % | Wharf / this (req/s) |"
[ ! -s "$RESULTS" ] || echo "|---|---|---|---|---|---|---|---|---|---|"
[ -s "$RESULTS" ] || WORKLOADS=""
for workload in $WORKLOADS; do
    for c in $CONNS; do
        for server in $SERVERS; do
            rps=$(median "$workload" "$c" "$server" 5)
            [ -n "$rps" ] || continue
            w_rps=$(median "$workload" "$c" "$(peer "$server")" 5)
            if [ "$server" = wharf ] || [ "$server" = wharf-reuse ]; then rel=""
            elif [ "$PROFILE" != release ]; then rel="n/a ($PROFILE build)"
            else rel=$(ratio "$w_rps" "$rps"); fi
            printf '| %s | %s | %s | %s | %s | %s | %s | %s MiB | %s | %s |\n' "$workload" "$c" "$(label "$server")" \
                "$(awk -v r="$rps" 'BEGIN { printf "%.0f", r }')" \
                "$(fmt_lat "$(median "$workload" "$c" "$server" 6)")" "$(fmt_lat "$(median "$workload" "$c" "$server" 7)")" \
                "$(total "$workload" "$c" "$server" 8)" \
                "$(awk -v k="$(median "$workload" "$c" "$server" 11)" 'BEGIN { printf "%.1f", k / 1024 }')" \
                "$(median "$workload" "$c" "$server" 10)" "$rel"
        done
    done
done

if [ -s "$STARTUP" ]; then
    echo
    echo "| startup (hello, exec → first 200) | cold | warm |"
    echo "|---|---|---|"
    for server in $FRESH_SERVERS; do
        med() { awk -F'\t' -v s="$server" -v k="$1" '$1 == s && $2 == k { print $4 }' "$STARTUP" | sort -g |
                awk '{ a[NR] = $1 } END { if (NR == 0) print "?"; else if (NR % 2) printf "%.0f ms", a[(NR + 1) / 2]; else printf "%.0f ms", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
        echo "| $(label "$server") | $(med cold) | $(med warm) |"
    done
fi

if [ -s "$IDLE" ]; then
    echo
    echo "| idle memory (RSS after startup + 2 s) | services | cold start: RSS | of which anonymous | warm start: RSS | of which anonymous |"
    echo "|---|---|---|---|---|---|"
    idle_kb() { awk -F'\t' -v s="$1" -v n="$2" -v k="$3" -v f="$4" '$1 == s && $2 == n && $3 == k { print $f }' "$IDLE"; }
    mib() { awk -v k="$1" 'BEGIN { if (k == "") print "?"; else printf "%.1f MiB", k / 1024 }'; }
    for server in $SERVERS; do
        for n in 1 50; do
            [ -n "$(idle_kb "$server" "$n" cold 4)$(idle_kb "$server" "$n" warm 4)" ] || continue
            echo "| $(label "$server") | $n | $(mib "$(idle_kb "$server" "$n" cold 4)") | $(mib "$(idle_kb "$server" "$n" cold 5)") | $(mib "$(idle_kb "$server" "$n" warm 4)") | $(mib "$(idle_kb "$server" "$n" warm 5)") |"
        done
    done
    echo
    for kind in cold warm; do
        rss1=$(idle_kb wharf 1 "$kind" 4); rss50=$(idle_kb wharf 50 "$kind" 4)
        [ -n "$rss1" ] && [ -n "$rss50" ] || continue
        awk -v a="$rss1" -v b="$rss50" -v k="$kind" \
            'BEGIN { printf "Wharf RSS per extra service (%s start): (RSS50 - RSS1) / 49 = %.0f KiB\n", k, (b - a) / 49 }'
    done
fi

if [ "$FAILED" != 0 ]; then
    echo
    echo "bench/compare.sh: FAILED (see FAIL lines above)" >&2
    exit 1
fi
