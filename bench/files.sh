#!/usr/bin/env bash
# Benchmark part "files": a generated mixed corpus (about 2 GiB) backed up by each tool in
# $BENCH_TOOLS: first backup, second backup after a deterministic 5% change, full restore
# (timed including a final sync), and a check that reads all data. Each step runs for every
# tool before the next step starts, tool order rotates between runs, and the page cache is
# dropped before every timed step. Called by bench/run.sh, which sets the BENCH_* variables.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"

PART=files
: "${BENCH_OUT:?run bench/run.sh}"
: "${BENCH_RAW:?run bench/run.sh}"
SIZE_MB=${BENCH_SIZE_MB:-2048}
RUNS=${BENCH_RUNS:-3}
read -r -a TOOLS <<<"${BENCH_TOOLS:-bulwark restic borg}"
BULWARK=${BENCH_BULWARK:-}
BORG_COMPRESSION=${BENCH_BORG_COMPRESSION:-zstd,3}
VERIFY=${BENCH_VERIFY:-first}  # compare restored trees with the source: first | all | none

# --- corpus (generated once, reused while the generator is unchanged) -----------------------
CACHE="$BENCH_OUT/cache/files-corpus-${SIZE_MB}mb"
stamp=$(sha256sum "$HERE/gen_corpus.py" | cut -c1-16)
if [[ ! -d "$CACHE" || "$(cat "$CACHE.stamp" 2>/dev/null)" != "$stamp" ]]; then
  bench_log "generating the ${SIZE_MB} MiB corpus in $CACHE (once)"
  rm -rf "$CACHE" "$CACHE.tmp" "$CACHE.stamp"
  mkdir -p "$(dirname "$CACHE")"
  python3 "$HERE/gen_corpus.py" generate "$CACHE.tmp" "$SIZE_MB" >&2
  mv "$CACHE.tmp" "$CACHE"
  echo "$stamp" >"$CACHE.stamp"
fi

WORK="$BENCH_OUT/work/$PART"
SRC="$WORK/src"
PASSWORD_FILE="$BENCH_OUT/password"
if [[ ! -s "$PASSWORD_FILE" ]]; then
  (umask 077 && head -c 24 /dev/urandom | base64 >"$PASSWORD_FILE")
fi

# Every tool reads its repository and passphrase from the environment, never from argv.
export RESTIC_REPOSITORY="$WORK/repos/restic" RESTIC_PASSWORD_FILE="$PASSWORD_FILE"
export RESTIC_CACHE_DIR="$WORK/home/restic-cache"
export BORG_REPO="$WORK/repos/borg" BORG_PASSCOMMAND="cat $PASSWORD_FILE"
export BORG_BASE_DIR="$WORK/home/borg" BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export BULWARK_REPOSITORY="$WORK/repos/bulwark" BULWARK_PASSWORD_FILE="$PASSWORD_FILE"
export BULWARK_CACHE_DIR="$WORK/home/bulwark"
unset RESTIC_PASSWORD BORG_PASSPHRASE BULWARK_PASSWORD

repo_of() {
  case $1 in
    restic) echo "$RESTIC_REPOSITORY" ;;
    borg) echo "$BORG_REPO" ;;
    bulwark) echo "$BULWARK_REPOSITORY" ;;
  esac
}

# Command lines per tool and step, returned in the array CMD.
cmd_init() {
  case $1 in
    restic) CMD=(restic init) ;;
    borg) CMD=(borg init --encryption=repokey) ;;
    bulwark) CMD=("$BULWARK" init) ;;
  esac
}
cmd_backup() {  # tool snapshot-number
  case $1 in
    restic) CMD=(restic backup "$SRC") ;;
    borg) CMD=(borg create --compression "$BORG_COMPRESSION" "::backup$2" "$SRC") ;;
    bulwark) CMD=("$BULWARK" backup files "$SRC") ;;
  esac
}
cmd_restore() {  # tool target; runs inside the target directory
  case $1 in
    restic) CMD=(restic restore latest --target "$2") ;;
    borg) CMD=(borg extract ::backup2) ;;
    bulwark) CMD=("$BULWARK" restore latest --target "$2") ;;
  esac
}
cmd_check() {
  case $1 in
    restic) CMD=(restic check --read-data) ;;
    borg) CMD=(borg check --verify-data) ;;
    bulwark) CMD=("$BULWARK" check --read-data) ;;
  esac
}

