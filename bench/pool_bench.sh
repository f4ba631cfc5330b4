#!/usr/bin/env bash
# Lesson 028's benchmark: a short read-only query (pgbench -S's SELECT abalance FROM
# pgbench_accounts WHERE aid = $1) at CLIENTS concurrent callers through POOL connections,
# three ways, interleaved round by round on one throwaway PostgreSQL server; prints medians:
#   pgbench   pgbench -S -c POOL -j 1 -n: C and libpq, POOL connections, no pool (the
#             practical limit, shipped with PostgreSQL)
#   asio      028_connection_pool --bench: this lesson's Pool, CLIENTS callers, one thread
#   asyncpg   bench/asyncpg_pool.py with /usr/bin/python3 (Debian's python3-asyncpg):
#             asyncpg.create_pool(max_size=POOL), CLIENTS callers, one event loop
#
# usage: bench/pool_bench.sh
# Environment (defaults in brackets):
#   BIN [build/release/bin]   where 028_connection_pool is (cmake --preset release &&
#                             cmake --build build/release --target 028_connection_pool)
#   REPEATS [5] DURATION [5] WARMUP [1] CLIENTS [32] POOL [8] SCALE [1] (pgbench -i -s)
#   OUT [a new temporary folder]   results.txt (every run's line) and the server's log
# The server is initdb'd in a temporary folder (as the postgres user when run as root),
# listens on 127.0.0.1 on a free port, and is stopped and removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../build/release/bin}
REPEATS=${REPEATS:-5} DURATION=${DURATION:-5} WARMUP=${WARMUP:-1}
CLIENTS=${CLIENTS:-32} POOL=${POOL:-8} SCALE=${SCALE:-1}
OUT=${OUT:-$(mktemp -d /tmp/pool-bench.XXXXXX)}
mkdir -p "$OUT"
die() { echo "pool_bench.sh: $*" >&2; exit 2; }

program=$BIN/028_connection_pool
[ -x "$program" ] || die "$program missing; build it (see the header)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] && [ -x "$pgbin/pgbench" ] || die "PostgreSQL missing: apt-get install postgresql"
/usr/bin/python3 -c 'import asyncpg' 2>/dev/null || die "asyncpg missing: apt-get install python3-asyncpg"

source "$here/throwaway_pg.sh"
trap pg_stop EXIT
trap 'exit 130' INT TERM

pg_start pool-bench
"$pgbin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$SCALE" -q postgres > "$OUT/pgbench-init.log" 2>&1

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(uname -srm); nproc $(nproc); $("$pgbin/postgres" --version)"
  echo "load average before: $(cat /proc/loadavg)"
  echo "clients $CLIENTS, pool $POOL, scale $SCALE, $DURATION s per run, $REPEATS rounds"
} | tee "$OUT/results.txt"

run_pgbench() {
  "$pgbin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -S -n -c "$POOL" -j 1 -T "$DURATION" postgres \
    | awk '/^tps = / { printf "%.0f\n", $3; exit }'
}
run_asio() {
  "$program" --bench --dsn "$dsn" --clients "$CLIENTS" --pool "$POOL" --seconds "$DURATION" \
    --warmup "$WARMUP" --pgbench-select "$SCALE" | awk '{ print $(NF-1) }'
}
run_asyncpg() {
  /usr/bin/python3 "$here/asyncpg_pool.py" "$dsn" --clients "$CLIENTS" --pool "$POOL" \
    --seconds "$DURATION" --warmup "$WARMUP" --scale "$SCALE" | awk '{ print $(NF-1) }'
}

declare -A results
for round in $(seq "$REPEATS"); do
  for name in pgbench asio asyncpg; do
    rate=$("run_$name")
    [ -n "$rate" ] || die "$name printed no rate"
    echo "round $round $name $rate queries/s" | tee -a "$OUT/results.txt"
    results[$name]+="$rate "
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
pg=$(median "${results[pgbench]}") asio=$(median "${results[asio]}") apg=$(median "${results[asyncpg]}")
{
  echo "median queries/s: pgbench $pg, asio $asio, asyncpg $apg"
  awk -v a="$asio" -v p="$pg" -v y="$apg" 'BEGIN { printf "asio / pgbench = %.2f, asio / asyncpg = %.2f\n", a / p, a / y }'
  echo "load average after: $(cat /proc/loadavg)"
  echo "results in $OUT"
} | tee -a "$OUT/results.txt"
