#!/usr/bin/env bash
# Retention of the WAL archive: `forget` removes the archived WAL older than what the oldest
# kept PostgreSQL backup needs (a dry run only reports it), prune reclaims its data, `check`
# still passes, and the kept backup restores and replays to the end of the archive with every
# row.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

rows() { sql "$1" "SELECT count(*) || ':' || coalesce(max(i), 0) FROM t"; }
backup() {
  pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres" --type full
}

P="$T/p1"
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"
sql "$P" "CREATE TABLE t (i int PRIMARY KEY)"
backup
b1=$(json "$T/out" 'd["snapshot"]')
for n in 1 2 3; do
  sql "$P" "INSERT INTO t SELECT g FROM generate_series($((n * 1000 - 999)), $((n * 1000))) g"
  wait_archived "$P"
done
backup
b2=$(json "$T/out" 'd["snapshot"]')
keep_from=$(json "$T/out" 'd["wal_start"]')
sql "$P" "INSERT INTO t SELECT g FROM generate_series(3001, 4000) g"
wait_archived "$P"
pexpect 0 --json wal-status --component "$COMPONENT"
files_before=$(json "$T/out" 'd["files"]')
[[ $(json "$T/out" 'd["oldest_segment"] < "'"$keep_from"'"') == True ]] ||
  fail "no WAL older than the second backup was archived"

log "dry run"
pexpect 0 --json forget --component "$COMPONENT" --keep-last 1 --dry-run
would=$(json "$T/out" 'd["wal_removed"]["'"$COMPONENT"'"]')
[[ $would -ge 3 ]] || fail "a dry run would remove only $would WAL files"
pexpect 0 --json wal-status --component "$COMPONENT"
[[ $(json "$T/out" 'd["files"]') == "$files_before" ]] || fail "a dry run removed WAL"

log "forget the first backup and prune"
pexpect 0 --json forget --component "$COMPONENT" --keep-last 1
[[ $(json "$T/out" 'd["removed"]') == "['$b1']" ]] || fail "forget did not remove the first backup"
[[ $(json "$T/out" 'd["wal_removed"]["'"$COMPONENT"'"]') == "$would" ]] ||
  fail "forget removed a different number of WAL files than the dry run announced"
pbw prune
pexpect 0 --json wal-status --component "$COMPONENT"
[[ $(json "$T/out" 'd["oldest_segment"]') == "$keep_from" ]] ||
  fail "oldest archived segment is $(json "$T/out" 'd["oldest_segment"]'), expected $keep_from"
[[ $(json "$T/out" 'd["files"]') == $((files_before - would)) ]] || fail "WAL file count after forget"
[[ $(json "$T/out" 'len(d["gaps"])') == 0 ]] || fail "forget left gaps in the archive"
pexpect 0 --json check
[[ $(json "$T/out" '[w["from"] for w in d["wal"]]') == "['$keep_from']" ]] || fail "check: WAL range"
[[ $(json "$T/out" 'd["wal"][0]["problems"]') == "[]" ]] || fail "check reports WAL problems"

log "a second forget with nothing to forget removes no WAL"
pexpect 0 --json forget --component "$COMPONENT" --keep-last 1
[[ $(json "$T/out" 'len(d["wal_removed"])') == 0 ]] || fail "a second forget removed WAL"

log "the kept backup restores and replays every row"
want=$(rows "$P")
R="$T/r1"
mkdir -p "$R"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$R"
pexpect 0 --json restore postgres latest --component "$COMPONENT" --target "$R/data"
[[ $(json "$T/out" 'd["snapshot"]') == "$b2" ]] || fail "restore did not use the kept backup"
echo "archive_mode = off" >>"$R/data/postgresql.auto.conf"
pg_start "$R"
wait_promoted "$R"
[[ $(rows "$R") == "$want" ]] || fail "restored rows $(rows "$R"), expected $want"
[[ $want == "4000:4000" ]] || fail "original rows $want"
pg_stop "$R"

log "check reports a gap in the archive"
records() { find "$REPO/wal" -type f | sort; }
records >"$T/rec.before"
sql "$P" "INSERT INTO t VALUES (4001)"
wait_archived "$P"
records >"$T/rec.after"
gap=$(comm -13 "$T/rec.before" "$T/rec.after")
[[ -n $gap && $(wc -l <<<"$gap") == 1 ]] || fail "expected one new WAL record, got '$gap'"
sql "$P" "INSERT INTO t VALUES (4002)"
wait_archived "$P"
rm "$gap"
pexpect 4 check
assert_grep "has a gap" "$T/out"
log "ok"
