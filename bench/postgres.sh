#!/usr/bin/env bash
# PostgreSQL part of `make bench`: `bulwark backup/restore postgres` side by side with
# pgBackRest (process-max=2, zst level 1), pg_basebackup and a plain `cp -a` of the stopped
# data directory, in one run, on one cluster: pgbench at scale BENCH_PG_SCALE (default 60,
# about 900 MB) plus a market-data table of BENCH_PG_TICKS rows (default 7.5 million, about
# 0.5 GB, compresses about 3.4:1 like real ticks). Steps per run, page cache dropped before each:
#   full      pg_basebackup -Ft server-zstd:1  |  pgbackrest --type=full  |  bulwark (fresh repos)
#   incr      after `pgbench -c 4 -j 2 -t BENCH_PG_TX -n`: pgbackrest --type=incr  |  bulwark
#             --type incr; bytes each stored
#   restore   of the incremental into an empty directory (+ sync): pgbackrest | bulwark, and
#             `cp -a` of the stopped data directory (+ sync) as the machine's limit
#   wal-push  BENCH_PG_WAL_SEGMENTS segments of this cluster's WAL archived the way PostgreSQL's
#             archiver drives archive_command (one call per segment, in order), synchronous
#             and asynchronous: pgbackrest archive-push [--archive-async] | bulwark wal-push
#             [--async]
# Every tool runs as the `postgres` OS user, like in production. archive_command pushes each
# segment to both repositories (so both backups wait for the same archiving at their end).
# The server is a sandbox (scripts/pg-sandbox.sh) on a unix socket, stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source-path=SCRIPTDIR
source "$HERE/lib.sh"

PART=postgres
: "${BENCH_OUT:?run bench/run.sh}"
: "${BENCH_RAW:?run bench/run.sh}"
RUNS=${BENCH_RUNS:-3}
SCALE=${BENCH_PG_SCALE:-60}
TICKS=${BENCH_PG_TICKS:-7500000}
TX=${BENCH_PG_TX:-500}
WAL_SEGMENTS=${BENCH_PG_WAL_SEGMENTS:-48}
BULWARK=${BENCH_BULWARK:?run bench/run.sh}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for t in pgbackrest "$PGBIN/pg_basebackup" "$PGBIN/pgbench" "$PGBIN/psql"; do
  command -v "$t" >/dev/null || { bench_log "postgres: $t is missing (scripts/install-deps.sh --bench)"; exit 2; }
done
if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
  bench_log "postgres: no 'postgres' OS user (install postgresql-15)"
  exit 2
fi

