# shellcheck shell=bash disable=SC2034,SC2016
# Helpers shared by the benchmark parts (sourced by bench/<part>.sh; not run directly).
#
# Every timed step appends one tab-separated row to $BENCH_RAW:
#   part step tool run wall_s cpu_s rss_kb bytes status
# where bytes is the source size the step processed (for throughput) or, for "size:*" rows,
# the measured size itself. bench/summarize.py turns the rows into tables.

bench_log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# Cold cache for every timed step: flush dirty pages (so the previous step's writes are not
# charged to the next tool) and drop the page cache. Needs root; without it results are
# marked warm in the report.
drop_caches() {
  # Cold start for Bulwark too: forget the repository keys it keeps in the kernel keyring
  # (crypto/key_cache.h), for this user and for the postgres user the PostgreSQL part runs as,
  # so a timed step derives its key like a command run by cron or after a reboot.
  if [[ -n ${BENCH_BULWARK:-} ]]; then
    "$BENCH_BULWARK" -q key uncache >/dev/null 2>&1 || true
    if [[ $(id -u) -eq 0 ]] && id postgres >/dev/null 2>&1; then
      runuser -u postgres -- "$BENCH_BULWARK" -q key uncache >/dev/null 2>&1 || true
    fi
  fi
  sync
  if [[ -w /proc/sys/vm/drop_caches ]]; then
    echo 3 >/proc/sys/vm/drop_caches
  else
    if [[ -z "${BENCH_WARNED_CACHE:-}" ]]; then
      bench_log "warning: cannot drop the page cache (not root); timings are warm-cache"
      BENCH_WARNED_CACHE=1
    fi
    echo "warm" >"$BENCH_OUT/.warm-cache"
  fi
}

# Regular-file bytes below a directory (what a backup tool has to read).
tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d\n", s}'; }
# Bytes a repository occupies on disk, counted the way a quota or bill would.
dir_bytes() { du -sb "$1" | cut -f1; }

# timed PART STEP TOOL RUN BYTES CMD...
# Runs CMD under /usr/bin/time -v (wall, CPU of the whole process tree, peak RSS of the
# largest process), output to $BENCH_OUT/logs/. Returns CMD's exit status.
timed() {
  local part=$1 step=$2 tool=$3 run=$4 bytes=$5
  shift 5
  local log="$BENCH_OUT/logs/$part-$step-$tool-$run.log"
  local tv="$BENCH_OUT/logs/$part-$step-$tool-$run.time"
  mkdir -p "$BENCH_OUT/logs"
  local start end rc=0
  start=$(date +%s%N)
  /usr/bin/time -v -o "$tv" "$@" >"$log" 2>&1 || rc=$?
  end=$(date +%s%N)
  local wall cpu rss
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$tv")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$part" "$step" "$tool" "$run" "$wall" "$cpu" \
    "${rss:-0}" "$bytes" "$rc" >>"$BENCH_RAW"
  if [[ $rc -ne 0 ]]; then
    bench_log "  $tool $step failed (exit $rc); last lines of $log:"
    tail -n 5 "$log" | sed 's/^/    /' >&2
  else
    bench_log "  $tool $step: ${wall}s wall, ${cpu}s CPU, $((${rss:-0} / 1024)) MiB peak RSS"
  fi
  return $rc
}

# record PART STEP TOOL RUN VALUE STATUS: a measurement that is not a timing (sizes, checks).
record() {
  printf '%s\t%s\t%s\t%s\t\t\t\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "${6:-0}" >>"$BENCH_RAW"
}

# Prefix for `timed` that runs CMD in DIR and then syncs: a restore is finished when it is on
# disk. Usage: timed ... "${IN_DIR_THEN_SYNC[@]}" DIR CMD...
IN_DIR_THEN_SYNC=(bash -c 'cd "$1" && shift && "$@" && sync' _)
