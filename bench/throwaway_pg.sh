# Sourced by pool_bench.sh and queue_bench.sh: a throwaway PostgreSQL server for one benchmark.
# Needs $pgbin (PostgreSQL's programs) and $OUT (where the server's log is kept at the end).
#   pg_start NAME   initdb in a new /tmp/NAME-pg.XXXXXX (as the postgres user when run as root),
#                   start it on 127.0.0.1 on a free port (fsync and synchronous_commit off);
#                   sets $port and $dsn
#   pg_stop         stop it (immediate), keep its log in $OUT, remove the folder
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_folder=
pg_start() {
  pg_folder=$(mktemp -d "/tmp/$1-pg.XXXXXX")
  [ "$(id -u)" = 0 ] && chown postgres: "$pg_folder"
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_owner "$pgbin/initdb" -D "$pg_folder/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
    > "$OUT/initdb.log" 2>&1
  as_owner "$pgbin/pg_ctl" -D "$pg_folder/data" -l "$pg_folder/server.log" -w start \
    -o "-p $port -k $pg_folder -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" \
    > /dev/null
  dsn="host=127.0.0.1 port=$port dbname=postgres user=postgres"
}
pg_stop() {
  [ -n "$pg_folder" ] || return 0
  as_owner "$pgbin/pg_ctl" -D "$pg_folder/data" -m immediate -w stop >/dev/null 2>&1 || true
  cp "$pg_folder/server.log" "$OUT/" 2>/dev/null || true
  rm -rf "$pg_folder"
  pg_folder=
}
