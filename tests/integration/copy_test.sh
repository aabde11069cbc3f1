#!/usr/bin/env bash
# Several repositories: two local repositories named in one config (`local` and `offsite`,
# each with its own passphrase), `init --from-repo` sharing the keys, `copy` (bit-for-bit
# restore from the copy, a second copy transfers nothing, retention stays per repository,
# kill -9 mid-copy then a re-run completes, a target without shared keys is refused), and
# restore / wal-get falling back to the next repository when a pack is damaged or the first
# repository is gone.
source "$(dirname "$0")/lib.sh"

A="$T/a"
B="$T/b"
unset BULWARK_REPOSITORY
# Repositories named in the config use their own password_file; the others (given as paths)
# use BULWARK_PASSWORD_FILE.
echo "offsite passphrase, not the same" >"$T/password-b"
CFG="$T/bulwark.toml"
cat >"$CFG" <<EOF
[repositories.local]
url = "$A"
password_file = "$T/password"

[repositories.offsite]
url = "$B"
password_file = "$T/password-b"
EOF
# bwc ARGS: bulwark with the config; cexit CODE ARGS: expect_exit with the config.
bwc() { bw --config "$CFG" "$@"; }
cexit() {
  local code=$1
  shift
  expect_exit "$code" --config "$CFG" "$@"
}

SRC="$T/src"
mkdir -p "$SRC/sub/deeper"
for i in 1 2 3; do random_file "$SRC/sub/rand$i.bin" 1; done
seq 1 200000 >"$SRC/numbers.txt"
ln -s numbers.txt "$SRC/link"
echo "first" >"$SRC/sub/deeper/note"

log "init local, two backups"
bwc --repo local init >/dev/null
cexit 0 --repo local backup files "$SRC" --component config --json
snap1=$(json "$T/out" 'd["snapshot"]')
cp -a "$SRC" "$T/src-v1"
echo "second" >"$SRC/sub/deeper/note"
random_file "$SRC/sub/rand4.bin" 1
cexit 0 --repo local backup files "$SRC" --component config --json
snap2=$(json "$T/out" 'd["snapshot"]')

WAL="$T/000000010000000000000001"
random_file "$WAL" 2
cexit 0 --repo local wal-push --component pg "$WAL"

log "init offsite --from-repo local (its own passphrase, a smaller pack size)"
cexit 0 --repo offsite init --from-repo local --pack-size 256KiB
cexit 0 --repo offsite key list --json
[[ $(json "$T/out" 'len(d)') == 1 ]] || fail "offsite should have exactly its own key slot"
# The offsite passphrase opens offsite only.
BULWARK_PASSWORD_FILE="$T/password-b" expect_exit 5 --repo "$A" snapshots

log "copy local -> offsite"
cexit 0 --repo offsite copy --from local --json
cp "$T/out" "$T/copy1.json"
[[ $(json "$T/copy1.json" 'd["snapshots_copied"]') == 2 ]] || fail "expected 2 snapshots copied: $(cat "$T/copy1.json")"
[[ $(json "$T/copy1.json" 'd["chunks_copied"]') -gt 0 ]] || fail "no chunks transferred"
[[ $(json "$T/copy1.json" 'd["wal_copied"]') == 1 ]] || fail "expected 1 WAL file copied"
cexit 0 --repo local snapshots --json
json "$T/out" '"\n".join(sorted(s["id"] for s in d))' >"$T/ids.a"
cexit 0 --repo offsite snapshots --json
json "$T/out" '"\n".join(sorted(s["id"] for s in d))' >"$T/ids.b"
diff "$T/ids.a" "$T/ids.b" || fail "offsite does not hold the same snapshot IDs"

log "restore from offsite, bit for bit"
cexit 0 --repo offsite restore "$snap2" --target "$T/r-b2" --path "$SRC"
same_tree "$SRC" "$T/r-b2"
cexit 0 --repo offsite restore "$snap1" --target "$T/r-b1" --path "$SRC"
diff -r "$T/src-v1" "$T/r-b1" || fail "snapshot 1 restored from offsite differs"

log "a second copy transfers nothing"
cexit 0 --repo offsite copy --from local --json
[[ $(json "$T/out" 'd["snapshots_copied"]') == 0 ]] || fail "second copy copied snapshots"
[[ $(json "$T/out" 'd["snapshots_skipped"]') == 2 ]] || fail "second copy did not skip 2"
[[ $(json "$T/out" 'd["chunks_copied"]') == 0 ]] || fail "second copy transferred chunks: $(cat "$T/out")"
[[ $(json "$T/out" 'd["audit_records_copied"]') == 0 ]] || fail "second copy re-copied audit records"
[[ $(json "$T/out" 'd["wal_copied"]') == 0 ]] || fail "second copy re-copied WAL"
cexit 0 --repo offsite copy --from local
assert_grep "0 snapshots copied, 2 already there" "$T/out"

