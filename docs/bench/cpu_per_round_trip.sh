#!/usr/bin/env bash
# Server CPU time per round trip, split into user and system time, for servers run in turn
# (interleaved, REPEATS times) under the load of docs/performance.md (100 connections,
# 64-byte lines, ping-pong, 1 s warm-up + 4 s), with the project's own tools (bench/).
#
# usage: cpu_per_round_trip.sh REPEATS NAME=COMMAND_WITH_PORT...
#   e.g. cpu_per_round_trip.sh 4 "c=build/release/bin/epoll_echo PORT line" \
#                                 "asio=build/release/bin/020_performance_tuning --serve-tuned --port PORT"
# BIN (default build/release/bin) holds echo_load: cmake --preset release &&
# cmake --build build/release --target echo_load epoll_echo 020_performance_tuning
# The server is pinned to CPU 0, the load generator (BIN/echo_load) to CPU 1. Times
# come from /proc/PID/stat (utime, stime) at the end of the run, divided by every round trip
# the load generator completed (warm-up included, as the CPU time is).
set -euo pipefail
repeats=$1; shift
load=${BIN:-build/release/bin}/echo_load
port=${BASE_PORT:-19700}
result=$(mktemp)
for _ in $(seq "$repeats"); do
  for spec in "$@"; do
    name=${spec%%=*}; port=$((port + 1)); command=${spec#*=}; command=${command//PORT/$port}
    # shellcheck disable=SC2086  # the command is split into words on purpose
    taskset -c 0 $command >/dev/null 2>&1 &
    server=$!
    sleep 0.3
    taskset -c 1 "$load" --port "$port" -c 100 -m 64 -d 4 -w 1 --line >"$result"
    read -r user system < <(awk '{print $14, $15}' "/proc/$server/stat")
    kill "$server"; wait "$server" 2>/dev/null || true
    /usr/bin/python3 - "$name" "$user" "$system" "$result" <<'PY'
import json, os, sys
name, user, system, result = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
load = json.load(open(result))
ticks, n = os.sysconf("SC_CLK_TCK"), load["completed_total"]
print(f"{name:10s} {load['rt_per_s']:9.0f} rt/s  user {user / ticks / n * 1e6:5.2f} us/rt  "
      f"system {system / ticks / n * 1e6:5.2f} us/rt  load generator CPU {load['client_cpu_pct']} %")
PY
  done
done
rm -f "$result"
