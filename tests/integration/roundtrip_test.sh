#!/usr/bin/env bash
# Round trip through the CLI: a tree with the awkward cases (unicode and 255-byte names,
# symlinks, hard links, a sparse file, empty files and directories, unusual modes, old
# nanosecond mtimes, a fifo) plus a 2.5 GiB file (repeated random blocks with unique parts)
# is backed up, restored and compared: contents, types, modes, owners, mtimes, hard-link
# groups, sparseness (allocated blocks) and sha256 of the big file. A second backup of the
# unchanged tree must reuse every file without re-reading it.
source "$(dirname "$0")/lib.sh"

SRC="$T/src"
mkdir -p "$SRC"
log "building the awkward tree"
python3 - "$SRC" <<'PY'
import os, sys
root = sys.argv[1]
os.makedirs(f"{root}/dir/nested/deeper", exist_ok=True)
os.makedirs(f"{root}/empty-dir", exist_ok=True)
# Unicode names (NFC and NFD forms are different names), spaces, newline, leading dash.
names = ["héllo wörld.txt", "he\u0301llo-nfd.txt", "日本語のファイル名.csv", "emoji-🚀📈.json",
         "line\nbreak", "-leading-dash", " leading space", "trailing space ", "#hash;semi&amp"]
for i, n in enumerate(names):
    with open(os.path.join(root, "dir", n), "w") as f:
        f.write(f"content {i} of {n!r}\n" * (i + 1))
# 255-byte names: ASCII and multi-byte UTF-8 (3-byte characters, 85 of them = 255 bytes).
with open(os.path.join(root, "dir", "a" * 255), "w") as f:
    f.write("long ascii name\n")
with open(os.path.join(root, "dir", "語" * 85), "w") as f:
    f.write("long utf-8 name\n")
os.makedirs(os.path.join(root, "dir", "d" * 255), exist_ok=True)
with open(os.path.join(root, "dir", "d" * 255, "inside"), "w") as f:
    f.write("inside a long directory name\n")
# Empty files.
open(f"{root}/empty-file", "w").close()
open(f"{root}/dir/nested/empty-too", "w").close()
# Symlinks: relative, absolute, dangling, to a directory, to a long unicode name.
os.symlink("../empty-file", f"{root}/dir/link-relative")
os.symlink("/etc/hostname", f"{root}/dir/link-absolute")
os.symlink("does/not/exist", f"{root}/dir/link-dangling")
os.symlink("nested", f"{root}/dir/link-to-dir")
os.symlink("語" * 85, f"{root}/dir/link-unicode")
# Hard links: three names for one inode, across directories.
with open(f"{root}/dir/hard-a", "w") as f:
    f.write("shared inode\n" * 1000)
os.link(f"{root}/dir/hard-a", f"{root}/dir/nested/hard-b")
os.link(f"{root}/dir/hard-a", f"{root}/hard-c")
# Sparse file: 64 MiB apparent, a few MiB of data in three islands.
with open(f"{root}/sparse.img", "wb") as f:
    f.truncate(64 << 20)
    for off in (0, 20 << 20, (64 << 20) - (1 << 20)):
        f.seek(off)
        f.write(os.urandom(1 << 20))
# A fifo.
os.mkfifo(f"{root}/dir/a-fifo")
# Modes.
modes = {"dir/nested/deeper": 0o700, "dir/hard-a": 0o640, "empty-file": 0o000,
         "dir/héllo wörld.txt": 0o4755, "dir/-leading-dash": 0o2750}
for path, mode in modes.items():
    os.chmod(os.path.join(root, path), mode)
os.makedirs(f"{root}/sticky", exist_ok=True)
os.chmod(f"{root}/sticky", 0o1777)
# Owners other than root.
with open(f"{root}/owned-by-nobody", "w") as f:
    f.write("nobody's\n")
os.chown(f"{root}/owned-by-nobody", 65534, 65534)
os.lchown(f"{root}/dir/link-dangling", 65534, 100)
# mtimes with nanoseconds, old and in the future; symlinks get their own.
ts = [(1, 123456789), (981173106, 987654321), (4102444800, 5)]
i = 0
for dirpath, dirnames, filenames in os.walk(root, topdown=False):
    for name in filenames + dirnames:
        p = os.path.join(dirpath, name)
        s, ns = ts[i % len(ts)]
        i += 1
        os.utime(p, ns=(s * 10**9 + ns, s * 10**9 + ns), follow_symlinks=False)
PY

