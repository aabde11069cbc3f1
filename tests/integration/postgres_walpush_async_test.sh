#!/usr/bin/env bash
# `wal-push --async` as archive_command: a pusher process archives ready segments ahead, in
# batches, and archive_command returns once its segment is durable. Under pgbench load the
# archive keeps up, every archived segment is bit-identical to what PostgreSQL handed over, a
# kill -9 of the pusher mid-load loses nothing (the next archive_command starts another one)
# and a restore to the end of the archive has every row. A file that conflicts with an archived
# one fails with the synchronous push's error and exit code.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

P="$T/p1"
SPOOL="$P/data/pg_wal/.bulwark-push"
COPY="$W/walcopy"  # what PostgreSQL handed to archive_command, for comparison
as_pg mkdir -p "$COPY"
pbw init
PG_SANDBOX_CONF="archive_mode = on
archive_command = 'cp %p $COPY/%f && $BIN --repo $REPO --password-file $W/password wal-push --async --component $COMPONENT %p'
autovacuum = off" pg_start "$P"
# After the server's stop hook: its last archive_command calls may start a pusher.
for s in "$SPOOL" "$T/fake/.bulwark-push"; do
  cleanup_hooks+=("kill \$(cat '$s/pusher.lock' 2>/dev/null) 2>/dev/null")
done

pusher_pid() { head -1 "$SPOOL/pusher.lock" 2>/dev/null; }
archiver() { sql "$P" "SELECT archived_count || ' ' || failed_count FROM pg_stat_archiver"; }

log "full backup (its end waits for the async archiving)"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres"
[[ -n $(pusher_pid) ]] || fail "no pusher wrote its pid to the spool's lock"

log "pgbench load, with the pusher killed (-9) in the middle"
as_pg "$PGBIN/pgbench" -i -s 8 -q -h "$P" -U postgres postgres >"$T/pgbench-init.log" 2>&1 ||
  fail "pgbench -i failed"
sql "$P" "CREATE TABLE marks (i int PRIMARY KEY)"
as_pg "$PGBIN/pgbench" -c 2 -j 2 -T 8 -n -h "$P" -U postgres postgres >"$T/pgbench.log" 2>&1 &
bench=$!
sleep 3
first=$(pusher_pid)
[[ -n $first ]] && kill -0 "$first" 2>/dev/null || fail "no pusher running under load"
kill -9 "$first"
for i in $(seq 1 200); do sql "$P" "INSERT INTO marks VALUES ($i)"; done
wait "$bench" || fail "pgbench failed"
sql "$P" "INSERT INTO marks SELECT g FROM generate_series(201, 300) g"
wait_archived "$P"
second=$(pusher_pid)
[[ -n $second && $second != "$first" ]] || fail "no new pusher after the kill (pid $second)"
read -r archived failed <<<"$(archiver)"
log "archived $archived files, $failed failed attempts"
[[ $archived -ge 8 ]] || fail "expected at least 8 archived files, got $archived"
[[ $failed -eq 0 ]] || fail "archive_command failed $failed times"

log "every archived file is bit-identical to what PostgreSQL handed over"
mkdir -p "$T/got"
chmod 777 "$T/got"
n=0
for f in "$COPY"/*; do
  name=$(basename "$f")
  pexpect 0 wal-get --component "$COMPONENT" --prefetch 0 "$name" "$T/got/$name"
  cmp -s "$f" "$T/got/$name" || fail "archived $name differs from the original"
  n=$((n + 1))
done
[[ $n -ge 8 ]] || fail "only $n files compared"
pexpect 0 check --read-data

log "restore to the end of the archive has every row"
sums=$(table_sums "$P")
restore_drill r_latest latest --component "$COMPONENT"
[[ $(table_sums "$T/r_latest") == "$sums" ]] || fail "restored tables differ from the source"
pg_stop "$T/r_latest"

log "a conflicting file fails like the synchronous push"
first_seg=$(basename "$(ls "$COPY"/0* | head -1)")
mkdir -p "$T/fake"
chmod 777 "$T/fake"
cp "$COPY/$first_seg" "$T/fake/$first_seg"
printf 'X' | dd of="$T/fake/$first_seg" bs=1 seek=4096 conv=notrunc status=none
chmod 666 "$T/fake/$first_seg"
pexpect 1 wal-push --component "$COMPONENT" "$T/fake/$first_seg"
sync_err=$(cat "$T/err")
pexpect 1 wal-push --async --async-timeout 60 --component "$COMPONENT" "$T/fake/$first_seg"
assert_grep "a different $first_seg is already archived" "$T/err"
[[ $(wc -l <"$T/err") -eq 1 ]] || fail "more than one line of error: $(cat "$T/err")"
[[ $sync_err == *"a different $first_seg is already archived"* ]] || fail "sync push: $sync_err"
log "the pusher stops on SIGTERM"
pid=$(pusher_pid)
if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  wait_for "! kill -0 $pid 2>/dev/null" 20 || fail "the pusher ignored SIGTERM"
fi
log "async wal-push test passed"
