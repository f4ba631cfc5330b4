#!/usr/bin/env bash
# Lesson 025's benchmark: GET requests/s over keep-alive connections against one fast local
# server, three clients interleaved round by round; prints medians:
#   wrk        wrk -t1 -c CONNECTIONS: C, one thread (the practical limit; Debian's wrk)
#   asio       025_http_client --bench: this lesson's Client, CONNECTIONS callers, one thread
#   aiohttp    bench/aiohttp_client.py with /usr/bin/python3 (Debian's python3-aiohttp):
#              one ClientSession, CONNECTIONS tasks, one event loop
# The server is the lesson's own TinyServer, `025_http_client --serve` (every page answers
# 200 "Hello, world!\n" with Content-Length, keep-alive), one thread, started once for all runs.
#
# usage: bench/http_bench.sh
# Environment (defaults in brackets):
#   BIN [build/release/bin]   where 025_http_client is (cmake --preset release &&
#                             cmake --build build/release --target 025_http_client)
#   REPEATS [5] DURATION [5] WARMUP [1] CONNECTIONS [16]
#   OUT [a new temporary folder]   results.txt (every run's line) and the server's output
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../build/release/bin}
REPEATS=${REPEATS:-5} DURATION=${DURATION:-5} WARMUP=${WARMUP:-1} CONNECTIONS=${CONNECTIONS:-16}
OUT=${OUT:-$(mktemp -d /tmp/http-bench.XXXXXX)}
mkdir -p "$OUT"
die() { echo "http_bench.sh: $*" >&2; exit 2; }

program=$BIN/025_http_client
[ -x "$program" ] || die "$program missing; build it (see the header)"
command -v wrk >/dev/null || die "wrk missing: apt-get install wrk"
/usr/bin/python3 -c 'import aiohttp' 2>/dev/null || die "aiohttp missing: apt-get install python3-aiohttp"

"$program" --serve > "$OUT/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do grep -q '^listening on' "$OUT/server.log" && break; sleep 0.1; done
url=$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$OUT/server.log")
[ -n "$url" ] || die "the server did not start: $(cat "$OUT/server.log")"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(uname -srm); nproc $(nproc); $(wrk --version 2>&1 | head -n 1)"
  echo "load average before: $(cat /proc/loadavg)"
  echo "server: 025_http_client --serve at $url; connections $CONNECTIONS, $DURATION s per run, $REPEATS rounds"
} | tee "$OUT/results.txt"

run_wrk() {
  # wrk has no warm-up: it starts measuring at once (its connections open in microseconds).
  wrk -t1 -c "$CONNECTIONS" -d "${DURATION}s" "$url" | awk '/^Requests\/sec:/ { printf "%.0f\n", $2 }'
}
run_asio() {
  "$program" --bench "$url" --connections "$CONNECTIONS" --seconds "$DURATION" --warmup "$WARMUP" \
    | awk '{ print $(NF-1) }'
}
run_aiohttp() {
  /usr/bin/python3 "$here/aiohttp_client.py" "$url" --connections "$CONNECTIONS" \
    --seconds "$DURATION" --warmup "$WARMUP" | awk '{ print $(NF-1) }'
}

declare -A results
for round in $(seq "$REPEATS"); do
  for name in wrk asio aiohttp; do
    rate=$("run_$name")
    [ -n "$rate" ] || die "$name printed no rate"
    echo "round $round $name $rate requests/s" | tee -a "$OUT/results.txt"
    results[$name]+="$rate "
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
w=$(median "${results[wrk]}") a=$(median "${results[asio]}") p=$(median "${results[aiohttp]}")
{
  echo "median requests/s: wrk $w, asio $a, aiohttp $p"
  awk -v a="$a" -v w="$w" -v p="$p" 'BEGIN { printf "asio / wrk = %.2f, asio / aiohttp = %.2f\n", a / w, a / p }'
  echo "load average after: $(cat /proc/loadavg)"
  echo "results in $OUT"
} | tee -a "$OUT/results.txt"