# The big file: a 4 MiB random block repeated (the chunker resynchronises, so it deduplicates)
# with unique random islands, 2.5 GiB in total. Sized in MiB so it is quick to build.
log "building a 2.5 GiB file"
random_file "$T/block" 4
random_file "$T/unique" 8
python3 - "$T/block" "$T/unique" "$SRC/big.bin" <<'PY'
import sys
block = open(sys.argv[1], "rb").read()
unique = open(sys.argv[2], "rb").read()
with open(sys.argv[3], "wb") as f:
    for i in range(640):  # 640 x 4 MiB = 2.5 GiB
        if i in (0, 300, 639):
            f.write(unique[:len(block) // 2])
            unique = unique[len(block) // 2:] + unique[:len(block) // 2]
            f.write(block[len(block) // 2:])
        else:
            f.write(block)
PY
touch -d '2020-02-29 12:34:56.123456789' "$SRC/big.bin"
big_sum=$(sha256sum "$SRC/big.bin" | cut -d' ' -f1)

log "init + backup"
bw init --chunk-size 512KiB >/dev/null
expect_exit 0 backup files "$SRC" --component roundtrip --json
snap=$(json "$T/out" 'd["snapshot"]')
[[ $(json "$T/out" 'd["errors"]') == "[]" ]] || fail "backup reported errors: $(cat "$T/out")"
stored=$(json "$T/out" 'd["counters"]["bytes_stored"]')
# 2.5 GiB of mostly repeated data must deduplicate to a few tens of MiB.
[[ $stored -lt $((200 * 1024 * 1024)) ]] || fail "big file did not deduplicate: $stored bytes stored"

log "restore + compare"
expect_exit 0 restore "$snap" --target "$T/restore" --path "$SRC"
[[ $(sha256sum "$T/restore/big.bin" | cut -d' ' -f1) == "$big_sum" ]] || fail "big.bin sha256 differs"
same_tree "$SRC" "$T/restore"

# Sparse: the restored file must not allocate much more than the source (holes kept).
src_blocks=$(stat -c %b "$SRC/sparse.img")
dst_blocks=$(stat -c %b "$T/restore/sparse.img")
apparent_blocks=$(($(stat -c %s "$SRC/sparse.img") / 512))
log "sparse.img: source $src_blocks blocks, restored $dst_blocks blocks, apparent $apparent_blocks"
# Runs of zero chunks become holes; the chunks at the six data/hole boundaries may carry
# zeros written out, at most one maximum-size chunk (2 MiB with --chunk-size 512KiB) each.
[[ $dst_blocks -le $((src_blocks + 6 * 4096)) ]] || fail "sparse file restored dense ($dst_blocks blocks)"
du_src=$(du -k "$SRC/sparse.img" | cut -f1)
du_dst=$(du -k "$T/restore/sparse.img" | cut -f1)
log "du: source $du_src KiB, restored $du_dst KiB"
[[ $du_dst -lt $((64 * 1024 / 4)) ]] || fail "du: sparse file restored as $du_dst KiB of 64 MiB"

# Hard links restored as links.
[[ $(stat -c %i "$T/restore/dir/hard-a") == $(stat -c %i "$T/restore/hard-c") ]] ||
  fail "hard links not restored"
[[ -p "$T/restore/dir/a-fifo" ]] || fail "fifo not restored"

# ls shows the unicode and long names; dump returns a file byte for byte.
expect_exit 0 ls "$snap" "$SRC/dir" --json
assert_grep "日本語のファイル名.csv" "$T/out"
assert_grep "$(printf 'a%.0s' {1..255})" "$T/out"
"$BIN" dump "$snap" "$SRC/dir/hard-a" >"$T/dumped" || fail "dump failed"
cmp "$T/dumped" "$SRC/dir/hard-a" || fail "dump output differs"

log "second backup of the unchanged tree reuses everything"
# Repeatable options take one value each, so a path after --tag is still a path.
expect_exit 0 backup files --tag nightly "$SRC" --component roundtrip --tag second --json
read_bytes=$(json "$T/out" 'd["counters"]["bytes_read"]')
unmod=$(json "$T/out" 'd["counters"]["files_unmodified"]')
[[ $read_bytes -eq 0 ]] || fail "unchanged files were re-read ($read_bytes bytes)"
[[ $unmod -gt 10 ]] || fail "expected unmodified files, got $unmod"
expect_exit 0 snapshots --json --tag nightly --tag second
[[ $(json "$T/out" '[s["tags"] for s in d]') == "[['nightly', 'second']]" ]] ||
  fail "tags not recorded: $(cat "$T/out")"

log "restore latest by prefix and with an include pattern"
expect_exit 0 restore "${snap:0:10}" --target "$T/partial" --include '*.csv'
[[ -f "$T/partial$SRC/dir/日本語のファイル名.csv" ]] || fail "--include did not restore the csv"
[[ ! -e "$T/partial$SRC/big.bin" ]] || fail "--include restored a file it should have skipped"

expect_exit 0 check --read-data
log "ok"
