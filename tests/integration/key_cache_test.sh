#!/usr/bin/env bash
# The derived key is cached in the OS user's kernel keyring: the second command in a row skips
# Argon2id (real KDF parameters here, so the difference is measurable), a wrong passphrase is
# still refused while the right one is cached, BULWARK_KEY_CACHE_SECONDS=0 turns it off, a
# malformed value is a usage error, and `key uncache` forgets the entries.
source "$(dirname "$0")/lib.sh"

unset BULWARK_TEST_KDF  # the default Argon2id cost, not the tests' cheap one
bw init >/dev/null
bw key uncache >/dev/null

# elapsed_ms CMD...: runs bulwark with CMD, prints its wall time in milliseconds.
elapsed_ms() {
  local t0 t1
  t0=$(date +%s%N)
  "$BIN" "$@" >/dev/null || fail "bulwark $* failed"
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
}
derive=$(elapsed_ms snapshots)
cached=$(elapsed_ms snapshots)
cached2=$(elapsed_ms snapshots)
best=$((cached < cached2 ? cached : cached2))
log "first command ${derive} ms (derives the key), then ${cached} and ${cached2} ms (cached)"
[[ $((best * 3)) -lt $derive ]] || fail "the cached key did not save the derivation"

# A wrong passphrase is refused, whatever is cached.
echo "not the passphrase" >"$T/wrong"
BULWARK_PASSWORD_FILE="$T/wrong" expect_exit 5 snapshots
assert_grep "opens with this passphrase" "$T/err"

# Off: every command derives.
off=$(BULWARK_KEY_CACHE_SECONDS=0 elapsed_ms snapshots)
[[ $((best * 3)) -lt $off ]] || fail "BULWARK_KEY_CACHE_SECONDS=0 still used the cache (${off} ms)"
BULWARK_KEY_CACHE_SECONDS=soon expect_exit 2 snapshots
assert_grep "BULWARK_KEY_CACHE_SECONDS" "$T/err"

# key uncache forgets it: the next command derives again.
"$BIN" --json key uncache >"$T/uncache.json"
[[ $(json "$T/uncache.json" 'd["cleared"]') -ge 1 ]] || fail "key uncache cleared nothing"
again=$(elapsed_ms snapshots)
[[ $((best * 3)) -lt $again ]] || fail "key uncache left the key cached (${again} ms)"
log "ok"