run_quiet() {
  local log="$BENCH_OUT/logs/$PART-setup.log"
  mkdir -p "$BENCH_OUT/logs"
  if ! "$@" >>"$log" 2>&1; then
    bench_log "  set-up command failed: $* (see $log)"
    return 1
  fi
}

# The tool order rotates each run so no tool always runs first after the corpus copy.
rotated_tools() {
  local run=$1 n=${#TOOLS[@]} i
  for ((i = 0; i < n; i++)); do echo "${TOOLS[$(((i + run - 1) % n))]}"; done
}

declare -A FAILED  # tool -> 1 once a step failed in this run (later steps are skipped)

for ((run = 1; run <= RUNS; run++)); do
  bench_log "files: run $run of $RUNS (${SIZE_MB} MiB corpus)"
  rm -rf "$WORK"
  mkdir -p "$WORK/repos" "$WORK/home" "$WORK/restore"
  # A hard-link copy costs nothing; the mutation below replaces files instead of editing
  # them, so the cached corpus stays pristine.
  cp -al "$CACHE" "$SRC"
  bytes1=$(tree_bytes "$SRC")
  mapfile -t order < <(rotated_tools "$run")
  FAILED=()

  for tool in "${order[@]}"; do
    cmd_init "$tool"
    run_quiet "${CMD[@]}" || FAILED[$tool]=1
  done

  for tool in "${order[@]}"; do
    [[ -n "${FAILED[$tool]:-}" ]] && continue
    drop_caches
    cmd_backup "$tool" 1
    timed "$PART" backup1 "$tool" "$run" "$bytes1" "${CMD[@]}" || FAILED[$tool]=1
    record "$PART" size:backup1 "$tool" "$run" "$(dir_bytes "$(repo_of "$tool")")"
  done

  mutate_out=$(python3 "$HERE/gen_corpus.py" mutate "$SRC")
  bench_log "  $mutate_out"
  changed=$(sed -n 's/^mutated: \([0-9]*\) bytes.*/\1/p' <<<"$mutate_out")
  record "$PART" changed all "$run" "$changed"
  bytes2=$(tree_bytes "$SRC")

  for tool in "${order[@]}"; do
    [[ -n "${FAILED[$tool]:-}" ]] && continue
    drop_caches
    cmd_backup "$tool" 2
    timed "$PART" backup2 "$tool" "$run" "$bytes2" "${CMD[@]}" || FAILED[$tool]=1
    record "$PART" size:backup2 "$tool" "$run" "$(dir_bytes "$(repo_of "$tool")")"
  done

  for tool in "${order[@]}"; do
    [[ -n "${FAILED[$tool]:-}" ]] && continue
    target="$WORK/restore/$tool"
    rm -rf "$target"
    mkdir -p "$target"
    drop_caches
    cmd_restore "$tool" "$target"
    if timed "$PART" restore "$tool" "$run" "$bytes2" "${IN_DIR_THEN_SYNC[@]}" "$target" "${CMD[@]}"; then
      if [[ "$VERIFY" == all || ("$VERIFY" == first && $run -eq 1) ]]; then
        root=$(find "$target" -name BENCH_CORPUS_ROOT -printf '%h\n' -quit)
        if [[ -n "$root" ]] && diff -r --no-dereference "$SRC" "$root" >"$BENCH_OUT/logs/$PART-verify-$tool.log" 2>&1; then
          record "$PART" verify "$tool" "$run" 0 0
        else
          bench_log "  $tool restore differs from the source (see $BENCH_OUT/logs/$PART-verify-$tool.log)"
          record "$PART" verify "$tool" "$run" 0 1
        fi
      fi
    else
      FAILED[$tool]=1
    fi
    rm -rf "$target"
  done

  for tool in "${order[@]}"; do
    [[ -n "${FAILED[$tool]:-}" ]] && continue
    drop_caches
    cmd_check "$tool"
    timed "$PART" check "$tool" "$run" "$bytes2" "${CMD[@]}" || FAILED[$tool]=1
  done
done
rm -rf "$WORK"

python3 "$HERE/summarize.py" "$BENCH_RAW" "$PART" "${TOOLS[*]}" >"$BENCH_OUT/results-$PART.md"
