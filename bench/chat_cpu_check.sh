#!/usr/bin/env bash
# Project 029: one run of each server with the CPU time of the server (from /proc) and of the
# load generator (/usr/bin/time), to see which one limits the benchmark. Run from the project
# root after the release build of 029_chat_server and chat_load (bench/chat_bench.sh's header).
cd "$(dirname "$0")/.."
for name in asio asyncio; do
  log=/tmp/cpu-$name.log; : > $log
  if [ $name = asio ]; then build/release/bin/029_chat_server --serve --quiet --port 0 --web-port 0 > $log 2>&1 &
  else /usr/bin/python3 bench/asyncio_chat.py 0 > $log 2>&1 & fi
  pid=$!; sleep 1
  port=$(sed -n 's/^chat: lines on [0-9.]*:\([0-9]*\).*/\1/p' $log)
  tck=$(getconf CLK_TCK)
  s0=$(awk '{print $14+$15}' /proc/$pid/stat); t0=$(date +%s.%N)
  /usr/bin/time -f "load generator: %U user + %S sys s in %e s" build/release/bin/chat_load --port $port -c 100 -w 4 -m 64 -d 5 --warmup 1 --label $name
  s1=$(awk '{print $14+$15}' /proc/$pid/stat); t1=$(date +%s.%N)
  echo "$name server: $(echo "($s1-$s0)/$tck" | bc -l | cut -c1-5) CPU s in $(echo "$t1-$t0" | bc | cut -c1-5) s"
  kill $pid; wait $pid 2>/dev/null
done
