#!/usr/bin/env bash
# Project 029's benchmark: messages delivered per second and the p99 delivery latency, CLIENTS
# clients in one room each sending (bench/chat_load.cpp: every message is delivered to the
# CLIENTS-1 others), against two servers speaking the same line protocol, interleaved round by
# round, each started fresh for every run:
#   asio      029_chat_server --serve --quiet (one thread)
#   asyncio   bench/asyncio_chat.py with /usr/bin/python3 (one event loop)
# Both are told the same limits (--max-outbox OUTBOX lines). Prints every run's JSON line, then
# the medians and the ratio asio / asyncio. The goal (issue 13): at least 10x asyncio's
# deliveries/s at no worse p99.
#
# usage: bench/chat_bench.sh
# Environment (defaults in brackets):
#   BIN [build/release/bin]   where 029_chat_server is (cmake --preset release &&
#                             cmake --build build/release --target 029_chat_server chat_load)
#   LOAD [BIN/chat_load]      the load generator
#   CLIENTS [100] WINDOW [4] SIZE [64] DURATION [5] WARMUP [1] REPEATS [5] OUTBOX [1000]
#   OUT [a new temporary folder]   results.txt (every run's line) and the servers' output
# Exit status 0 only if every run measured something with no client dropped and no error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../build/release/bin}
LOAD=${LOAD:-$BIN/chat_load}
CLIENTS=${CLIENTS:-100} WINDOW=${WINDOW:-4} SIZE=${SIZE:-64} DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1} REPEATS=${REPEATS:-5} OUTBOX=${OUTBOX:-1000}
OUT=${OUT:-$(mktemp -d /tmp/chat-bench.XXXXXX)}
mkdir -p "$OUT"
die() { echo "chat_bench.sh: $*" >&2; exit 2; }

program=$BIN/029_chat_server
[ -x "$program" ] || die "$program missing; build it (see the header)"
[ -x "$LOAD" ] || die "$LOAD missing; build it (see the header)"

server_pid=""
running() {  # exited children stay zombies until waited for, and kill -0 succeeds on them
  [ -r "/proc/$1/stat" ] && ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null
}
stop_server() {  # only the process this script started, by its id
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    # A SIGTERM that lands between fork and exec is lost (the forked shell catches it for
    # this script's trap, then exec forgets it), so it may take a second one, then a KILL.
    for _ in $(seq 50); do running "$server_pid" || break; sleep 0.2; done
    if running "$server_pid"; then kill "$server_pid"; sleep 2; fi
    if running "$server_pid"; then kill -KILL "$server_pid"; fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

start_server() {  # $1: asio or asyncio; sets server_pid and port
  local log=$OUT/server-$1.log
  # Emptied here, before the server starts: the loop below must never read the port of the
  # previous run's server (ctest reuses OUT) nor find no file at all.
  : > "$log"
  if [ "$1" = asio ]; then
    "$program" --serve --quiet --port 0 --web-port 0 --max-outbox "$OUTBOX" > "$log" 2>&1 &
  else
    /usr/bin/python3 "$here/asyncio_chat.py" 0 --max-outbox "$OUTBOX" > "$log" 2>&1 &
  fi
  server_pid=$!
  port=""
  for _ in $(seq 100); do
    # Only whole lines: `read` skips a last line with no newline yet.
    while IFS= read -r text; do
      [[ $text =~ ^chat:\ lines\ on\ [0-9.]+:([0-9]+) ]] && port=${BASH_REMATCH[1]}
    done < "$log"
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  die "the $1 server did not start: $(cat "$log")"
}

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(uname -srm); nproc $(nproc)"
  echo "load average before: $(cat /proc/loadavg)"
  echo "clients $CLIENTS (one room, all sending), window $WINDOW, $SIZE-byte messages, $WARMUP s warm-up + $DURATION s, $REPEATS rounds, outbox $OUTBOX lines"
} | tee "$OUT/results.txt"

declare -A rates p99s
failed=0
for round in $(seq "$REPEATS"); do
  for name in asio asyncio; do
    start_server "$name"
    line=$("$LOAD" --port "$port" -c "$CLIENTS" -w "$WINDOW" -m "$SIZE" -d "$DURATION" \
             --warmup "$WARMUP" --label "$name") || failed=1
    stop_server
    echo "round $round $line" | tee -a "$OUT/results.txt"
    rate=$(sed -n 's/.*"deliveries_per_s":\([0-9]*\).*/\1/p' <<<"$line")
    p99=$(sed -n 's/.*"p99_us":\([0-9]*\).*/\1/p' <<<"$line")
    [ -n "$rate" ] && [ -n "$p99" ] || die "$name printed no result: $line"
    rates[$name]+="$rate "
    p99s[$name]+="$p99 "
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ra=$(median "${rates[asio]}") rp=$(median "${rates[asyncio]}")
pa=$(median "${p99s[asio]}") pp=$(median "${p99s[asyncio]}")
{
  echo "median deliveries/s: asio $ra, asyncio $rp; median p99: asio $pa us, asyncio $pp us"
  awk -v a="$ra" -v p="$rp" 'BEGIN { printf "asio / asyncio = %.1fx deliveries/s\n", (p > 0 ? a / p : 0) }'
  echo "load average after: $(cat /proc/loadavg)"
  echo "results in $OUT"
} | tee -a "$OUT/results.txt"
exit "$failed"
