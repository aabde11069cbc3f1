#!/usr/bin/env bash
# `make bench`: Bulwark side by side with restic and borg on this machine, in one run.
#
#   bench/run.sh [path-to-bulwark] [part...]
#
# Parts are the scripts bench/<part>.sh (today: files, postgres, redis, s3); the default
# is every part present. Results: a markdown report on stdout and in bench/out/results.md,
# raw rows in bench/out/raw.tsv, tool output in bench/out/logs/. Method: the page cache is
# dropped before every timed step (needs root), 3 runs, medians with ranges, ratios per peer.
#
# Environment:
#   BENCH_SIZE_MB   corpus size for the files part (default 2048)
#   BENCH_RUNS      runs per step (default 3)
#   BENCH_TOOLS     tools to compare, subject first (default "bulwark restic borg")
#   BENCH_OUT       output directory (default bench/out)
#   BENCH_VERIFY    compare restored trees with the source: first (default) | all | none
#   BENCH_BORG_COMPRESSION  borg's --compression (default zstd,3, like restic's default)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"

ALL_PARTS=(files postgres redis s3)
BIN=build/bulwark
if [[ $# -gt 0 && ! -f "$HERE/$1.sh" ]]; then
  BIN=$1
  shift
fi
PARTS=("$@")
if [[ ${#PARTS[@]} -eq 0 ]]; then
  for p in "${ALL_PARTS[@]}"; do [[ -f "$HERE/$p.sh" ]] && PARTS+=("$p"); done
fi
for p in "${PARTS[@]}"; do
  [[ -f "$HERE/$p.sh" ]] || { echo "bench: no part '$p' (bench/$p.sh)" >&2; exit 2; }
done

[[ "$BIN" = /* ]] || BIN="$ROOT/$BIN"
export BENCH_OUT=${BENCH_OUT:-$ROOT/bench/out}
mkdir -p "$BENCH_OUT"
BENCH_OUT=$(cd "$BENCH_OUT" && pwd)
export BENCH_RAW="$BENCH_OUT/raw.tsv"
# A copy: rebuilding during a long run must not swap the binary under it.
if [[ -x "$BIN" ]]; then
  cp "$BIN" "$BENCH_OUT/bulwark"
  export BENCH_BULWARK="$BENCH_OUT/bulwark"
else
  export BENCH_BULWARK="$BIN"
fi
: >"$BENCH_RAW"
rm -f "$BENCH_OUT/.warm-cache" "$BENCH_OUT"/results-*.md
rm -rf "$BENCH_OUT/logs"

if [[ ! -x /usr/bin/time ]]; then
  echo "bench: /usr/bin/time is missing (run scripts/install-deps.sh --bench)" >&2
  exit 2
fi

# Keep only the tools that exist here; say which are missing.
tools=()
for t in ${BENCH_TOOLS:-bulwark restic borg}; do
  case $t in
    bulwark) if [[ -x "$BIN" ]]; then tools+=(bulwark); else bench_log "skipping bulwark: $BIN is not built"; fi ;;
    *) if command -v "$t" >/dev/null; then tools+=("$t"); else bench_log "skipping $t: not installed"; fi ;;
  esac
done
if [[ ${#tools[@]} -eq 0 ]]; then
  echo "bench: no tool to run" >&2
  exit 2
fi
export BENCH_TOOLS="${tools[*]}"
[[ $(id -u) -eq 0 ]] || bench_log "warning: not root, so the page cache cannot be dropped between steps"

version_of() {
  case $1 in
    bulwark) "$BIN" version 2>/dev/null | head -1 || echo "bulwark (version unknown)" ;;
    restic) restic version | cut -d' ' -f1-2 ;;
    borg) borg --version ;;
  esac
}

status=0
for p in "${PARTS[@]}"; do
  if [[ $p == files ]]; then bench_log "part $p with: ${tools[*]}"; else bench_log "part $p"; fi
  if ! bash "$HERE/$p.sh"; then
    bench_log "part $p failed"
    status=1
  fi
done

{
  echo "# Benchmark results"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) cores ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, Linux $(uname -r)"
  echo "- bulwark: $(version_of bulwark) (each part names its peers)"
  if [[ " ${PARTS[*]} " == *" files "* ]]; then
    echo "- files part: $(for t in "${tools[@]}"; do printf '%s; ' "$(version_of "$t")"; done)borg compression ${BENCH_BORG_COMPRESSION:-zstd,3}, restic and bulwark defaults"
  fi
  echo "- command: \`BENCH_SIZE_MB=${BENCH_SIZE_MB:-2048} BENCH_RUNS=${BENCH_RUNS:-3} bench/run.sh ${PARTS[*]}\` (\`make bench\` runs every part at the defaults)"
  if [[ -f "$BENCH_OUT/.warm-cache" ]]; then
    echo "- **page cache could not be dropped (not root): timings are warm-cache**"
  else
    echo "- page cache dropped before every timed step; restores are timed including a final sync"
  fi
  echo
  for p in "${PARTS[@]}"; do
    [[ -f "$BENCH_OUT/results-$p.md" ]] && cat "$BENCH_OUT/results-$p.md"
  done
} >"$BENCH_OUT/results.md"
cat "$BENCH_OUT/results.md"
exit $status
