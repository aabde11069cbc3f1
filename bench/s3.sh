#!/usr/bin/env bash
# S3 part of `make bench`: Bulwark backing up to and restoring from an S3 repository on the
# project's one-machine Ceph cluster (scripts/ceph-sandbox.sh: 1 mon, 3 OSDs, radosgw on
# loopback), beside the same to a local repository and beside the AWS CLI (`aws s3 cp`, at its
# defaults) moving the same bytes up and down: the machine's S3 limit. Steps per run, each tool
# in a rotating order, page cache dropped before every timed step, restores timed with a sync:
#   files-backup / files-restore   a generated corpus (bench/gen_corpus.py, BENCH_S3_SIZE_MB,
#                                  default 128: about 2,100 files, and S3 costs per file): bulwark
#                                  to s3:// | to a local repo | aws s3 cp
#                                  --recursive up; then each restored (aws s3 cp --recursive down)
#   pg-backup / pg-restore         a PostgreSQL cluster (pgbench at BENCH_S3_PG_SCALE, default 20,
#                                  plus BENCH_S3_PG_TICKS rows of the market-data table, default
#                                  1 million): bulwark backup postgres to s3:// | local; aws s3
#                                  cp of the stopped data directory (without pg_wal) up; restores
#   big-backup / big-restore       one file of BENCH_S3_BIG_MB (default 512) random bytes:
#                                  bulwark to s3:// | aws s3 cp of the one object, up and down
# S3 requests per step (count, peak and mean concurrency) come from radosgw's access log (kept
# in logs/). BENCH_S3_RGW_TCP_NODELAY=1 restarts radosgw with beast's tcp_nodelay=1 (Ceph's
# default is 0: a small response on a reused connection then waits ~40 ms for a delayed ACK).
# BENCH_S3_STEPS (default "files pg big") picks the step groups: e.g. BENCH_S3_STEPS=files runs
# only files-backup / files-restore, without the PostgreSQL cluster or the large file.
# Every client reads the sandbox's endpoint and keys from an AWS config and credentials file
# in the work directory (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), never from argv.
# The Ceph and PostgreSQL sandboxes are stopped on exit, also on failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"

PART=s3
: "${BENCH_OUT:?run bench/run.sh}"
: "${BENCH_RAW:?run bench/run.sh}"
RUNS=${BENCH_RUNS:-3}
SIZE_MB=${BENCH_S3_SIZE_MB:-128}
SCALE=${BENCH_S3_PG_SCALE:-20}
TICKS=${BENCH_S3_PG_TICKS:-1000000}
BIG_MB=${BENCH_S3_BIG_MB:-512}
STEPS=" ${BENCH_S3_STEPS:-files pg big} "
for s in $STEPS; do
  case $s in files | pg | big) ;; *) echo "s3: unknown step '$s' in BENCH_S3_STEPS" >&2; exit 2 ;; esac
done
step_on() { [[ $STEPS == *" $1 "* ]]; } # STEP: whether BENCH_S3_STEPS holds it
BULWARK=${BENCH_BULWARK:?run bench/run.sh}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for t in aws radosgw radosgw-admin ceph-osd "$PGBIN/pgbench" "$PGBIN/psql"; do
  command -v "$t" >/dev/null || { bench_log "s3: $t is missing (scripts/install-deps.sh)"; exit 2; }
done
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  bench_log "s3: no 'postgres' OS user (install postgresql-15)"
  exit 2
fi

