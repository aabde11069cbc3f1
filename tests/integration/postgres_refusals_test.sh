#!/usr/bin/env bash
# What `backup postgres` refuses, each with one clear line and the DESIGN.md exit code: not a
# data directory (2), server not reachable (1), a different cluster under the same component
# (2), a role without the backup privileges (2), wal_level minimal (2, also with --remote), a
# broken archive_command (1 after --archive-timeout, nothing committed). And
# a corrupt page (bytes flipped in a relation file of the stopped cluster) is reported by file
# and block, recorded in the snapshot, and makes the backup exit 3.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/postgres_lib.sh"

P="$T/p1"
pbw init
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$P"
DB="host=$P user=postgres"

log "not a data directory"
mkdir -p "$T/notpg"
pexpect 2 backup postgres --component "$COMPONENT" --pgdata "$T/notpg" --db "$DB"
assert_grep "not a PostgreSQL data directory" "$T/err"
assert_one_line "$T/err"

log "server not reachable"
pexpect 1 backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$T/nowhere user=postgres"
assert_grep "cannot connect to PostgreSQL" "$T/err"
assert_one_line "$T/err"

log "insufficient privileges"
sql "$P" "CREATE ROLE weak LOGIN"
pexpect 2 backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "host=$P user=weak dbname=postgres"
assert_grep "insufficient privileges" "$T/err"

log "a good backup, then a corrupt page"
sql "$P" "CREATE TABLE victim AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 5000) g"
pexpect 0 backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "$DB"
rel=$(sql "$P" "SELECT pg_relation_filepath('victim')")
corrupt_page "$P" "$rel" 3
pexpect 3 --json backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "$DB"
assert_corrupt_page "$rel" 3
snap=$(json "$T/out" 'd["snapshot"]')
pexpect 0 --json snapshots --component "$COMPONENT"
python3 - "$T/out" "$snap" "$rel" <<'PY' || fail "the corrupt page is not recorded in the snapshot"
import json, sys
snaps = json.load(open(sys.argv[1]))
s = [s for s in snaps if s["id"] == sys.argv[2]][0]
assert any(sys.argv[3] in e and "block 3" in e for e in s["errors"]), s["errors"]
PY

log "a broken archive_command: the backup gives up after --archive-timeout"
sql "$P" "ALTER SYSTEM SET archive_command = 'false'"
sql "$P" "SELECT pg_reload_conf()"
pexpect 1 backup postgres --component "$COMPONENT" --pgdata "$P/data" --db "$DB" \
  --archive-timeout 2
assert_grep "was not archived within 2 s" "$T/err"
assert_grep "archive_command" "$T/err"
assert_one_line "$T/err"
pexpect 0 --json snapshots --component "$COMPONENT"
[[ $(json "$T/out" 'len(d)') == 2 ]] || fail "a backup without its WAL was committed"

log "another cluster under the same component"
Q="$T/p2"
PG_SANDBOX_CONF="$ARCHIVE_CONF" pg_start "$Q"
pexpect 2 backup postgres --component "$COMPONENT" --pgdata "$Q/data" --db "host=$Q user=postgres"
assert_grep "system identifier" "$T/err"
assert_one_line "$T/err"
pg_stop "$Q"

log "wal_level minimal"
M="$T/p3"
PG_SANDBOX_CONF="wal_level = minimal
max_wal_senders = 0
archive_mode = off" pg_start "$M"
pexpect 2 backup postgres --component other --pgdata "$M/data" --db "host=$M user=postgres"
assert_grep "wal_level is 'minimal'" "$T/err"
assert_one_line "$T/err"
# Over the replication protocol: such a server takes no replication connection at all.
pexpect 2 backup postgres --component other --remote --db "host=$M user=postgres"
assert_grep "wal_level = replica" "$T/err"
assert_one_line "$T/err"
log "ok"
