#!/usr/bin/env bash
# User-space instructions per round trip of an echo server, counted by callgrind: unlike a
# timing, this count repeats to within about 1 % on a noisy machine.
#
# usage: instructions_per_round_trip.sh PORT SERVER_COMMAND...
#   e.g. instructions_per_round_trip.sh 19800 build/release/bin/020_performance_tuning --serve-tuned --port 19800
# Needs valgrind and the project's load generator, bench/echo_load.cpp (BIN, default
# build/release/bin: cmake --preset release && cmake --build build/release --target echo_load).
# Load: 100 connections x 64-byte lines, ping-pong, 1 s warm-up + 4 s (the server runs ~20x
# slower under valgrind, so it does ~100,000 round trips). The count includes start-up and
# shutdown (a few hundred thousand instructions, under 0.1 % of the total).
set -euo pipefail
port=$1; shift
load=${BIN:-build/release/bin}/echo_load
out=$(mktemp -d)
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" "$@" >/dev/null 2>"$out/valgrind.txt" &
server=$!
sleep 3  # valgrind's start-up
taskset -c 1 "$load" --port "$port" -c 100 -m 64 -d 4 -w 1 --line >"$out/load.json"
# SIGINT stops 012_streams and 020's --serve-tuned gracefully; a server without a handler of its own ignores it here
# (a background job of a script), so it gets SIGTERM.
kill -INT "$server"; sleep 2; kill -TERM "$server" 2>/dev/null || true; wait "$server" || true
/usr/bin/python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
load = json.load(open(f"{out}/load.json"))
refs = int(re.search(r"I\s+refs:\s+([\d,]+)", open(f"{out}/valgrind.txt").read()).group(1).replace(",", ""))
print(f"{refs / load['completed_total']:.0f} instructions per round trip "
      f"({refs:,} instructions, {load['completed_total']:,} round trips, "
      f"{load['mismatched']} mismatched); profile: {out}/callgrind.out")
PY
