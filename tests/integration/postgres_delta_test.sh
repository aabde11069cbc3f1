#!/usr/bin/env bash
# restore postgres --tablespace-map and --delta against a real PostgreSQL 15 with a tablespace.
# A backup restored with --tablespace-map OID=DIR has pg_tblspc/OID as a symlink to DIR, starts,
# and holds the original's data (pg_amcheck passes); an unknown OID or a relative directory is
# refused with nothing written. Without a map the tablespace is an in-place directory (recovery
# allowed by allow_in_place_tablespaces). After the original changes (pgbench, inserts, a new and a
# dropped table) and a second backup, `restore --delta` of it onto the first copy is refused
# while that copy runs (nothing changed), and once it is stopped keeps most files, repairs a
# flipped byte in a relation file, removes stray files (also in the relocated tablespace), and
# the result starts with exactly the second backup's data, passing pg_amcheck and
# pg_checksums --check.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

# pg_dir NAME: a directory the server's OS user owns (tablespaces, restore parents).
pg_dir() {
  mkdir -p "$T/$1"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$T/$1"
  echo "$T/$1"
}

# amcheck DIR WHAT: pg_amcheck --all (heap and all indexes) on a running copy must pass.
amcheck() {
  as_pg "$PGBIN/pg_amcheck" -h "$1" -U postgres --all --install-missing --heapallindexed >"$T/amcheck" 2>&1 ||
    { cat "$T/amcheck" >&2; fail "pg_amcheck found problems $2"; }
}

P="$T/p1"
TS=$(pg_dir ts-orig)
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"

log "loading data, with a table and an index in a tablespace"
as_pg "$PGBIN/pgbench" -h "$P" -U postgres -i -s 2 -q postgres >/dev/null 2>&1 || fail "pgbench -i"
sql "$P" "CREATE TABLESPACE fast LOCATION '$TS'"
sql "$P" "CREATE TABLE in_ts TABLESPACE fast AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 20000) g"
sql "$P" "CREATE INDEX ON in_ts (body) TABLESPACE fast"
sql "$P" "CREATE TABLE still AS SELECT g AS id, md5(g::text) AS body FROM generate_series(1, 5000) g"
sql "$P" "CREATE TABLE doomed AS SELECT g FROM generate_series(1, 5000) g"
oid=$(sql "$P" "SELECT oid FROM pg_tablespace WHERE spcname = 'fast'")
[[ -L "$P/data/pg_tblspc/$oid" ]] || fail "the original's tablespace is not a symlink"

pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres" --type full
b1=$(json "$T/out" 'd["snapshot"]')
wait_archived "$P"
table_sums "$P" >"$T/sums1"

log "tablespace map refusals write nothing"
pexpect 2 restore postgres "$b1" --target "$T/nothing/data" --tablespace-map "99999=$T/nothing-ts"
assert_grep "has no tablespace 99999" "$T/err"
assert_one_line "$T/err"
pexpect 2 restore postgres "$b1" --target "$T/nothing/data" --tablespace-map "$oid=relative/ts"
assert_one_line "$T/err"
pexpect 2 restore postgres "$b1" --target "$T/nothing/data" --tablespace-map "$oid=$T/nothing/data/ts"
assert_grep "overlaps" "$T/err"
[[ ! -e "$T/nothing" && ! -e "$T/nothing-ts" ]] || fail "a refused restore wrote something"
pexpect 2 restore postgres "$b1" --target "$T/ts-orig" --delta
assert_grep "not a PostgreSQL data directory" "$T/err"

log "restore with --tablespace-map"
TSA="$(pg_dir tsroot)/a"
restore_drill a "$b1" --tablespace-map "$oid=$TSA"
A="$T/a"
[[ -L "$A/data/pg_tblspc/$oid" && $(readlink "$A/data/pg_tblspc/$oid") == "$TSA" ]] ||
  fail "pg_tblspc/$oid is not a symlink to $TSA: $(ls -l "$A/data/pg_tblspc")"
ls -d "$TSA"/PG_15_* >/dev/null || fail "no PG_15 directory in $TSA"
[[ $(stat -c '%U %a' "$TSA") == "$PGUSER_OS 700" ]] || fail "tablespace dir owner/mode: $(stat -c '%U %a' "$TSA")"
[[ $(sql "$A" "SELECT pg_tablespace_location($oid)") == "$TSA" ]] || fail "tablespace location in the copy"
table_sums "$A" >"$T/sums.a"
diff -u "$T/sums1" "$T/sums.a" || fail "the copy with a relocated tablespace differs"
amcheck "$A" "in the relocated copy"

log "restore without a map: the tablespace is an in-place directory in pg_tblspc"
restore_drill plain "$b1"
[[ -d "$T/plain/data/pg_tblspc/$oid" && ! -L "$T/plain/data/pg_tblspc/$oid" ]] ||
  fail "an unmapped tablespace should be a directory in pg_tblspc"
