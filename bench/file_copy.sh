#!/usr/bin/env bash
# Lesson 024's benchmark: copying a SIZE_MIB file that is in the page cache, five ways,
# interleaved round by round (a fresh process for every copy), medians at the end:
#   cp         GNU cp: the reference (coreutils 9 copies inside the kernel, copy_file_range)
#   threads    024_file_io --bench threads: the thread-pool backend, 1 MiB chunks, one pool
#              trip per chunk (read + write)
#   io_uring   024_file_io_uring --bench: asio::stream_file on io_uring (built with liburing-dev)
#   blocking   024_file_io --bench blocking: read()/write() called inside the loop (the mistake,
#              for contrast: its loop stall is the whole copy)
#   aiofiles   /usr/bin/python3 bench/file_aiofiles.py (Debian's python3-aiofiles), 1 MiB chunks
# Each copy reports MiB/s, its peak RSS (VmHWM; for cp, /usr/bin/time's maximum resident size if
# the `time` package is installed) and, for every backend but cp, the loop's stalls while it
# copied: how late a 1 ms ticker on the same loop woke, longest and 99th percentile.
# Goal (issue 11): every backend at least 0.8x cp's MiB/s, peak RSS well under 32 MiB.
#
# usage: bench/file_copy.sh
# Environment (defaults in brackets):
#   BIN [build/release/bin]   where 024_file_io (and 024_file_io_uring) are: cmake --preset release &&
#                             cmake --build build/release --target 024_file_io
#   SIZE_MIB [256] REPEATS [5]
#   DIR [a new folder under /var/tmp]   where the file and its copies go (a disk, not a tmpfs:
#                             the source is read from the page cache, the copies are real writes)
#   OUT [a new temporary folder]   results.txt: every run's line
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BIN=${BIN:-$here/../build/release/bin}
SIZE_MIB=${SIZE_MIB:-256} REPEATS=${REPEATS:-5}
OUT=${OUT:-$(mktemp -d /tmp/file-copy-bench.XXXXXX)}
die() { echo "file_copy.sh: $*" >&2; exit 2; }

[ -x "$BIN/024_file_io" ] || die "$BIN/024_file_io missing; build it (see the header)"
backends="cp threads"
if [ -x "$BIN/024_file_io_uring" ]; then backends+=" io_uring"; else
  echo "file_copy.sh: $BIN/024_file_io_uring missing (apt-get install liburing-dev, configure, build): no io_uring row" >&2
fi
backends+=" blocking"
if /usr/bin/python3 -c 'import aiofiles' 2>/dev/null; then backends+=" aiofiles"; else
  echo "file_copy.sh: aiofiles missing (apt-get install python3-aiofiles): no aiofiles row" >&2
fi

mkdir -p "$OUT"
work=${DIR:-$(mktemp -d /var/tmp/file-copy.XXXXXX)}
mkdir -p "$work"
cleanup() { rm -f "$work/source.bin" "$work/copy.bin" "$work"/.copy.bin.partial-* "$work"/copy.bin.partial-*; [ -n "${DIR:-}" ] || rmdir "$work" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom > "$work/source.bin"
cat "$work/source.bin" > /dev/null  # into the page cache
sync

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); $(uname -srm); nproc $(nproc); $(cp --version | head -n 1)"
  echo "file: $SIZE_MIB MiB in $work ($(df -T "$work" | awk 'NR == 2 { print $2 }')), from the page cache; $REPEATS rounds"
  echo "load average before: $(cat /proc/loadavg)"
} | tee "$OUT/results.txt"

now_ns() { date +%s%N; }
run_cp() {
  local start end rss=- bytes=$((SIZE_MIB * 1024 * 1024))
  start=$(now_ns)
  if [ -x /usr/bin/time ]; then
    rss=$( { /usr/bin/time -f '%M' cp "$work/source.bin" "$work/copy.bin"; } 2>&1 )
  else
    cp "$work/source.bin" "$work/copy.bin"
  fi
  end=$(now_ns)
  awk -v b="$bytes" -v ns="$((end - start))" -v rss="$rss" 'BEGIN {
    s = ns / 1e9; printf "backend=cp bytes=%d seconds=%.4f mib_per_s=%.0f peak_rss_kib=%s loop_longest_ms=- loop_p99_ms=- ticks=-\n", b, s, b / 1048576 / s, rss }'
}
run_threads() { "$BIN/024_file_io" --bench threads "$work/source.bin" "$work/copy.bin"; }
run_blocking() { "$BIN/024_file_io" --bench blocking "$work/source.bin" "$work/copy.bin"; }
run_io_uring() { "$BIN/024_file_io_uring" --bench "$work/source.bin" "$work/copy.bin"; }
run_aiofiles() { /usr/bin/python3 "$here/file_aiofiles.py" "$work/source.bin" "$work/copy.bin"; }

field() { sed -nE "s/.*(^| )$1=([^ ]*).*/\2/p" <<<"$2"; }
declare -A rates rss longest p99
for round in $(seq "$REPEATS"); do
  for name in $backends; do
    line=$("run_$name")
    [ -n "$line" ] || die "$name printed nothing"
    cmp -s "$work/source.bin" "$work/copy.bin" || die "$name: the copy differs from the source"
    rm -f "$work/copy.bin"
    sync  # the copy's dirty pages go to disk now, not during the next run
    echo "round $round $line" | tee -a "$OUT/results.txt"
    rates[$name]+="$(field mib_per_s "$line") "
    rss[$name]+="$(field peak_rss_kib "$line") "
    longest[$name]+="$(field loop_longest_ms "$line") "
    p99[$name]+="$(field loop_p99_ms "$line") "
  done
done

median() { tr ' ' '\n' <<<"$1" | grep -v '^-\?$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
cp_rate=$(median "${rates[cp]}")
{
  echo "medians of $REPEATS rounds ($SIZE_MIB MiB):"
  printf '%-9s %9s %9s %14s %16s %14s\n' backend "MiB/s" "x cp" "peak RSS KiB" "loop longest ms" "loop p99 ms"
  for name in $backends; do
    rate=$(median "${rates[$name]}")
    printf '%-9s %9s %9s %14s %16s %14s\n' "$name" "$rate" \
      "$(awk -v r="$rate" -v c="$cp_rate" 'BEGIN { printf "%.2f", r / c }')" \
      "$(median "${rss[$name]}")" "$(median "${longest[$name]}")" "$(median "${p99[$name]}")"
  done
  echo "goal: every backend but blocking >= 0.80 x cp, peak RSS well under 32 MiB (32768 KiB)"
  echo "load average after: $(cat /proc/loadavg)"
  echo "results in $OUT"
} | tee -a "$OUT/results.txt"
