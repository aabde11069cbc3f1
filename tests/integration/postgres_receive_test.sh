#!/usr/bin/env bash
# Zero data loss with wal-receive as the synchronous standby: the server names it in
# synchronous_standby_names and archives nothing itself (archive_command = 'true', which the
# backup API needs), so the receiver is the only way WAL reaches the repository. With the
# receiver stopped a commit does not return within 2 s (it is really synchronous). A client then commits
# numbered rows one by one under pgbench load, recording each acknowledged number; the
# postmaster is killed with SIGKILL mid-load; restoring the latest backup to the end of the
# archive (the last segment is a partial one) yields every acknowledged row, and pg_amcheck
# passes. The receiver then follows that restored copy onto its new timeline (history file,
# old timeline's end, new timeline's segments): a second restore has the rows committed there.
# A receiver pointed at another cluster is refused in one line.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

P="$T/p1"
SLOT=bulwark_slot
pbw init
PG_SANDBOX_CONF="archive_mode = on
archive_command = 'true'
synchronous_standby_names = 'bulwark'
autovacuum = off" pg_start "$P"

RECV_PID=""
cleanup_hooks+=('[[ -n "$RECV_PID" ]] && kill -9 "$RECV_PID" 2>/dev/null')
# start_receiver: wal-receive in the background (its own PID in $RECV_PID, log in recv.log).
start_receiver() {
  local args=(wal-receive --component "$COMPONENT" --db "host=$P user=postgres" --slot "$SLOT"
    --synchronous --status-interval 2)
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$BIN" "${args[@]}" >>"$T/recv.log" 2>&1 &
  else
    "$BIN" "${args[@]}" >>"$T/recv.log" 2>&1 &
  fi
  RECV_PID=$!
  wait_for "[[ \$(sql '$P' \"SELECT sync_state FROM pg_stat_replication WHERE application_name = 'bulwark'\" 2>/dev/null) == sync ]]" 60 ||
    { cat "$T/recv.log" >&2; fail "the receiver did not become the synchronous standby"; }
}
# stop_receiver: SIGTERM; it must exit 0.
stop_receiver() {
  kill -TERM "$RECV_PID"
  local rc=0
  wait "$RECV_PID" || rc=$?
  RECV_PID=""
  [[ $rc -eq 0 ]] || { cat "$T/recv.log" >&2; fail "wal-receive exited with $rc on SIGTERM"; }
}

log "receiver as the synchronous standby"
start_receiver
sql "$P" "CREATE TABLE t (i int PRIMARY KEY)"
"$PGBIN/pgbench" -h "$P" -U postgres -i -s 1 -q postgres >/dev/null 2>&1 || fail "pgbench -i failed"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres"

log "without the receiver a commit does not return"
stop_receiver
# (statement_timeout does not apply to the commit's wait for the standby: the client gives up.)
rc=0
timeout 2 psql -X -q -h "$P" -U postgres -d postgres -c "INSERT INTO t VALUES (0)" \
  >/dev/null 2>&1 || rc=$?
[[ $rc -eq 124 ]] || fail "a commit returned (exit $rc) within 2 s with the synchronous standby down"

log "numbered commits under load, then kill -9 of the postmaster"
start_receiver
"$PGBIN/pgbench" -h "$P" -U postgres -c 2 -T 120 -N postgres >/dev/null 2>&1 &
LOAD_PID=$!
cleanup_hooks+=("kill $LOAD_PID 2>/dev/null")
seq 1 1000000 | sed 's/.*/INSERT INTO t VALUES (&);\n\\echo &/' |
  stdbuf -oL psql -X -q -h "$P" -U postgres -d postgres -v ON_ERROR_STOP=1 >"$T/acked" 2>"$T/client.err" &
CLIENT_PID=$!
cleanup_hooks+=("kill $CLIENT_PID 2>/dev/null")
wait_for "[[ \$(wc -l <'$T/acked') -ge 300 ]]" 60 ||
  { cat "$T/client.err" "$T/recv.log" >&2; fail "the client did not get 300 commits acknowledged"; }
sleep 2
"$SANDBOX" kill "$P"
wait "$CLIENT_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
acked=$(wc -l <"$T/acked")
log "$acked commits acknowledged before the crash"
sleep 1
stop_receiver

log "restore to the end of the archive"
R="$T/r"
mkdir -p "$R"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$R"
pexpect 0 restore postgres latest --component "$COMPONENT" --target "$R/data"
printf "archive_mode = off\nsynchronous_standby_names = ''\n" >>"$R/data/postgresql.auto.conf"
pg_start "$R"
wait_promoted "$R"
sql "$R" "SELECT i FROM t WHERE i > 0" | sort >"$T/present"
sort "$T/acked" >"$T/acked.sorted"
missing=$(comm -23 "$T/acked.sorted" "$T/present" | wc -l)
[[ $missing -eq 0 ]] || fail "$missing acknowledged rows are missing after the restore (e.g. $(comm -23 "$T/acked.sorted" "$T/present" | head -3 | tr '\n' ' '))"
log "all $acked acknowledged rows present ($(wc -l <"$T/present") rows restored)"
grep -q 'restored log file ".*" from archive' "$R/server.log" 2>/dev/null ||
  log "note: the restored server's log does not mention restored segments"
as_pg "$PGBIN/pg_amcheck" -h "$R" -U postgres --all --install-missing --heapallindexed >"$T/amcheck" 2>&1 ||
  { cat "$T/amcheck" >&2; fail "pg_amcheck found problems"; }

log "timeline switch: the receiver follows the promoted copy onto its new timeline"
echo "synchronous_standby_names = 'bulwark'" >>"$R/data/postgresql.auto.conf"
sql "$R" "SELECT pg_reload_conf()" >/dev/null
P="$R"  # the receiver now streams from the restored (promoted) server, same cluster
start_receiver
sql "$R" "INSERT INTO t SELECT g FROM generate_series(2000001, 2000100) g"
stop_receiver
pg_stop "$R"
R2="$T/r2"
mkdir -p "$R2"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$R2"
pexpect 0 restore postgres latest --component "$COMPONENT" --target "$R2/data"
printf "archive_mode = off\nsynchronous_standby_names = ''\n" >>"$R2/data/postgresql.auto.conf"
pg_start "$R2"
wait_promoted "$R2"
got=$(sql "$R2" "SELECT count(*) FROM t WHERE i > 2000000")
[[ $got -eq 100 ]] || fail "the rows committed on timeline 2 are not all restored ($got of 100)"
sql "$R2" "SELECT i FROM t WHERE i > 0 AND i <= 2000000" | sort >"$T/present2"
[[ $(comm -23 "$T/acked.sorted" "$T/present2" | wc -l) -eq 0 ]] || fail "rows of timeline 1 lost"
pg_stop "$R2"

log "a receiver pointed at another cluster is refused"
Q="$T/p2"
pg_start "$Q"
pexpect 1 wal-receive --component "$COMPONENT" --db "host=$Q user=postgres" --slot "$SLOT"
assert_grep "system identifier" "$T/err"
[[ $(wc -l <"$T/err") -eq 1 ]] || { cat "$T/err" >&2; fail "the refusal is not one line"; }
pg_stop "$Q"
log "ok"