assert_grep "allow_in_place_tablespaces = on" "$T/plain/data/postgresql.auto.conf"
table_sums "$T/plain" >"$T/sums.plain"
diff -u "$T/sums1" "$T/sums.plain" || fail "the copy with an in-place tablespace differs"
pg_stop "$T/plain"

log "changes on the original, second backup"
as_pg "$PGBIN/pgbench" -h "$P" -U postgres -n -c 2 -t 300 postgres >/dev/null 2>&1 || fail "pgbench run"
sql "$P" "INSERT INTO in_ts SELECT g, 'late ' || g FROM generate_series(20001, 23000) g"
sql "$P" "CREATE TABLE fresh AS SELECT g AS id FROM generate_series(1, 3000) g"
sql "$P" "DROP TABLE doomed"
pexpect 0 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=postgres"
b2=$(json "$T/out" 'd["snapshot"]')
wait_archived "$P"
table_sums "$P" >"$T/sums2"

log "--delta is refused while the copy runs"
still=$(sql "$A" "SELECT pg_relation_filepath('still')")
db=$(dirname "$still")
tsver=$(ls -d "$TSA"/PG_15_*)
as_pg bash -c "echo stray >'$A/data/$db/999999' && mkdir '$A/data/stray_dir' &&
  echo stray >'$A/data/stray_dir/x' && echo stray >'$tsver/stray'" || fail "writing stray files"
conf_before=$(md5sum <"$A/data/postgresql.auto.conf")
pexpect 2 restore postgres "$b2" --target "$A/data" --delta
assert_grep "PostgreSQL is running" "$T/err"
assert_one_line "$T/err"
[[ -f "$A/data/$db/999999" && -f "$A/data/stray_dir/x" && ! -e "$A/data/backup_label" ]] ||
  fail "a refused delta changed the data directory"
[[ $(md5sum <"$A/data/postgresql.auto.conf") == "$conf_before" ]] || fail "a refused delta rewrote postgresql.auto.conf"
pg_stop "$A"

log "--delta onto the stopped copy, with a flipped byte in a relation file"
# A byte of tuple data (the end of block 0), which hint bits and freezing never change.
orig=$(od -An -tx1 -j 8190 -N1 "$A/data/$still" | tr -d ' ')
python3 -c 'import sys; f=open(sys.argv[1],"r+b"); f.seek(8190); b=f.read(1); f.seek(8190); f.write(bytes([b[0]^0x5a]))' "$A/data/$still"
[[ $(od -An -tx1 -j 8190 -N1 "$A/data/$still" | tr -d ' ') != "$orig" ]] || fail "the byte was not flipped"
pexpect 0 --json restore postgres "$b2" --target "$A/data" --delta
cp "$T/out" "$T/delta.json"
kept=$(json "$T/delta.json" 'd["files_kept"]')
written=$(json "$T/delta.json" 'd["files"]')
removed=$(json "$T/delta.json" 'd["removed"]')
log "delta: $written files rewritten, $kept kept, $removed entries removed"
[[ $(json "$T/delta.json" 'd["delta"]') == True ]] || fail "not reported as a delta restore"
[[ $kept -gt $((written * 4)) ]] || fail "delta kept $kept files and rewrote $written: most should be kept"
[[ $removed -ge 3 ]] || fail "delta removed only $removed entries"
[[ $(json "$T/delta.json" 'd["tablespaces"][0]["dir"]') == "$TSA" ]] || fail "the tablespace symlink was not kept"
[[ $(od -An -tx1 -j 8190 -N1 "$A/data/$still" | tr -d ' ') == "$orig" ]] || fail "the flipped byte was not repaired"
[[ ! -e "$A/data/$db/999999" && ! -e "$A/data/stray_dir" ]] || fail "stray files survived the delta"
[[ ! -e "$tsver/stray" ]] || fail "a stray file in the tablespace survived the delta"
[[ ! -e "$A/data/postmaster.pid" && $(ls -A "$A/data/pg_wal") == archive_status ]] ||
  fail "runtime files survived the delta: $(ls -A "$A/data/pg_wal")"
[[ -L "$A/data/pg_tblspc/$oid" && -f "$A/data/backup_label" && -f "$A/data/recovery.signal" ]] ||
  fail "delta result is not set up for recovery"

log "the delta result starts with the second backup's data"
echo "archive_mode = off" >>"$A/data/postgresql.auto.conf"
pg_start "$A"
wait_promoted "$A"
table_sums "$A" >"$T/sums.delta"
diff -u "$T/sums2" "$T/sums.delta" || fail "the delta restore differs from the second backup"
[[ $(sql "$A" "SELECT count(*) FROM pg_class WHERE relname = 'doomed'") == 0 ]] || fail "dropped table is back"
amcheck "$A" "after the delta"
pg_stop "$A"
as_pg "$PGBIN/pg_checksums" --check -D "$A/data" >"$T/checksums" 2>&1 ||
  { cat "$T/checksums" >&2; fail "pg_checksums --check failed after the delta"; }
log "ok"
