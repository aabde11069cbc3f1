#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests, the demo and benchmarks.
#
#   scripts/pg-sandbox.sh start DIR [PORT]   initdb (with data checksums) unless DIR/data exists,
#                                            then start; socket in DIR, 127.0.0.1:PORT if given
#   scripts/pg-sandbox.sh stop DIR           fast shutdown (then SIGKILL if it hangs)
#   scripts/pg-sandbox.sh kill DIR           SIGKILL the postmaster (crash simulation)
#   scripts/pg-sandbox.sh env DIR            prints PGHOST/PGPORT/PGDATA exports for `eval`
#
# Layout: DIR/data is the data directory, DIR/server.log the log, and the unix socket lives in
# DIR itself (port 5432 unless PORT is given). Socket and port are given on the command line,
# not in postgresql.conf, so a data directory restored from a backup can be started with
# `start OTHERDIR` without clashing with the original. Settings for a test go into
# DIR/data/postgresql.auto.conf (or ALTER SYSTEM) before or between starts; PG_SANDBOX_CONF (lines)
# is appended to postgresql.conf at initdb time; PG_SANDBOX_INITDB_ARGS adds initdb flags. wal_level is replica; archiving is left to the caller.
#
# As root the server runs as the `postgres` OS user (initdb refuses root): DIR is chowned to
# it and every parent of DIR must be searchable by it.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

usage() {
  echo "usage: $0 start|stop|kill|env DIR [PORT]" >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$2
port=${3:-5432}
listen=""
[[ $# -ge 3 ]] && listen=127.0.0.1

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"

# as_pg CMD...: runs CMD as the server's OS user.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

postmaster_pid() {
  [[ -f "$data/postmaster.pid" ]] || return 1
  local pid
  pid=$(head -1 "$data/postmaster.pid" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || { echo "pg-sandbox: no 'postgres' OS user" >&2; exit 1; }
    chown postgres:postgres "$dir"
    if ! setpriv --reuid=postgres --regid=postgres --init-groups -- test -w "$dir"; then
      echo "pg-sandbox: the postgres user cannot write $dir (make its parents searchable, e.g. chmod o+x)" >&2
      exit 1
    fi
  fi
  if [[ ! -f "$data/PG_VERSION" ]]; then
    # shellcheck disable=SC2086
    as_pg "$PGBIN/initdb" -D "$data" --data-checksums -A trust -U postgres -E UTF8 \
      --locale=C.UTF-8 ${PG_SANDBOX_INITDB_ARGS:-} >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2
      exit 1
    }
    cat >>"$data/postgresql.conf" <<'EOF'

# pg-sandbox.sh
wal_level = replica
max_wal_senders = 4
shared_buffers = 64MB
max_connections = 30
fsync = on
log_min_messages = warning
log_checkpoints = off
EOF
    if [[ -n "${PG_SANDBOX_CONF:-}" ]]; then printf '%s\n' "$PG_SANDBOX_CONF" >>"$data/postgresql.conf"; fi
  fi
  if [[ $(id -u) -eq 0 ]]; then chown -R postgres:postgres "$dir"; fi
  chmod 700 "$data"
  if pid=$(postmaster_pid); then
    echo "pg-sandbox: already running in $dir (pid $pid)" >&2
    exit 1
  fi
  rm -f "$data/postmaster.pid"
  as_pg "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
    -o "-k '$dir' -p $port -c listen_addresses='$listen'" start >/dev/null || {
    echo "pg-sandbox: server did not start; last lines of $dir/server.log:" >&2
    tail -20 "$dir/server.log" >&2 || true
    exit 1
  }
}

stop() {
  local pid
  pid=$(postmaster_pid) || return 0
  as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
  fi
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
}

case $cmd in
  start) start ;;
  stop) stop ;;
  kill)
    if pid=$(postmaster_pid); then kill -9 "$pid"; fi
    ;;
  env)
    echo "export PGHOST='$dir' PGPORT=$port PGDATA='$data' PGUSER=postgres"
    ;;
  *) usage ;;
esac
