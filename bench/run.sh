#!/usr/bin/env bash
# Runs echo servers under the same load, interleaved, and prints medians and ratios to the C
# reference server (epoll_c). Everything it needs is in this repository.
#
# usage: bench/run.sh [NAME=COMMAND ...]
#   Always runs epoll_c (bench/epoll_echo.c) and asyncio (bench/asyncio_echo.py, with
#   /usr/bin/python3), then each extra NAME=COMMAND, where PORT in COMMAND is replaced by the
#   port to listen on, e.g.
#     bench/run.sh "asio_020_tuned=build/release/bin/020_performance_tuning --serve-tuned --port PORT"
# Environment (defaults in brackets):
#   BIN [build/release/bin]   where echo_load and epoll_echo are (cmake --preset release &&
#                             cmake --build build/release --target echo_load epoll_echo)
#   REPEATS [5]               rounds; each round runs every server once, in the same order
#   CONNECTIONS [100] SIZE [64] WARMUP [2] DURATION [5]   the load (strict ping-pong, lines)
#   SERVER_CPU [0] CLIENT_CPU [1]   taskset pinning, when taskset exists and nproc >= 2
#   BASE_PORT [19300]         ports BASE_PORT+1, +2, ... on 127.0.0.1, one per server start
#   OUT [a new temporary folder]    results.jsonl (one echo_load line per run, plus the
#                             server's CPU use) and server logs
# Each server is started fresh for every run and stopped afterwards; only processes this
# script started are stopped, by their process id.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../build/release/bin}
REPEATS=${REPEATS:-5} CONNECTIONS=${CONNECTIONS:-100} SIZE=${SIZE:-64}
WARMUP=${WARMUP:-2} DURATION=${DURATION:-5}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1} BASE_PORT=${BASE_PORT:-19300}
OUT=${OUT:-$(mktemp -d /tmp/bench-run.XXXXXX)}
for tool in echo_load epoll_echo; do
  [ -x "$BIN/$tool" ] || { echo "run.sh: $BIN/$tool missing; build it (see the header)" >&2; exit 2; }
done

servers=("epoll_c=$BIN/epoll_echo PORT line" "asyncio=/usr/bin/python3 $here/asyncio_echo.py PORT line" "$@")
pin_server=() pin_client=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c "$SERVER_CPU") pin_client=(taskset -c "$CLIENT_CPU")
fi

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

cpu_ticks() {  # PID: user + system time of every thread of the process, in clock ticks
  awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
listening() {  # PORT: true once something listens on 127.0.0.1:PORT
  if command -v ss >/dev/null; then ss -Hltn "sport = :$1" | grep -q "127.0.0.1:$1"
  else sleep 1; fi
}

mkdir -p "$OUT"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(uname -srm); nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
  echo "load average before: $(cat /proc/loadavg)"
  echo "load: $CONNECTIONS connections x $SIZE-byte lines, ping-pong, ${WARMUP} s warm-up + ${DURATION} s; repeats $REPEATS"
  echo "pinning: server ${pin_server[*]:-none}, load generator ${pin_client[*]:-none}"
} | tee "$OUT/env.txt" >&2
: >"$OUT/results.jsonl"
port=$BASE_PORT
for repeat in $(seq "$REPEATS"); do
  for spec in "${servers[@]}"; do
    name=${spec%%=*} command=${spec#*=}
    port=$((port + 1))
    command=${command//PORT/$port}
    # shellcheck disable=SC2086  # the command is split into words on purpose
    "${pin_server[@]}" $command >"$OUT/$name.$repeat.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do listening "$port" && break; sleep 0.05; done
    ticks_before=$(cpu_ticks "$server_pid") started_at=$(date +%s.%N)
    result=$("${pin_client[@]}" "$BIN/echo_load" --port "$port" -c "$CONNECTIONS" -m "$SIZE" \
               -w "$WARMUP" -d "$DURATION" --line --label "$name") || true
    ticks_after=$(cpu_ticks "$server_pid") ended_at=$(date +%s.%N)
    alive=yes; kill -0 "$server_pid" 2>/dev/null || alive=no
    stop_server
    # The server's CPU use over the whole run (warm-up and drain included): near 100 % means
    # the server set the pace; well below, with the load generator near 100 %, the machine did.
    server_cpu=$(awk -v a="$ticks_before" -v b="$ticks_after" -v hz="$(getconf CLK_TCK)" \
                     -v t0="$started_at" -v t1="$ended_at" 'BEGIN { printf "%.1f", 100 * (b - a) / hz / (t1 - t0) }')
    [ -n "$result" ] || result="{\"label\":\"$name\",\"error\":\"echo_load printed nothing\"}"
    echo "${result%\}},\"repeat\":$repeat,\"server_cpu_pct\":$server_cpu,\"server_alive\":\"$alive\"}" >>"$OUT/results.jsonl"
    echo "repeat $repeat $result" >&2
  done
done
echo "load average after: $(cat /proc/loadavg)" | tee -a "$OUT/env.txt" >&2

/usr/bin/python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
names = list(dict.fromkeys(run["label"] for run in runs))
def median(name, key):
    values = [run[key] for run in runs if run["label"] == name and key in run]
    return statistics.median(values) if values else float("nan")
bad = [run for run in runs if run.get("error") or run.get("mismatched") or run.get("errors")
       or run.get("server_alive") != "yes"]
reference = {key: median("epoll_c", key) for key in ("rt_per_s", "p50_us", "p99_us")}
print("| server | round trips/s | x epoll_c | p50 us | x epoll_c | p99 us | x epoll_c | server CPU % | load generator CPU % |")
print("|---|---|---|---|---|---|---|---|---|")
for name in names:
    cells = []
    for key in ("rt_per_s", "p50_us", "p99_us"):
        value = median(name, key)
        cells += [f"{value:,.0f}", f"{value / reference[key]:.2f}x" if reference[key] else "-"]
    cells += [f"{median(name, 'server_cpu_pct'):.0f}", f"{median(name, 'client_cpu_pct'):.0f}"]
    print(f"| {name} | " + " | ".join(cells) + " |")
print(f"\nmedians of {len(runs) // max(1, len(names))} interleaved repeats; "
      f"runs with a wrong echo, an error or a dead server: {len(bad)}")
print(f"raw results: {sys.argv[1]}")
sys.exit(1 if bad else 0)
PY
