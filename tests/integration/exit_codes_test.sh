#!/usr/bin/env bash
# Exit codes and one-line errors of DESIGN.md section 4: no repository 7, wrong passphrase 5,
# locked 6, unreadable source files 3 (named), malformed config 2 (file and line named),
# unknown flag 2, init over an existing repository 1, missing passphrase 2, bad snapshot 1.
source "$(dirname "$0")/lib.sh"

log "no repository: 7"
expect_exit 7 snapshots
assert_one_line "$T/err"
assert_grep "no repository" "$T/err"
expect_exit 7 backup files /etc/hostname

log "init, then init again refuses: 1"
expect_exit 0 init
expect_exit 1 init
assert_one_line "$T/err"
assert_grep "already exists" "$T/err"

log "wrong passphrase: 5"
echo "not the passphrase" >"$T/wrong"
expect_exit 5 snapshots --password-file "$T/wrong"
assert_one_line "$T/err"
BULWARK_PASSWORD="nope" BULWARK_PASSWORD_FILE="" expect_exit 5 snapshots

log "no passphrase and no terminal: 2"
BULWARK_PASSWORD_FILE="" expect_exit 2 snapshots
assert_grep "passphrase" "$T/err"

log "unknown flag and missing arguments: 2"
expect_exit 2 snapshots --no-such-flag
assert_one_line "$T/err"
expect_exit 2 frobnicate
expect_exit 2 restore latest
expect_exit 2 check --read-data --read-data-subset 10%
expect_exit 2 forget
expect_exit 2 check --read-data-subset 150%

log "malformed config: 2 naming the file and line"
printf '[repository]\nurl = "%s"\npassword_file = = "x"\n' "$REPO" >"$T/bad.toml"
expect_exit 2 snapshots --config "$T/bad.toml"
assert_one_line "$T/err"
assert_grep "bad.toml" "$T/err"
assert_grep "line 3" "$T/err"
printf '[repository]\nurl = 7\n' >"$T/type.toml"
expect_exit 2 snapshots --config "$T/type.toml"
assert_grep "line 2" "$T/err"
expect_exit 2 snapshots --config "$T/missing.toml"

log "a good config works, flags override it"
printf '[repository]\nurl = "%s"\npassword_file = "%s"\n' "$REPO" "$T/password" >"$T/good.toml"
BULWARK_REPOSITORY="" BULWARK_PASSWORD_FILE="" expect_exit 0 snapshots --config "$T/good.toml"
BULWARK_REPOSITORY="" BULWARK_PASSWORD_FILE="" expect_exit 7 snapshots --config "$T/good.toml" \
  -r "$T/elsewhere"

log "unknown snapshot: 1"
expect_exit 1 restore deadbeef --target "$T/r"
assert_one_line "$T/err"
expect_exit 1 restore latest --target "$T/r"

log "unreadable source files: backup completes, names them, exit 3"
mkdir -p "$T/src/sub" "$T/src/locked-dir"
echo readable >"$T/src/ok.txt"
echo secret >"$T/src/sub/secret.txt"
echo hidden >"$T/src/locked-dir/inner.txt"
chmod 000 "$T/src/sub/secret.txt" "$T/src/locked-dir"
# Root reads everything, so drop the capabilities that bypass file permissions.
drop=(setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search)
if ! "${drop[@]}" true 2>/dev/null; then
  drop=(capsh --drop=cap_dac_override,cap_dac_read_search --)
fi
code=0
"${drop[@]}" "$BIN" backup files "$T/src" --component unreadable >"$T/out" 2>"$T/err" || code=$?
[[ $code -eq 3 ]] || { cat "$T/err" >&2; fail "unreadable backup exited $code, expected 3"; }
assert_grep "secret.txt" "$T/err"
assert_grep "locked-dir" "$T/err"
chmod 755 "$T/src/locked-dir"
chmod 644 "$T/src/sub/secret.txt"
expect_exit 0 snapshots --component unreadable --json
[[ $(json "$T/out" 'len(d)') -eq 1 ]] || fail "the partial snapshot was not saved"
assert_grep "secret.txt" "$T/out" "the snapshot does not record the unreadable file"
expect_exit 0 restore latest --component unreadable --target "$T/r1" --path "$T/src"
[[ $(cat "$T/r1/ok.txt") == readable ]] || fail "readable file missing from the partial snapshot"
[[ ! -e "$T/r1/sub/secret.txt" ]] || fail "unreadable file appeared in the restore"

log "locked: 6 (a check holds the exclusive lock; prune must refuse)"
mkdir -p "$T/big"
for i in 1 2 3 4; do random_file "$T/big/r$i" 48; done
bw backup files "$T/big" --component big -q
"$BIN" check --read-data -q >"$T/check.out" 2>&1 &
check_pid=$!
if wait_for '[[ -n "$(ls -A "$REPO/locks" 2>/dev/null)" ]]' 30; then
  kill -STOP "$check_pid" 2>/dev/null || true
fi
if kill -0 "$check_pid" 2>/dev/null; then
  expect_exit 6 prune
  assert_one_line "$T/err"
  assert_grep "lock" "$T/err"
  expect_exit 6 check
  # Writers never wait for or are stopped by the exclusive lock.
  echo more >"$T/src/more.txt"
  expect_exit 0 backup files "$T/src/ok.txt" --component while-locked
  kill -CONT "$check_pid"
  wait "$check_pid" || fail "the check holding the lock failed: $(cat "$T/check.out")"
else
  wait "$check_pid" || true
  fail "the check finished before its lock could be observed"
fi
expect_exit 0 prune

log "stale lock of a dead process is ignored and removed by unlock"
"$BIN" check --read-data -q >/dev/null 2>&1 &
check_pid=$!
wait_for '[[ -n "$(ls -A "$REPO/locks" 2>/dev/null)" ]]' 30 || fail "no lock appeared"
kill -9 "$check_pid"
wait "$check_pid" 2>/dev/null || true
expect_exit 0 check
expect_exit 0 unlock
log "ok"
