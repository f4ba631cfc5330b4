#!/usr/bin/env bash
# CTest smoke test of the benchmark kit (bench/CMakeLists.txt), bounded in count and in time,
# on 127.0.0.1 only:
#   1. echo_load against epoll_echo: 2,000 round trips at most; it must exit 0 having verified
#      2,000 x 64 bytes, with no mismatch and no error.
#   2. echo_load against a server that changes one byte of its 3rd echo: it must exit 2 and
#      report exactly 1 mismatched message (so the verification can fail).
# usage: smoke_test.sh ECHO_LOAD EPOLL_ECHO
set -euo pipefail
load=$1 server=$2
work=$(mktemp -d)
started=()
cleanup() {
  local pid
  for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Waits for a server's "listening on 127.0.0.1:N" line and prints N.
port_of() {
  local i
  for i in $(seq 100); do
    if grep -q 'listening on 127.0.0.1:' "$1" 2>/dev/null; then sed -n 's/.*127\.0\.0\.1://p' "$1"; return; fi
    sleep 0.1
  done
  echo "no 'listening on' line in $1" >&2; exit 1
}
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$2"; }

"$server" 0 line >"$work/c.out" &
started+=($!)
port=$(port_of "$work/c.out")
result=$(timeout 30 "$load" --port "$port" -c 4 -m 64 -w 0 -d 10 --line --max-round-trips 2000)
echo "against epoll_echo: $result"
[ "$(field completed_total "$result")" = 2000 ] || { echo "FAIL: expected 2000 round trips"; exit 1; }
[ "$(field verified_bytes "$result")" = 128000 ] || { echo "FAIL: expected 128000 verified bytes"; exit 1; }
[ "$(field mismatched "$result")" = 0 ] && [ "$(field errors "$result")" = 0 ] || { echo "FAIL: errors"; exit 1; }

/usr/bin/python3 -c '
import socket
listener = socket.create_server(("127.0.0.1", 0))
print(f"listening on 127.0.0.1:{listener.getsockname()[1]}", flush=True)
connection, _ = listener.accept()
line, count = b"", 0
while data := connection.recv(4096):
    line += data
    while b"\n" in line:
        echo, line = line.split(b"\n", 1)
        count += 1
        if count == 3:
            echo = b"#" + echo[1:]  # one wrong byte in the 3rd echo
        connection.sendall(echo + b"\n")
' >"$work/bad.out" &
started+=($!)
port=$(port_of "$work/bad.out")
status=0
result=$(timeout 30 "$load" --port "$port" -c 1 -m 64 -w 0 -d 10 --line --max-round-trips 100) || status=$?
echo "against a corrupting server: exit $status, $result"
[ "$status" = 2 ] || { echo "FAIL: expected exit status 2"; exit 1; }
[ "$(field mismatched "$result")" = 1 ] || { echo "FAIL: expected 1 mismatched message"; exit 1; }
[ "$(field completed_total "$result")" = 2 ] || { echo "FAIL: expected 2 good round trips first"; exit 1; }
echo "PASS"
