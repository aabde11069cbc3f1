#!/usr/bin/env bash
# The derived key is cached in the OS user's kernel keyring under a name bound to the
# passphrase, the slot's salt and its KDF parameters: a command leaves exactly that entry, a
# wrong passphrase finds nothing and is refused, BULWARK_KEY_CACHE_SECONDS=0 neither stores
# nor uses an entry, a malformed value is a usage error, and `key uncache` removes it. Checked
# through /proc/keys, not timings (the suite runs tests in parallel).
source "$(dirname "$0")/lib.sh"

unset BULWARK_TEST_KDF  # the default Argon2id cost, as a real repository has
bw init >/dev/null

# kek_entry [PASSWORD_FILE]: the keyring entry name for this repository's slot and passphrase
# (docs/REPOSITORIES.md "Key cache").
kek_entry() {
  python3 - "$REPO" "${1:-$BULWARK_PASSWORD_FILE}" <<'PY'
import glob, hashlib, json, sys
repo, pwfile = sys.argv[1], sys.argv[2]
slot = json.load(open(glob.glob(repo + "/keys/*")[0]))
pw = open(pwfile, "rb").read().rstrip(b"\r\n")
head = b"bulwark kek cache v1\n%d\n%d\n%d\n%d\n" % (
    slot["ops_limit"], slot["mem_limit"], slot.get("lanes", 1), len(pw))
print("bulwark:kek:" + hashlib.sha256(head + pw + bytes.fromhex(slot["salt"])).hexdigest())
PY
}
cached() { grep -q " $1: " /proc/keys; }
entry=$(kek_entry)

bw key uncache >/dev/null
! cached "$entry" || fail "an entry survived key uncache"
# Off: nothing stored.
BULWARK_KEY_CACHE_SECONDS=0 bw snapshots >/dev/null
! cached "$entry" || fail "BULWARK_KEY_CACHE_SECONDS=0 stored the key"
# On (the default): the entry appears, with a timeout, and the next command still works.
bw snapshots >/dev/null
cached "$entry" || fail "no keyring entry after a command"
grep " $entry: " /proc/keys | awk '{print $4}' | grep -qv perm || fail "the entry never expires"
bw snapshots >/dev/null

# A wrong passphrase has another name, finds nothing and is refused.
echo "not the passphrase" >"$T/wrong"
[[ $(kek_entry "$T/wrong") != "$entry" ]] || fail "the entry name ignores the passphrase"
BULWARK_PASSWORD_FILE="$T/wrong" expect_exit 5 snapshots
assert_grep "opens with this passphrase" "$T/err"
! cached "$(kek_entry "$T/wrong")" || fail "a wrong passphrase was cached"

BULWARK_KEY_CACHE_SECONDS=soon expect_exit 2 snapshots
assert_grep "BULWARK_KEY_CACHE_SECONDS" "$T/err"

# key uncache removes it.
"$BIN" --json key uncache >"$T/uncache.json"
[[ $(json "$T/uncache.json" 'd["cleared"]') -ge 1 ]] || fail "key uncache cleared nothing"
! cached "$entry" || fail "key uncache left the entry"
log "ok"
