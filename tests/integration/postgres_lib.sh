# Shared helpers for the PostgreSQL integration tests (sourced after lib.sh; not a test itself).
# Real PostgreSQL 15 servers are started with scripts/pg-sandbox.sh in the test's temp dir and
# stopped by the EXIT trap whatever happens. Bulwark runs as the server's OS user (`postgres`
# when the suite runs as root), like archive_command does, so the repository, passphrase file
# and cache live in a directory that user owns.
# shellcheck shell=bash disable=SC2034

: "${BULWARK_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
SANDBOX="$BULWARK_SOURCE_DIR/scripts/pg-sandbox.sh"
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[[ -x "$PGBIN/postgres" ]] || { echo "SKIP: PostgreSQL 15 is not installed" >&2; exit 0; }

PGUSER_OS=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  PGUSER_OS=postgres
  chmod 711 "$T"
fi
W="$T/w"  # owned by the server's OS user: repository, passphrase, cache
mkdir -p "$W"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$W"
cp "$T/password" "$W/password"
chmod 600 "$W/password"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$W/password"
REPO="$W/repo"
export BULWARK_REPOSITORY="$REPO" BULWARK_PASSWORD_FILE="$W/password" BULWARK_CACHE_DIR="$W/cache"
COMPONENT=pg

# as_pg CMD...: runs CMD as the server's OS user (environment kept).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

# pbw ARGS...: bulwark as the server's OS user; fails the test unless it exits 0.
pbw() {
  if ! as_pg "$BIN" "$@"; then fail "bulwark $* exited with $?"; fi
}

# pexpect CODE ARGS...: like expect_exit, as the server's OS user.
pexpect() {
  local want=$1
  shift
  local got=0
  as_pg "$BIN" "$@" >"$T/out" 2>"$T/err" </dev/null || got=$?
  if [[ $got -ne $want ]]; then
    echo "--- stdout" >&2
    head -c 4000 "$T/out" >&2 || true
    echo "--- stderr" >&2
    head -c 4000 "$T/err" >&2 || true
    fail "bulwark $* exited with $got, expected $want"
  fi
}

ARCHIVE_CONF="archive_mode = on
archive_command = '$BIN --repo $REPO --password-file $W/password wal-push --component $COMPONENT %p'
autovacuum = off"

# pg_start DIR: starts (initialising if needed) a sandbox server in DIR; stopped on exit.
pg_start() {
  local dir=$1
  cleanup_hooks+=("'$SANDBOX' stop '$dir' >/dev/null 2>&1")
  "$SANDBOX" start "$dir" || fail "could not start PostgreSQL in $dir"
}
pg_stop() { "$SANDBOX" stop "$1"; }

# sql DIR QUERY: one query, unaligned tuples-only output.
sql() {
  psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$1" -U postgres -d postgres -c "$2"
}

# wait_promoted DIR: waits until a restored server has finished recovery.
wait_promoted() {
  wait_for "[[ \$(sql '$1' 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]]" 120 ||
    { tail -30 "$1/server.log" >&2; fail "server in $1 did not finish recovery"; }
}

# wait_archived DIR: switches WAL and waits until the segment is archived.
wait_archived() {
  local seg
  seg=$(sql "$1" "SELECT pg_walfile_name(pg_switch_wal())")
  wait_for "[[ \"\$(sql '$1' 'SELECT last_archived_wal FROM pg_stat_archiver')\" > '$seg' || \
\"\$(sql '$1' 'SELECT last_archived_wal FROM pg_stat_archiver')\" == '$seg' ]]" 60 ||
    { tail -30 "$1/server.log" >&2; fail "segment $seg was not archived"; }
}

# table_sums DIR: one line per user table: name and md5 of its ordered contents.
table_sums() {
  local t
  for t in $(sql "$1" "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"); do
    printf '%s %s\n' "$t" "$(sql "$1" "SELECT md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) FROM $t x")"
  done
}

# corrupt_page DIR REL BLOCK: stops the server in DIR, flips 4 bytes in the middle of block
# BLOCK of its relation file REL (in the tuple data, not the header, whose LSN decides
# verification) and starts it again.
corrupt_page() {
  sql "$1" "CHECKPOINT"
  pg_stop "$1"
  python3 - "$1/data/$2" "$3" <<'PY'
import sys
at = int(sys.argv[2]) * 8192 + 4000
with open(sys.argv[1], "r+b") as f:
    f.seek(at)
    b = f.read(4)
    f.seek(at)
    f.write(bytes(x ^ 0xFF for x in b))
PY
  pg_start "$1"
}

# assert_corrupt_page REL BLOCK: the backup whose --json output is in $T/out (stderr in $T/err)
# reported exactly one corrupt page, block BLOCK of REL.
assert_corrupt_page() {
  [[ $(json "$T/out" 'len(d["corrupt_pages"])') == 1 ]] || fail "expected one corrupt page"
  [[ $(json "$T/out" 'd["corrupt_pages"][0]["file"]') == "$1" ]] || fail "corrupt page file"
  [[ $(json "$T/out" 'd["corrupt_pages"][0]["block"]') == "$2" ]] || fail "corrupt page block"
  assert_grep "corrupt page: $1 block $2" "$T/err"
}

# restore_drill NAME ARGS...: `restore postgres ARGS` into $T/NAME/data, starts the copy and
# waits until it has promoted; sets $restored to the snapshot restored. The copy keeps running
# (pg_stop "$T/NAME"); called outside a subshell, so the EXIT trap stops it on failure.
# A drill must not archive into the production archive: its promotion forks a new timeline
# there, and a later restore to the end of the archive (recovery_target_timeline = latest)
# would rightly follow that fork instead of the original timeline. So archiving is off.
restore_drill() {
  local name=$1
  shift
  local r="$T/$name"
  mkdir -p "$r"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$r"
  pexpect 0 --json restore postgres "$@" --target "$r/data"
  restored=$(json "$T/out" 'd["snapshot"]')
  echo "archive_mode = off" >>"$r/data/postgresql.auto.conf"
  pg_start "$r"
  wait_promoted "$r"
}
