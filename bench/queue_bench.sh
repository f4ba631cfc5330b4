#!/usr/bin/env bash
# Project 031's benchmark: no-op jobs (`sleep 0`) per second through the queue, against pgbench
# running the same claim and complete statements (bench/queue_claim.sql) with as many
# connections as there are workers, on one throwaway PostgreSQL server; medians of REPEATS
# rounds, interleaved. For each W in WORKERS:
#   workers   W `031_task_queue worker --concurrency CONCURRENCY` processes, started idle;
#             JOBS jobs inserted in one statement (its NOTIFY wakes them); timed by the
#             database's own clock, from the insert (the jobs' created_at) to the last
#             complete (the latest finished_at); psql looks every 0.5 s whether they are
#             done. (A new psql every 50 ms, a process and a server backend each, took CPU
#             from the workers and slowed them by about 10%. One psql session waiting in a
#             loop inside one transaction was worse: its snapshot kept every dead row version
#             the claims must step over, and halved the workers' jobs/s.)
#   pgbench   pgbench -f queue_claim.sql -M extended -c W -j W -t JOBS/W over JOBS jobs
#             inserted beforehand: one job claimed and completed per transaction (the
#             practical limit of this design on this database, no queue program involved)
#
# usage: bench/queue_bench.sh
# Environment (defaults in brackets):
#   BIN [build/release/bin]   where 031_task_queue is (cmake --preset release &&
#                             cmake --build build/release --target 031_task_queue)
#   REPEATS [5] JOBS [20000] WORKERS ["1 2 4"] CONCURRENCY [1] (handlers at once per worker:
#   1 makes one claim per job, as pgbench does; more lets a worker claim several at once)
#   OUT [a new temporary folder]   results.txt (every run's line) and the server's log
# The server is initdb'd in a temporary folder (as the postgres user when run as root),
# listens on 127.0.0.1 on a free port, and is stopped and removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../build/release/bin}
REPEATS=${REPEATS:-5} JOBS=${JOBS:-20000} WORKERS=${WORKERS:-"1 2 4"} CONCURRENCY=${CONCURRENCY:-1}
OUT=${OUT:-$(mktemp -d /tmp/queue-bench.XXXXXX)}
mkdir -p "$OUT"
die() { echo "queue_bench.sh: $*" >&2; exit 2; }

program=$BIN/031_task_queue
[ -x "$program" ] || die "$program missing; build it (see the header)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbin" ] && [ -x "$pgbin/pgbench" ] || die "PostgreSQL missing: apt-get install postgresql"
[ -x "$pgbin/psql" ] || die "psql missing: apt-get install postgresql-client"

source "$here/throwaway_pg.sh"
worker_pids=()
stop_workers() {
  for pid in "${worker_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${worker_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  worker_pids=()
}
stop() {
  stop_workers
  pg_stop
}
trap stop EXIT
trap 'exit 130' INT TERM

pg_start queue-bench
sql() { "$pgbin/psql" -X -q -At -d "$dsn" -c "$1"; }
"$program" status --db "$dsn" > /dev/null  # creates the schema
# Column statistics for the jobs table, once, as autovacuum gathers them on any table in use.
# A new table has none until autovacuum's first ANALYZE (up to a minute after the first rows):
# without them the planner sorts every due job on each claim (about 17 ms per claim at 3,000
# waiting jobs, against 0.6 ms by the index once analysed), which made the first run of the
# first round many times slower than the others. ANALYZE of the emptied table keeps them.
sql "INSERT INTO jobs (kind, payload) SELECT 'sleep', '0' FROM generate_series(1, $JOBS)"
sql "ANALYZE jobs"

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(uname -srm); nproc $(nproc); $("$pgbin/postgres" --version)"
  echo "load average before: $(cat /proc/loadavg)"
  echo "jobs $JOBS per run, workers: $WORKERS, concurrency $CONCURRENCY per worker, $REPEATS rounds"
} | tee "$OUT/results.txt"

fresh_jobs() {  # $1 jobs waiting, nothing else; vacuumed so every run starts alike
  sql "TRUNCATE jobs" && sql "VACUUM ANALYZE jobs" > /dev/null
  [ "$1" -eq 0 ] || sql "INSERT INTO jobs (kind, payload) SELECT 'sleep', '0' FROM generate_series(1, $1)"
}

run_workers() {  # $1 workers; prints jobs/s
  fresh_jobs 0
  for i in $(seq "$1"); do
    "$program" worker --db "$dsn" --name "bench-$i" --concurrency "$CONCURRENCY" --poll 1 \
      >> "$OUT/workers.log" 2>&1 &
    worker_pids+=($!)
  done
  sleep 1  # started and listening
  sql "INSERT INTO jobs (kind, payload) SELECT 'sleep', '0' FROM generate_series(1, $JOBS)"
  while [ "$(sql "SELECT count(*) FROM jobs WHERE state IN ('waiting', 'running')")" != 0 ]; do
    sleep 0.5
  done
  stop_workers
  [ "$(sql "SELECT count(*) FROM jobs WHERE state = 'done'")" = "$JOBS" ] || die "not every job done"
  sql "SELECT round($JOBS / extract(epoch FROM max(finished_at) - min(created_at))) FROM jobs"
}

run_pgbench() {  # $1 connections; prints transactions (= jobs) per second
  fresh_jobs "$JOBS"
  "$pgbin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M extended -c "$1" -j "$1" \
    -t $((JOBS / $1)) -f "$here/queue_claim.sql" postgres 2>> "$OUT/pgbench.log" \
    | awk '/^tps = / { printf "%.0f\n", $3; exit }'
}

declare -A results
for round in $(seq "$REPEATS"); do
  for w in $WORKERS; do
    for name in workers pgbench; do
      rate=$("run_$name" "$w")
      [ -n "$rate" ] || die "$name printed no rate"
      echo "round $round $name $w: $rate jobs/s" | tee -a "$OUT/results.txt"
      results[$name-$w]+="$rate "
    done
  done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
{
  for w in $WORKERS; do
    q=$(median "${results[workers-$w]}") p=$(median "${results[pgbench-$w]}")
    awk -v w="$w" -v q="$q" -v p="$p" \
      'BEGIN { printf "%s worker(s): median %s jobs/s, pgbench %s, workers / pgbench = %.2f\n", w, q, p, q / p }'
  done
  echo "load average after: $(cat /proc/loadavg)"
  echo "results in $OUT"
} | tee -a "$OUT/results.txt"
