#!/usr/bin/env bash
# Damage to the repository is found and named, and restore refuses damaged files:
#   - a bit flip in a data pack, a truncated data pack: `check --read-data` exits 4 naming the
#     affected snapshot and files; `restore` exits 4, names the refused files, does not create
#     them, and restores every other file intact;
#   - a bit flip in an index file and in a snapshot object: `check` exits 4 naming the snapshot.
# Each case starts from a pristine copy of the repository.
source "$(dirname "$0")/lib.sh"
# The repository is rolled back to a copy between cases; the local audit anchor would (rightly)
# flag that as a truncated log, which is not what this test is about.
export BULWARK_AUDIT_ANCHOR=off

SRC="$T/src"
mkdir -p "$SRC/data" "$SRC/etc"
for i in 1 2 3 4 5 6; do random_file "$SRC/data/file$i.bin" 1; done
for i in 1 2 3; do seq 1 $((i * 5000)) >"$SRC/etc/conf$i.txt"; done
mkdir -p "$T/other"
random_file "$T/other/unrelated.bin" 1

bw init --chunk-size 64KiB --pack-size 256KiB -q
bw backup files "$SRC" --component victim -q
bw backup files "$T/other" --component bystander -q
victim=$(snapshot_ids | sed -n 1p)
bystander=$(snapshot_ids | sed -n '$p')
bw check --read-data -q
cp -a "$REPO" "$T/pristine"

reset_repo() {
  rm -rf "$REPO"
  cp -a "$T/pristine" "$REPO"
}

# flip_byte FILE [OFFSET]: inverts one byte (default: the middle).
flip_byte() {
  python3 - "$1" "${2:-}" <<'PY'
import os, sys
path = sys.argv[1]
size = os.path.getsize(path)
off = int(sys.argv[2]) if sys.argv[2] else size // 2
os.chmod(path, 0o644)
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x01]))
PY
}

# A data pack holding only the victim's file data: the largest pack written by the first
# backup (tree blobs live in their own, small packs; the bystander came later).
victim_pack() {
  python3 - "$REPO" "$T/pristine-packs" <<'PY'
import os, sys
repo = sys.argv[1]
packs = []
for dirpath, _, files in os.walk(os.path.join(repo, "data")):
    for f in files:
        p = os.path.join(dirpath, f)
        packs.append((os.path.getmtime(p), os.path.getsize(p), p))
packs.sort()
# Packs of the first backup come first in time; take the biggest among the older half.
first = packs[: max(1, len(packs) // 2)]
print(max(first, key=lambda t: t[1])[2])
PY
}

# check_names_damage: check --read-data exits 4, names the victim snapshot and at least one
# of its files, and not the bystander; leaves the damaged paths in $T/damaged.paths.
check_names_damage() {
  expect_exit 4 check --read-data
  assert_grep "${victim:0:8}" "$T/out" "check output does not name the damaged snapshot"
  assert_grep "$SRC/data/file" "$T/out" "check output does not name the damaged files"
  if grep -q "${bystander:0:8}" "$T/out"; then fail "check blames the undamaged snapshot"; fi
  expect_exit 4 check --read-data --json
  json "$T/out" '"\n".join(p for a in d["affected"] for p in a["paths"])' >"$T/damaged.paths"
  [[ -s "$T/damaged.paths" ]] || fail "check --json lists no affected paths"
}

# restore_refuses_damage [--rehash]: restore exits 4, names refused files (all among check's
# paths), does not create them, and restores everything else exactly. By default the restore
# relies on each chunk's authentication tag; with --rehash it also recomputes content hashes:
# the same files are refused either way.
restore_refuses_damage() {
  rm -rf "$T/restore"
  expect_exit 4 restore "$victim" --target "$T/restore" --path "$SRC" "$@"
  assert_grep "damaged" "$T/err"
  local refused=0
  for f in "$SRC"/data/*.bin "$SRC"/etc/*.txt; do
    local rel=${f#"$SRC"/}
    if grep -qF "$f" "$T/err"; then
      refused=$((refused + 1))
      grep -qF "$f" "$T/damaged.paths" || fail "restore refused $f, which check did not name"
      [[ ! -e "$T/restore/$rel" ]] || fail "damaged file $rel was created"
    else
      cmp -s "$f" "$T/restore/$rel" || fail "undamaged file $rel not restored intact"
    fi
  done
  [[ $refused -ge 1 ]] || fail "restore did not name any refused file"
  # The audit record says how the restore checked the data.
  expect_exit 0 audit log --json
  local rehashed
  rehashed=$(json "$T/out" '[r for r in d if r["operation"] == "restore"][-1]["details"]["rehash"]')
  [[ $rehashed == "$([[ $* == *--rehash* ]] && echo True || echo False)" ]] ||
    fail "audit record of the restore says rehash=$rehashed (args: $*)"
  # The bystander is untouched.
  rm -rf "$T/restore-other"
  expect_exit 0 restore "$bystander" --target "$T/restore-other" --path "$T/other"
  cmp -s "$T/other/unrelated.bin" "$T/restore-other/unrelated.bin" || fail "bystander damaged"
}

log "bit flip in a data pack"
reset_repo
flip_byte "$(victim_pack)"
check_names_damage
restore_refuses_damage
restore_refuses_damage --rehash

log "truncated data pack"
reset_repo
pack=$(victim_pack)
size=$(stat -c %s "$pack")
chmod 644 "$pack"
truncate -s $((size / 2)) "$pack"
expect_exit 4 check
check_names_damage
restore_refuses_damage
restore_refuses_damage --rehash

log "bit flip in an index file"
reset_repo
for f in "$REPO"/index/*; do flip_byte "$f"; done
expect_exit 4 check
assert_grep "index" "$T/out"
assert_grep "${victim:0:8}" "$T/out" "check does not name the affected snapshot"

log "bit flip in a snapshot object"
reset_repo
flip_byte "$REPO/snapshots/$victim"
expect_exit 4 check
assert_grep "${victim:0:8}" "$T/out" "check does not name the damaged snapshot"
expect_exit 0 restore "$bystander" --target "$T/restore-b" --path "$T/other"

log "truncated snapshot object"
reset_repo
chmod 644 "$REPO/snapshots/$victim"
truncate -s 20 "$REPO/snapshots/$victim"
expect_exit 4 check
assert_grep "${victim:0:8}" "$T/out"

log "the pristine copy still checks clean"
reset_repo
expect_exit 0 check --read-data
log "ok"