log "offsite's audit log holds local's records in its own chain"
cexit 0 --repo offsite audit verify
cexit 0 --repo offsite audit log --json
python3 - "$T/out" <<'PY' || fail "audit records of offsite are not as expected"
import json, sys
recs = json.load(open(sys.argv[1]))
ops = [r["operation"] for r in recs]
copied = [r for r in recs if "copied_from" in r.get("details", {})]
assert "copy" in ops, ops
assert any(r["operation"] == "backup" for r in copied), ops
assert len({r["details"]["copied_from"]["seq"] for r in copied}) == len(copied)
PY

log "retention is per repository: forget + prune in local leaves offsite alone"
cexit 0 --repo local forget --component config --keep-last 1 --prune
cexit 0 --repo local snapshots --json
[[ $(json "$T/out" 'len(d)') == 1 ]] || fail "forget did not forget in local"
cexit 0 --repo offsite snapshots --json
[[ $(json "$T/out" 'len(d)') == 2 ]] || fail "forget in local changed offsite"
cexit 0 --repo offsite check --read-data
cexit 0 --repo offsite restore "$snap1" --target "$T/r-b1b" --path "$SRC"
diff -r "$T/src-v1" "$T/r-b1b" || fail "snapshot 1 from offsite differs after prune in local"

log "kill -9 in the middle of a copy, then a re-run completes"
C="$T/c"
mkdir -p "$SRC/big"
for i in $(seq 1 24); do random_file "$SRC/big/f$i.bin" 2; done
cexit 0 --repo local backup files "$SRC" --component config --json
snap3=$(json "$T/out" 'd["snapshot"]')
cexit 0 --repo "$C" init --from-repo local --pack-size 512KiB
"$BIN" --config "$CFG" --repo "$C" copy --from local >"$T/kill.out" 2>"$T/kill.err" &
pid=$!
wait_for "[[ \$(find '$C/index' -type f 2>/dev/null | wc -l) -ge 8 ]]" 120 ||
  fail "copy stored no index file within 120 s"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
snaps_after_kill=$(find "$C/snapshots" -type f | wc -l)
log "killed with $(find "$C/data" -type f | wc -l) packs and $snaps_after_kill snapshots in the target"
[[ $snaps_after_kill -lt 2 ]] || fail "the copy finished before it was killed; make it bigger"
cexit 0 --repo "$C" copy --from local --json
[[ $(json "$T/out" 'd["snapshots_copied"]') == $((2 - snaps_after_kill)) ]] ||
  fail "re-run copied the wrong number of snapshots: $(cat "$T/out")"
[[ $(json "$T/out" 'd["chunks_present"]') -gt 0 ]] || fail "re-run kept nothing of the killed copy"
cexit 0 --repo "$C" check --read-data
cexit 0 --repo "$C" restore "$snap3" --target "$T/r-c3" --path "$SRC"
same_tree "$SRC" "$T/r-c3"

log "a target that does not share keys is refused"
D="$T/d"
cexit 0 --repo "$D" init
cexit 2 --repo "$D" copy --from local
assert_one_line "$T/err"
assert_grep "init --from-repo" "$T/err"

log "bring offsite up to date (snapshot 3)"
cexit 0 --repo offsite copy --from local

log "fallback: a damaged pack in local is read from offsite"
python3 - "$A" <<'PY'
import os, sys
# Flip one byte in the middle of every pack: some chunk in each no longer authenticates.
root = os.path.join(sys.argv[1], "data")
for d, _, files in os.walk(root):
    for f in files:
        p = os.path.join(d, f)
        os.chmod(p, 0o600)
        with open(p, "r+b") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(size // 3)
            b = fh.read(1)
            fh.seek(size // 3)
            fh.write(bytes([b[0] ^ 0x40]))
PY
cexit 0 --repo local restore "$snap3" --target "$T/r-fb" --path "$SRC"
assert_grep "damaged in repository local; read from offsite" "$T/err"
same_tree "$SRC" "$T/r-fb"
# Without a fallback the same restore reports the damage.
expect_exit 4 --repo "$A" restore "$snap3" --target "$T/r-nofb" --path "$SRC"
assert_grep "damaged" "$T/err"

log "fallback: local unreachable, restore reads offsite"
mv "$A" "$T/a.away"
cexit 0 restore "$snap3" --target "$T/r-away" --path "$SRC"
assert_grep "repository local unreachable" "$T/err"
same_tree "$SRC" "$T/r-away"
cexit 0 wal-get --component pg --prefetch 0 000000010000000000000001 "$T/wal.got"
assert_grep "repository local unreachable" "$T/err"
cmp "$WAL" "$T/wal.got" || fail "wal-get from offsite returned other bytes"
# An explicit --fallback-repo works the same way with URLs.
expect_exit 0 --repo "$A" --fallback-repo "$C" restore "$snap3" \
  --target "$T/r-away2" --path "$SRC"
assert_grep "unreachable" "$T/err"
same_tree "$SRC" "$T/r-away2"
mv "$T/a.away" "$A"
log "ok"
