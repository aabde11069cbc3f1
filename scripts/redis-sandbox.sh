#!/usr/bin/env bash
# A throwaway Redis 7 server for tests, the demo and benchmarks.
#
#   scripts/redis-sandbox.sh start DIR [PORT]   start redis-server with its files in DIR:
#                                               127.0.0.1:PORT if PORT is given, else only the
#                                               unix socket DIR/redis.sock
#   scripts/redis-sandbox.sh stop DIR           SHUTDOWN NOSAVE by PID (SIGTERM, then SIGKILL)
#   scripts/redis-sandbox.sh kill DIR           SIGKILL the server (crash simulation)
#
# Layout: DIR/redis.conf (generated, then DIR/extra.conf included if it exists), DIR/redis.pid,
# DIR/redis.log, DIR/redis.sock, data files (dump.rdb) in DIR. Debug commands are enabled for
# DEBUG DIGEST; no persistence unless extra.conf asks for it. Environment:
#   REDIS_SANDBOX_PASSWORD   requirepass for the default user
#   REDIS_SANDBOX_ACL        one ACL rule line added as `user ...` (e.g. "bulwark on >pw +psync")
#   REDIS_SANDBOX_DISKLESS   yes|no: repl-diskless-sync (default no)
#   REDIS_SANDBOX_DBFILENAME dbfilename to load at start (default dump.rdb)
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|kill DIR [PORT]" >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
cmd=$1
dir=$2
port=${3:-0}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile="$dir/redis.pid"

server_pid() {
  [[ -f "$pidfile" ]] || return 1
  local pid
  pid=$(head -1 "$pidfile" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

start() {
  if server_pid >/dev/null; then
    echo "redis-sandbox: already running in $dir" >&2
    exit 1
  fi
  rm -f "$pidfile" "$dir/redis.sock"
  {
    echo "daemonize yes"
    echo "pidfile $pidfile"
    echo "logfile $dir/redis.log"
    echo "dir $dir"
    echo "dbfilename ${REDIS_SANDBOX_DBFILENAME:-dump.rdb}"
    echo "port $port"
    echo "bind 127.0.0.1"
    echo "unixsocket $dir/redis.sock"
    echo "unixsocketperm 700"
    echo "save \"\""
    echo "appendonly no"
    echo "enable-debug-command yes"
    echo "repl-diskless-sync ${REDIS_SANDBOX_DISKLESS:-no}"
    echo "repl-diskless-sync-delay 0"
    if [[ -n "${REDIS_SANDBOX_PASSWORD:-}" ]]; then
      echo "requirepass ${REDIS_SANDBOX_PASSWORD}"
    fi
    if [[ -n "${REDIS_SANDBOX_ACL:-}" ]]; then
      echo "user ${REDIS_SANDBOX_ACL}"
    fi
    if [[ -f "$dir/extra.conf" ]]; then echo "include $dir/extra.conf"; fi
  } >"$dir/redis.conf"
  redis-server "$dir/redis.conf"
  # Ready when the socket answers PING (LOADING while a big dump.rdb loads).
  local i
  for i in $(seq 1 600); do
    if [[ -S "$dir/redis.sock" ]]; then
      local reply
      reply=$(REDISCLI_AUTH="${REDIS_SANDBOX_PASSWORD:-}" redis-cli -s "$dir/redis.sock" ping \
        2>/dev/null || true)
      if [[ "$reply" == PONG ]]; then return 0; fi
    fi
    sleep 0.1
  done
  echo "redis-sandbox: server in $dir did not come up; see $dir/redis.log" >&2
  tail -5 "$dir/redis.log" >&2 || true
  exit 1
}

stop() {
  local pid
  pid=$(server_pid) || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  kill)
    if pid=$(server_pid); then kill -KILL "$pid"; fi
    rm -f "$pidfile"
    ;;
  *) usage ;;
esac
