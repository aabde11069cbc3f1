#!/usr/bin/env bash
# Runs every libFuzzer target built by `make fuzz` for a short time on an empty corpus.
set -euo pipefail
fuzz_dir="${BULWARK_FUZZ_DIR:?}"
src_dir="${BULWARK_SOURCE_DIR:?}"
seconds="${BULWARK_FUZZ_SECONDS:-15}"
mapfile -t sources < <(ls "$src_dir"/fuzz/*_fuzz.cc 2>/dev/null)
if [ ${#sources[@]} -eq 0 ]; then
  echo "no fuzz targets under fuzz/" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for src in "${sources[@]}"; do
  name=$(basename "$src" .cc)
  bin="$fuzz_dir/$name"
  if [ ! -x "$bin" ]; then
    echo "fuzz target $name is not built: run 'make fuzz' first" >&2
    exit 1
  fi
  mkdir -p "$work/$name"
  echo "fuzzing $name for ${seconds}s"
  (cd "$work" && "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 \
     -print_final_stats=0 "$work/$name" >"$work/$name.log" 2>&1) || {
    tail -n 40 "$work/$name.log" >&2
    echo "fuzz target $name failed" >&2
    exit 1
  }
done
echo "all ${#sources[@]} fuzz targets ran for ${seconds}s without findings"