WORK="$BENCH_OUT/work/$PART"
CEPH_SANDBOX="$ROOT/scripts/ceph-sandbox.sh"
PG_SANDBOX="$ROOT/scripts/pg-sandbox.sh"
CEPH="$WORK/ceph"
S="$WORK/pg"
PGDATA_DIR="$S/data"
mkdir -p "$BENCH_OUT/logs"
cleanup() {
  "$PG_SANDBOX" stop "$S" >/dev/null 2>&1 || true
  "$CEPH_SANDBOX" stop "$CEPH" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
cleanup
rm -rf "$WORK"
mkdir -p "$WORK"

# --- data (generated once, reused) ----------------------------------------------------------
CORPUS="$BENCH_OUT/cache/files-corpus-${SIZE_MB}mb"
stamp=$(sha256sum "$HERE/gen_corpus.py" | cut -c1-16)
if [[ ! -d "$CORPUS" || "$(cat "$CORPUS.stamp" 2>/dev/null)" != "$stamp" ]]; then
  bench_log "s3: generating the ${SIZE_MB} MiB corpus in $CORPUS (once)"
  rm -rf "$CORPUS" "$CORPUS.tmp" "$CORPUS.stamp"
  mkdir -p "$(dirname "$CORPUS")"
  python3 "$HERE/gen_corpus.py" generate "$CORPUS.tmp" "$SIZE_MB" >&2
  mv "$CORPUS.tmp" "$CORPUS"
  echo "$stamp" >"$CORPUS.stamp"
fi
BIG_CACHE="$BENCH_OUT/cache/s3-big-${BIG_MB}mb.bin"
if step_on big && [[ ! -f "$BIG_CACHE" ]]; then
  bench_log "s3: generating a ${BIG_MB} MiB file of random bytes (once)"
  head -c "$((BIG_MB * 1048576))" /dev/urandom >"$BIG_CACHE.tmp"
  mv "$BIG_CACHE.tmp" "$BIG_CACHE"
fi
SRC="$WORK/src"
cp -al "$CORPUS" "$SRC"
mkdir -p "$WORK/big"
if step_on big; then ln "$BIG_CACHE" "$WORK/big/big.bin"; fi
FILES_BYTES=$(tree_bytes "$SRC")
BIG_BYTES=$(tree_bytes "$WORK/big")
record "$PART" files_bytes all 0 "$FILES_BYTES"
record "$PART" big_bytes all 0 "$BIG_BYTES"

# --- the Ceph sandbox and the clients' configuration ----------------------------------------
bench_log "s3: starting the Ceph sandbox"
"$CEPH_SANDBOX" start "$CEPH" 2>"$BENCH_OUT/logs/$PART-ceph-start.log" || {
  tail -5 "$BENCH_OUT/logs/$PART-ceph-start.log" >&2
  bench_log "s3: the Ceph sandbox did not start"
  exit 1
}
RGW_LOG="$CEPH/log/rgw.gw.log"
if [[ ${BENCH_S3_RGW_TCP_NODELAY:-0} == 1 ]]; then
  sed -i 's/^\(rgw_frontends = beast .*\)$/\1 tcp_nodelay=1/' "$CEPH/ceph.conf"
  "$CEPH_SANDBOX" kill-rgw "$CEPH"
  "$CEPH_SANDBOX" start-rgw "$CEPH" 2>>"$BENCH_OUT/logs/$PART-ceph-start.log"
  record "$PART" rgw_tcp_nodelay all 0 1
fi
ENDPOINT=$(sed -n 's/^AWS_ENDPOINT_URL=//p' "$CEPH/s3.env")
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_ENDPOINT_URL \
  AWS_ENDPOINT_URL_S3 AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_CA_BUNDLE
unset BULWARK_PASSWORD BULWARK_REPOSITORY PGHOST PGPORT PGDATA PGUSER
mkdir -p "$WORK/home/aws"
export HOME="$WORK/home"
export AWS_CONFIG_FILE="$HOME/aws/config" AWS_SHARED_CREDENTIALS_FILE="$HOME/aws/credentials"
(
  umask 077
  # shellcheck disable=SC1091
  source "$CEPH/s3.env"
  printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$AWS_SHARED_CREDENTIALS_FILE"
  # The AWS CLI's s3 transfer settings stay at their defaults (max_concurrent_requests 10,
  # multipart_threshold and multipart_chunksize 8 MiB).
  printf '[default]\nregion = %s\nendpoint_url = %s\n' "$AWS_REGION" "$ENDPOINT" >"$AWS_CONFIG_FILE"
)
PASSWORD_FILE="$WORK/password"
(umask 077 && head -c 24 /dev/urandom | base64 >"$PASSWORD_FILE")
export BULWARK_PASSWORD_FILE="$PASSWORD_FILE"
AWS=(aws --endpoint-url "$ENDPOINT")
CP=("${AWS[@]}" s3 cp --only-show-errors)

# as_pg CMD...: runs CMD as the postgres OS user (root) or as ourselves.
if [[ $(id -u) -eq 0 ]]; then
  AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  chown -R postgres:postgres "$WORK/home" "$PASSWORD_FILE"
  chown postgres:postgres "$WORK"
else
  AS_PG=()
fi
as_pg() { "${AS_PG[@]}" "$@"; }
# Bulwark as ourselves (files) and as the postgres user (PostgreSQL): one cache each.
BW=(env BULWARK_CACHE_DIR="$WORK/cache-files" "$BULWARK")
PGBW=(env BULWARK_CACHE_DIR="$HOME/cache-pg" "$BULWARK")

run_quiet() {
  if ! "$@" >>"$BENCH_OUT/logs/$PART-setup.log" 2>&1; then
    bench_log "s3: set-up command failed: $* (see $BENCH_OUT/logs/$PART-setup.log)"
    return 1
  fi
}
# s3_bytes URL: bytes stored below an S3 prefix.
s3_bytes() {
  "${AWS[@]}" s3 ls --recursive --summarize "$1/" | awk '/Total Size:/ {print $3}'
}
bulwark_stored() { # LOG: bytes_stored of a --json backup
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"]["bytes_stored"])' "$1"
}
# s3_timed STEP TOOL RUN BYTES CMD...: `timed`, then the S3 requests the step made (from
# radosgw's access log): count, peak and mean number in flight.
s3_timed() {
  local step=$1 tool=$2 run=$3 offset rc=0
  offset=$(stat -c %s "$RGW_LOG")
  timed "$PART" "$@" || rc=$?
  local n peak mean
  read -r n peak mean < <(python3 "$HERE/s3_report.py" requests "$RGW_LOG" "$offset")
  record "$PART" "requests:$step" "$tool" "$run" "$n"
  record "$PART" "peak:$step" "$tool" "$run" "$peak"
  record "$PART" "mean:$step" "$tool" "$run" "$mean"
  return $rc
}
# rotated TOOL...: the tools in this run's order (the first tool is not always first).
rotated() {
  local n=$# i
  local -a t=("$@")
  for ((i = 0; i < n; i++)); do echo "${t[$(((i + run - 1) % n))]}"; done
}

# --- PostgreSQL: the cluster, archiving into both bulwark repositories ----------------------
# The archive_command reads the current run's repository URLs from files, so each run backs
# up into fresh repositories.
mkdir -p "$S"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$S"
PG_LOCAL_URL="$WORK/pg-local.url"
PG_S3_URL="$WORK/pg-s3.url"
ARCHIVE_COMMAND="export BULWARK_PASSWORD_FILE=$PASSWORD_FILE BULWARK_CACHE_DIR=$HOME/cache-pg \
AWS_CONFIG_FILE=$AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE=$AWS_SHARED_CREDENTIALS_FILE; \
$BULWARK --repo \"\$(cat $PG_LOCAL_URL)\" -q wal-push --component pg %p && \
$BULWARK --repo \"\$(cat $PG_S3_URL)\" -q wal-push --component pg %p"
CONN="host=$S user=postgres dbname=postgres"

new_pg_repos() { # RUN
  local local_repo="$WORK/pg-local-r$1" s3_repo="s3://bench-s3-r$1/bulwark-pg"
  run_quiet as_pg "${PGBW[@]}" --repo "$local_repo" init
  run_quiet as_pg "${PGBW[@]}" --repo "$s3_repo" init
  echo "$local_repo" >"$PG_LOCAL_URL"
  echo "$s3_repo" >"$PG_S3_URL"
  PG_LOCAL_REPO=$local_repo PG_S3_REPO=$s3_repo
}

run=1
run_quiet "${AWS[@]}" s3 mb s3://bench-s3-r1
if step_on pg; then
new_pg_repos 1
PG_SANDBOX_CONF="autovacuum = off
wal_recycle = off
max_wal_size = 4GB
checkpoint_timeout = 30min
archive_mode = on
archive_command = '$ARCHIVE_COMMAND'" "$PG_SANDBOX" start "$S" >/dev/null
psql_pg() { as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$S" -U postgres -d postgres "$@"; }
t0=$(date +%s)
bench_log "s3: pgbench -i -s $SCALE and $TICKS rows of ticks"
as_pg "$PGBIN/pgbench" -i -s "$SCALE" -q -h "$S" -U postgres postgres >"$BENCH_OUT/logs/$PART-pgbench-init.log" 2>&1
psql_pg -o /dev/null <<SQL
SELECT setseed(0.42);
CREATE TABLE ticks AS SELECT timestamptz '2026-01-05 08:00+00' + g * interval '1 ms' AS ts,
  'SYM' || (g % 500) AS symbol, round((100 + random() * 10)::numeric, 4)::float8 AS price,
  (random() * 1000)::int AS qty, (CASE WHEN random() < 0.5 THEN 'B' ELSE 'S' END)::"char" AS side,
  (random() * 8)::int AS venue FROM generate_series(1, $TICKS) g;
CHECKPOINT;
SELECT pg_switch_wal();
SQL
for _ in $(seq 1 600); do
  [[ $(find "$PGDATA_DIR/pg_wal/archive_status" -name '*.ready' | wc -l) -eq 0 ]] && break
  sleep 1
done
PG_BYTES=$(($(tree_bytes "$PGDATA_DIR") - $(tree_bytes "$PGDATA_DIR/pg_wal")))
record "$PART" pg_bytes all 0 "$PG_BYTES"
bench_log "s3: data directory $((PG_BYTES / 1048576)) MiB, loaded and archived in $(($(date +%s) - t0))s"
fi
# Files no backup tool copies or that a restore writes itself: not compared.
VERIFY_SKIP='^\./(postmaster\.|backup_label|tablespace_map|recovery\.|postgresql\.auto\.conf|pg_(dynshmem|notify|serial|snapshots|stat|stat_tmp|subtrans|replslot)/)|pg_internal\.init'
# list DIR: regular files with their sizes, pg_wal aside (what a restore must bring back).
list() { (cd "$1" && find . -path ./pg_wal -prune -o -type f -printf '%p %s\n' | grep -Ev "$VERIFY_SKIP" | sort); }

# verify STEP TOOL RUN OK: records whether the restore is like the source.
verify() {
  record "$PART" "verify:$1" "$2" "$3" 0 "$4"
  [[ $4 -eq 0 ]] || bench_log "s3: $2's $1 differs from the source (see logs)"
}

for ((run = 1; run <= RUNS; run++)); do
  bench_log "s3: run $run of $RUNS"
  B="s3://bench-s3-r$run"
  if [[ $run -gt 1 ]]; then
    run_quiet "${AWS[@]}" s3 mb "$B"
    if step_on pg; then new_pg_repos "$run"; fi
  fi
  FILES_S3="$B/bulwark-files" FILES_LOCAL="$WORK/files-local-r$run" BIG_S3="$B/bulwark-big"
  run_quiet "${BW[@]}" --repo "$FILES_S3" init
  run_quiet "${BW[@]}" --repo "$FILES_LOCAL" init
  run_quiet "${BW[@]}" --repo "$BIG_S3" init

  # --- files ---
  if step_on files; then
  for tool in $(rotated bulwark-s3 bulwark-local aws-cli); do
    drop_caches
    log="$BENCH_OUT/logs/$PART-files-backup-$tool-$run.log"
    case $tool in
      bulwark-s3)
        s3_timed files-backup "$tool" "$run" "$FILES_BYTES" "${BW[@]}" --repo "$FILES_S3" --json \
          backup files "$SRC" && record "$PART" stored:files "$tool" "$run" "$(bulwark_stored "$log")" ;;
      bulwark-local)
        timed "$PART" files-backup "$tool" "$run" "$FILES_BYTES" "${BW[@]}" --repo "$FILES_LOCAL" \
          --json backup files "$SRC" && record "$PART" stored:files "$tool" "$run" "$(bulwark_stored "$log")" ;;
      aws-cli)
        s3_timed files-backup "$tool" "$run" "$FILES_BYTES" "${CP[@]}" --recursive \
          --no-follow-symlinks "$SRC" "$B/aws-files/" &&
          record "$PART" stored:files "$tool" "$run" "$(s3_bytes "$B/aws-files")" ;;
    esac || true
  done
  for tool in $(rotated bulwark-s3 bulwark-local aws-cli); do
    target="$WORK/restore/$tool"
    rm -rf "$target"
    mkdir -p "$target"
    drop_caches
    ok=0
    case $tool in
      bulwark-s3)
        s3_timed files-restore "$tool" "$run" "$FILES_BYTES" "${IN_DIR_THEN_SYNC[@]}" "$target" \
          "${BW[@]}" --repo "$FILES_S3" -q restore latest --target "$target" || ok=1 ;;
      bulwark-local)
        timed "$PART" files-restore "$tool" "$run" "$FILES_BYTES" "${IN_DIR_THEN_SYNC[@]}" "$target" \
          "${BW[@]}" --repo "$FILES_LOCAL" -q restore latest --target "$target" || ok=1 ;;
      aws-cli)
        s3_timed files-restore "$tool" "$run" "$FILES_BYTES" "${IN_DIR_THEN_SYNC[@]}" "$target" \
          "${CP[@]}" --recursive "$B/aws-files/" "$target" || ok=1 ;;
    esac
    if [[ $ok -eq 0 && $run -eq 1 ]]; then
      vlog="$BENCH_OUT/logs/$PART-verify-files-$tool.log"
      if [[ $tool == aws-cli ]]; then
        # aws s3 cp keeps neither symlinks nor empty directories: compare regular files.
        diff <(cd "$SRC" && find . -type f -printf '%p %s\n' | sort) \
          <(cd "$target" && find . -type f -printf '%p %s\n' | sort) >"$vlog" 2>&1 || ok=1
      else
        root=$(find "$target" -name BENCH_CORPUS_ROOT -printf '%h\n' -quit)
        [[ -n $root ]] && diff -r --no-dereference "$SRC" "$root" >"$vlog" 2>&1 || ok=1
      fi
      verify files-restore "$tool" "$run" "$ok"
    fi
    rm -rf "$target"
  done
  fi

  # --- PostgreSQL ---
  if step_on pg; then
  for tool in $(rotated bulwark-s3 bulwark-local); do
    if [[ $tool == bulwark-s3 ]]; then
      repo=$PG_S3_REPO t=(s3_timed)
    else
      repo=$PG_LOCAL_REPO t=(timed "$PART")
    fi
    drop_caches
    "${t[@]}" pg-backup "$tool" "$run" "$PG_BYTES" "${AS_PG[@]}" "${PGBW[@]}" --repo "$repo" --json \
      backup postgres --component pg --pgdata "$PGDATA_DIR" --db "$CONN" &&
      record "$PART" stored:pg "$tool" "$run" \
        "$(bulwark_stored "$BENCH_OUT/logs/$PART-pg-backup-$tool-$run.log")" || true
  done
  "$PG_SANDBOX" stop "$S" >/dev/null
  drop_caches
  s3_timed pg-backup aws-cli "$run" "$PG_BYTES" "${CP[@]}" --recursive --exclude 'pg_wal/*' \
    "$PGDATA_DIR" "$B/aws-pg/" && record "$PART" stored:pg aws-cli "$run" "$(s3_bytes "$B/aws-pg")" || true
  for tool in $(rotated bulwark-s3 bulwark-local aws-cli); do
    dest="$WORK/restore/pg-$tool"
    rm -rf "$dest"
    mkdir -p "$dest"
    chmod 700 "$dest"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dest"
    drop_caches
    ok=0
    case $tool in
      bulwark-s3 | bulwark-local)
        if [[ $tool == bulwark-s3 ]]; then
          repo=$PG_S3_REPO t=(s3_timed)
        else
          repo=$PG_LOCAL_REPO t=(timed "$PART")
        fi
        "${t[@]}" pg-restore "$tool" "$run" "$PG_BYTES" "${AS_PG[@]}" bash -c '"$@" && sync' _ \
          "${PGBW[@]}" --repo "$repo" -q restore postgres latest --component pg --target "$dest" || ok=1 ;;
      aws-cli)
        s3_timed pg-restore "$tool" "$run" "$PG_BYTES" bash -c '"$@" && sync' _ "${CP[@]}" \
          --recursive "$B/aws-pg/" "$dest" || ok=1 ;;
    esac
    if [[ $ok -eq 0 && $run -eq 1 ]]; then
      diff <(list "$PGDATA_DIR") <(list "$dest") >"$BENCH_OUT/logs/$PART-verify-pg-$tool.diff" || ok=1
      verify pg-restore "$tool" "$run" "$ok"
    fi
    rm -rf "$dest"
  done
  "$PG_SANDBOX" start "$S" >/dev/null
  fi

  # --- one large file ---
  if step_on big; then
  for tool in $(rotated bulwark-s3 aws-cli); do
    drop_caches
    if [[ $tool == bulwark-s3 ]]; then
      s3_timed big-backup "$tool" "$run" "$BIG_BYTES" "${BW[@]}" --repo "$BIG_S3" backup files \
        "$WORK/big" || true
    else
      s3_timed big-backup "$tool" "$run" "$BIG_BYTES" "${CP[@]}" "$WORK/big/big.bin" \
        "$B/aws-big/big.bin" || true
    fi
  done
  for tool in $(rotated bulwark-s3 aws-cli); do
    target="$WORK/restore/big-$tool"
    rm -rf "$target"
    mkdir -p "$target"
    drop_caches
    ok=0
    if [[ $tool == bulwark-s3 ]]; then
      s3_timed big-restore "$tool" "$run" "$BIG_BYTES" "${IN_DIR_THEN_SYNC[@]}" "$target" \
        "${BW[@]}" --repo "$BIG_S3" -q restore latest --target "$target" || ok=1
      got="$target$WORK/big/big.bin"
    else
      s3_timed big-restore "$tool" "$run" "$BIG_BYTES" "${IN_DIR_THEN_SYNC[@]}" "$target" \
        "${CP[@]}" "$B/aws-big/big.bin" "$target/big.bin" || ok=1
      got="$target/big.bin"
    fi
    if [[ $ok -eq 0 && $run -eq 1 ]]; then
      cmp "$WORK/big/big.bin" "$got" >"$BENCH_OUT/logs/$PART-verify-big-$tool.log" 2>&1 || ok=1
      verify big-restore "$tool" "$run" "$ok"
    fi
    rm -rf "$target"
  done
  fi

  # Free the cluster's space for the next run (radosgw deletes large objects' data lazily).
  run_quiet "${AWS[@]}" s3 rm --recursive --only-show-errors "$B/aws-files/"
  run_quiet "${AWS[@]}" s3 rm --recursive --only-show-errors "$B/aws-pg/"
  run_quiet "${AWS[@]}" s3 rm --recursive --only-show-errors "$B/aws-big/"
  run_quiet "${AWS[@]}" s3 rm --recursive --only-show-errors "$FILES_S3/"
  run_quiet "${AWS[@]}" s3 rm --recursive --only-show-errors "$BIG_S3/"
  run_quiet radosgw-admin -c "$CEPH/ceph.conf" -n client.admin gc process --include-all
  rm -rf "$FILES_LOCAL"
done

cleanup
cp "$RGW_LOG" "$BENCH_OUT/logs/$PART-rgw.log"
rm -rf "$WORK"
python3 "$HERE/s3_report.py" report "$BENCH_RAW" >"$BENCH_OUT/results-$PART.md"
bench_log "s3: done"
