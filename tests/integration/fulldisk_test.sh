#!/usr/bin/env bash
# Full disk during a backup: the repository lives on a small tmpfs mounted in a private
# mount namespace. A backup too big for it must fail with one clear error line and exit 1;
# afterwards `check --read-data` passes, the earlier snapshot restores bit for bit, and
# prune and a new small backup work.
if [[ -z "${BULWARK_IN_MOUNT_NS:-}" ]]; then
  if ! unshare -m true 2>/dev/null; then
    echo "fulldisk_test: needs root for a private mount namespace (unshare -m); skipped" >&2
    exit 0
  fi
  exec unshare -m env BULWARK_IN_MOUNT_NS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/small"
mount --make-rprivate / 2>/dev/null || true
mount -t tmpfs -o size=48m tmpfs "$T/small" || fail "cannot mount a tmpfs"
cleanup_hooks+=("umount -l '$T/small'")
REPO="$T/small/repo"
export BULWARK_REPOSITORY="$REPO"

mkdir -p "$T/src1" "$T/src2"
random_file "$T/src1/a.bin" 4
seq 1 200000 >"$T/src1/numbers.txt"
for i in 1 2 3 4 5 6 7 8; do random_file "$T/src2/big$i.bin" 10; done

bw init --pack-size 4MiB -q
expect_exit 0 backup files "$T/src1" --component first --json
first=$(json "$T/out" 'd["snapshot"]')

log "backup of 80 MiB into a 48 MiB file system"
expect_exit 1 backup files "$T/src2" --component second
assert_one_line "$T/err"
grep -Eqi "space|full" "$T/err" || fail "the error does not say the disk is full: $(cat "$T/err")"
log "error shown: $(cat "$T/err")"

log "the repository is still consistent"
expect_exit 0 check --read-data
expect_exit 0 snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 1 ]] || fail "a snapshot of the failed backup became visible"
expect_exit 0 restore "$first" --target "$T/restore" --path "$T/src1"
same_tree "$T/src1" "$T/restore"

log "prune after the failure works, and a small backup then succeeds"
expect_exit 0 prune
echo "one more line" >>"$T/src1/numbers.txt"
expect_exit 0 backup files "$T/src1" --component first
expect_exit 0 check --read-data
log "ok"