WORK="$BENCH_OUT/work/$PART"
SANDBOX="$ROOT/scripts/pg-sandbox.sh"
S="$WORK/server"
PGDATA_DIR="$S/data"
cleanup() {
  "$SANDBOX" stop "$S" >/dev/null 2>&1 || true
  "$SANDBOX" stop "$WORK/walsrc-server" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
rm -rf "$WORK"
mkdir -p "$WORK"

# as_pg CMD...: runs CMD as the postgres OS user (root) or as ourselves.
if [[ $(id -u) -eq 0 ]]; then
  AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  chown postgres:postgres "$WORK"
else
  AS_PG=()
fi
as_pg() { "${AS_PG[@]}" "$@"; }
mk() { as_pg mkdir -p "$@"; }

mk "$WORK/home" "$WORK/walsrc" "$WORK/pgbackrest-log" "$WORK/pgbackrest-lock" "$WORK/spool"
PASSWORD_FILE="$WORK/password"
(umask 077 && head -c 24 /dev/urandom | base64 >"$PASSWORD_FILE")
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$PASSWORD_FILE"
export BULWARK_PASSWORD_FILE="$PASSWORD_FILE" BULWARK_CACHE_DIR="$WORK/home/cache"
export HOME="$WORK/home"
unset BULWARK_PASSWORD BULWARK_REPOSITORY PGHOST PGPORT PGDATA PGUSER
BREPO="$WORK/bulwark-repo"
CONN="host=$S user=postgres dbname=postgres"

# pgBackRest: one configuration for the backups (stanza bench) and one for the WAL step.
write_pgbr_conf() { # FILE REPO_PATH
  cat >"$1" <<EOF
[global]
repo1-path=$2
compress-type=zst
compress-level=1
process-max=2
start-fast=y
repo1-retention-full=1000
log-path=$WORK/pgbackrest-log
lock-path=$WORK/pgbackrest-lock
spool-path=$WORK/spool
log-level-console=warn
log-level-stderr=warn
log-level-file=off

[bench]
pg1-path=$PGDATA_DIR
pg1-socket-path=$S
pg1-port=5432
EOF
}
PGBR_CONF="$WORK/pgbackrest.conf"
PGBR_WAL_CONF="$WORK/pgbackrest-wal.conf"
write_pgbr_conf "$PGBR_CONF" "$WORK/pgbackrest-repo"
write_pgbr_conf "$PGBR_WAL_CONF" "$WORK/pgbackrest-wal-repo"
PGBR=(pgbackrest --config="$PGBR_CONF" --stanza=bench)
PGBR_WAL=(pgbackrest --config="$PGBR_WAL_CONF" --stanza=bench)

# archive_command: a copy of every segment for the WAL step (while walsrc.open exists), then
# both repositories. Either push failing fails the command, and the archiver retries. Inline,
# not a script: pgBackRest refuses an archive_command that does not name it.
ARCHIVE_COMMAND="if [ -e $WORK/walsrc.open ]; then cp %p $WORK/walsrc/; fi && \
BULWARK_PASSWORD_FILE=$PASSWORD_FILE BULWARK_CACHE_DIR=$WORK/home/cache \
$BULWARK --repo $BREPO -q wal-push --component pg %p && \
pgbackrest --config=$PGBR_CONF --stanza=bench archive-push %p"
as_pg touch "$WORK/walsrc.open"

PG_SANDBOX_CONF="autovacuum = off
wal_recycle = off
max_wal_size = 4GB
checkpoint_timeout = 30min
archive_mode = on
archive_command = '$ARCHIVE_COMMAND'" "$SANDBOX" start "$S" >/dev/null
psql_pg() { as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$S" -U postgres -d postgres "$@"; }

new_repos() {
  rm -rf "$BREPO" "$WORK/pgbackrest-repo"
  as_pg "$BULWARK" --repo "$BREPO" -q init >/dev/null
  as_pg "${PGBR[@]}" stanza-create >/dev/null
}
new_repos

t0=$(date +%s)
bench_log "postgres: pgbench -i -s $SCALE and $TICKS rows of ticks"
as_pg "$PGBIN/pgbench" -i -s "$SCALE" -q -h "$S" -U postgres postgres >"$WORK/pgbench-init.log" 2>&1
psql_pg -o /dev/null <<SQL
SELECT setseed(0.42);
CREATE TABLE ticks AS SELECT timestamptz '2026-01-05 08:00+00' + g * interval '1 ms' AS ts,
  'SYM' || (g % 500) AS symbol, round((100 + random() * 10)::numeric, 4)::float8 AS price,
  (random() * 1000)::int AS qty, (CASE WHEN random() < 0.5 THEN 'B' ELSE 'S' END)::"char" AS side,
  (random() * 8)::int AS venue FROM generate_series(1, $TICKS) g;
CHECKPOINT;
SELECT pg_switch_wal();
SQL
# Wait until every segment so far is archived, then stop collecting WAL for the push step.
for _ in $(seq 1 600); do
  ready=$(find "$PGDATA_DIR/pg_wal/archive_status" -name '*.ready' | wc -l)
  [[ $ready -eq 0 ]] && break
  sleep 1
done
rm -f "$WORK/walsrc.open"
# What a backup reads: the data directory without pg_wal (every tool leaves that out).
DATA_BYTES=$(($(tree_bytes "$PGDATA_DIR") - $(tree_bytes "$PGDATA_DIR/pg_wal")))
bench_log "postgres: data directory $((DATA_BYTES / 1048576)) MiB, loaded in $(($(date +%s) - t0))s"
record "$PART" data_bytes all 0 "$DATA_BYTES"

mapfile -t all_wal < <(find "$WORK/walsrc" -type f -regextype posix-extended -regex '.*/[0-9A-F]{24}' | sort)
if [[ ${#all_wal[@]} -lt $WAL_SEGMENTS ]]; then
  WAL_SEGMENTS=${#all_wal[@]}
fi
# Evenly spaced segments: pgbench's and the ticks table's WAL in proportion.
wal_list="$WORK/wal-list"
: >"$wal_list"
for ((i = 0; i < WAL_SEGMENTS; i++)); do
  echo "${all_wal[$((i * ${#all_wal[@]} / WAL_SEGMENTS))]}" >>"$wal_list"
done
WAL_BYTES=$((WAL_SEGMENTS * 16777216))
record "$PART" wal_segments all 0 "$WAL_SEGMENTS"

# Files no backup tool copies or that a restore writes itself: not compared.
VERIFY_SKIP='^\./(postmaster\.|backup_label|tablespace_map|recovery\.|postgresql\.auto\.conf|pg_(dynshmem|notify|serial|snapshots|stat_tmp|subtrans|replslot)/)|pg_internal\.init'

bulwark_stored() { # LOG: bytes_stored of a --json backup
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"]["bytes_stored"])' "$1"
}
pgbr_repo_bytes() { dir_bytes "$WORK/pgbackrest-repo/backup"; }

for ((run = 1; run <= RUNS; run++)); do
  bench_log "postgres: run $run of $RUNS"
  [[ $run -gt 1 ]] && new_repos
  rm -rf "$WORK/basebackup"

  # --- full backups ---
  drop_caches
  timed "$PART" full pg_basebackup "$run" "$DATA_BYTES" \
    "${AS_PG[@]}" "$PGBIN/pg_basebackup" -h "$S" -U postgres -D "$WORK/basebackup" -Ft \
    --compress=server-zstd:1 -c fast --no-manifest
  record "$PART" size:full pg_basebackup "$run" "$(dir_bytes "$WORK/basebackup")"
  rm -rf "$WORK/basebackup"
  drop_caches
  timed "$PART" full pgbackrest "$run" "$DATA_BYTES" "${AS_PG[@]}" "${PGBR[@]}" --type=full backup
  full_pgbr=$(pgbr_repo_bytes)
  record "$PART" stored:full pgbackrest "$run" "$full_pgbr"
  drop_caches
  timed "$PART" full bulwark "$run" "$DATA_BYTES" "${AS_PG[@]}" "$BULWARK" --repo "$BREPO" \
    --json backup postgres --component pg --pgdata "$PGDATA_DIR" --db "$CONN"
  record "$PART" stored:full bulwark "$run" \
    "$(bulwark_stored "$BENCH_OUT/logs/$PART-full-bulwark-$run.log")"

  # --- the same change for both, then incrementals ---
  as_pg "$PGBIN/pgbench" -c 4 -j 2 -t "$TX" -n -h "$S" -U postgres postgres \
    >"$WORK/pgbench-$run.log" 2>&1
  drop_caches
  timed "$PART" incr pgbackrest "$run" "$DATA_BYTES" "${AS_PG[@]}" "${PGBR[@]}" --type=incr backup
  record "$PART" stored:incr pgbackrest "$run" "$(($(pgbr_repo_bytes) - full_pgbr))"
  drop_caches
  timed "$PART" incr bulwark "$run" "$DATA_BYTES" "${AS_PG[@]}" "$BULWARK" --repo "$BREPO" \
    --json backup postgres --component pg --pgdata "$PGDATA_DIR" --db "$CONN" --type incr
  record "$PART" stored:incr bulwark "$run" \
    "$(bulwark_stored "$BENCH_OUT/logs/$PART-incr-bulwark-$run.log")"
  record "$PART" size:repo bulwark "$run" "$(dir_bytes "$BREPO")"
  record "$PART" size:repo pgbackrest "$run" "$(dir_bytes "$WORK/pgbackrest-repo")"

  # --- restores of the incremental, and the plain copy ---
  for tool in pgbackrest bulwark; do
    dest="$WORK/restore-$tool"
    rm -rf "$dest"
    mk "$dest"
    chmod 700 "$dest"
    drop_caches
    if [[ $tool == pgbackrest ]]; then
      timed "$PART" restore pgbackrest "$run" "$DATA_BYTES" "${AS_PG[@]}" bash -c \
        '"$@" && sync' _ "${PGBR[@]}" --pg1-path="$dest" restore
    else
      timed "$PART" restore bulwark "$run" "$DATA_BYTES" "${AS_PG[@]}" bash -c \
        '"$@" && sync' _ "$BULWARK" --repo "$BREPO" -q restore postgres latest --component pg \
        --target "$dest"
    fi
    if [[ $run -eq 1 ]]; then
      # Same files with the same sizes as the source (pg_wal, logs and pid aside).
      list() { (cd "$1" && find . -path ./pg_wal -prune -o -type f -printf '%p %s\n' |
        grep -Ev "$VERIFY_SKIP" | sort); }
      if diff <(list "$PGDATA_DIR") <(list "$dest") >"$BENCH_OUT/logs/$PART-verify-$tool.diff"; then
        record "$PART" verify "$tool" "$run" 0 0
      else
        bench_log "postgres: $tool's restore differs in files from the source (see logs)"
        record "$PART" verify "$tool" "$run" 0 1
      fi
    fi
    rm -rf "$dest"
  done
  "$SANDBOX" stop "$S" >/dev/null
  rm -rf "$WORK/copy"
  drop_caches
  timed "$PART" restore cp-a "$run" "$DATA_BYTES" bash -c 'cp -a "$1" "$2" && sync' _ \
    "$PGDATA_DIR" "$WORK/copy"
  rm -rf "$WORK/copy"
  "$SANDBOX" start "$S" >/dev/null

  # --- WAL archiving throughput, into fresh repositories, the way the archiver drives it:
  # the segments wait in a pg_wal directory marked ready, archive_command runs once per
  # segment in order and each success turns .ready into .done. Synchronous and asynchronous
  # (pgBackRest archive-async with process-max=2; bulwark --async) modes.
  for mode in sync async; do
    for tool in pgbackrest bulwark; do
      rm -rf "$WORK/bulwark-wal-repo" "$WORK/pgbackrest-wal-repo" "$WORK/walbench"
      as_pg "$BULWARK" --repo "$WORK/bulwark-wal-repo" -q init >/dev/null
      as_pg "${PGBR_WAL[@]}" stanza-create >/dev/null
      mk "$WORK/walbench/pg_wal/archive_status" "$WORK/walbench/global"
      as_pg cp "$PGDATA_DIR/global/pg_control" "$WORK/walbench/global/"
      while read -r f; do
        as_pg cp "$f" "$WORK/walbench/pg_wal/"
        as_pg touch "$WORK/walbench/pg_wal/archive_status/$(basename "$f").ready"
      done <"$wal_list"
      if [[ $tool == pgbackrest ]]; then
        # pgBackRest wants the WAL below pg1-path (its async mode reads archive_status there).
        push=("${PGBR_WAL[@]}" --pg1-path="$WORK/walbench")
        [[ $mode == async ]] && push+=(--archive-async)
        push+=(archive-push)
      else
        push=("$BULWARK" --repo "$WORK/bulwark-wal-repo" -q wal-push --component pg)
        [[ $mode == async ]] && push+=(--async)
      fi
      drop_caches
      timed "$PART" "wal-push-$mode" "$tool" "$run" "$WAL_BYTES" "${AS_PG[@]}" bash -c '
        cd "$1/pg_wal" && shift
        for r in $(ls archive_status | sed -n "s/\.ready$//p" | sort); do
          "$@" "$PWD/$r" || exit 1
          mv "archive_status/$r.ready" "archive_status/$r.done"
        done' _ "$WORK/walbench" "${push[@]}"
      lockf="$WORK/walbench/pg_wal/.bulwark-push/pusher.lock"
      [[ -s $lockf ]] && kill "$(head -1 "$lockf")" 2>/dev/null || true
      if [[ $tool == bulwark ]]; then
        record "$PART" "size:wal-$mode" bulwark "$run" "$(dir_bytes "$WORK/bulwark-wal-repo")"
      else
        record "$PART" "size:wal-$mode" pgbackrest "$run" "$(dir_bytes "$WORK/pgbackrest-wal-repo")"
      fi
    done
  done
done

python3 "$HERE/postgres_report.py" "$BENCH_RAW" >"$BENCH_OUT/results-$PART.md"
bench_log "postgres: done"
