# Shared helpers for the integration tests (sourced, not run: the *_test.sh files are).
# Each test gets its own temporary directory ($T) removed on exit, a cheap Argon2 cost, a
# passphrase file and a repository path ($REPO, not yet initialised).
set -euo pipefail

: "${BULWARK_BIN:?BULWARK_BIN must point at the bulwark binary}"
BIN=$BULWARK_BIN
TEST_NAME=$(basename "$0" .sh)

T=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-${TEST_NAME}.XXXXXX")
cleanup_hooks=()
cleanup() {
  local rc=$?
  for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
  # Files made unreadable or immutable by a test must not stop the cleanup.
  chmod -R u+rwX "$T" 2>/dev/null || true
  rm -rf "$T"
  if [[ $rc -ne 0 ]]; then echo "FAIL: $TEST_NAME (exit $rc)" >&2; fi
}
trap cleanup EXIT

export BULWARK_TEST_KDF=fast
export BULWARK_CACHE_DIR="$T/cache"
unset BULWARK_PASSWORD BULWARK_REPOSITORY BULWARK_OPERATOR
REPO="$T/repo"
echo "correct horse battery staple" >"$T/password"
export BULWARK_PASSWORD_FILE="$T/password"
export BULWARK_REPOSITORY="$REPO"

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }
fail() {
  printf '[%s] FAILED: %s\n' "$TEST_NAME" "$*" >&2
  exit 1
}

# bw ARGS...: runs bulwark, failing the test unless it exits 0.
bw() {
  if ! "$BIN" "$@"; then fail "bulwark $* exited with $?"; fi
}

# expect_exit CODE ARGS...: runs bulwark with stdout/stderr captured in $T/out and $T/err,
# failing the test unless it exits with CODE.
expect_exit() {
  local want=$1
  shift
  local got=0
  "$BIN" "$@" >"$T/out" 2>"$T/err" </dev/null || got=$?
  if [[ $got -ne $want ]]; then
    echo "--- stdout" >&2
    head -c 4000 "$T/out" >&2 || true
    echo "--- stderr" >&2
    head -c 4000 "$T/err" >&2 || true
    fail "bulwark $* exited with $got, expected $want"
  fi
}

# assert_grep PATTERN FILE [what]
assert_grep() {
  if ! grep -q -- "$1" "$2"; then
    echo "--- $2" >&2
    head -c 4000 "$2" >&2 || true
    fail "${3:-expected /$1/ in $2}"
  fi
}

# assert_one_line FILE: exactly one line (an error report is one line).
assert_one_line() {
  local n
  n=$(wc -l <"$1")
  if [[ $n -ne 1 ]]; then
    cat "$1" >&2
    fail "expected exactly one line in $1, got $n"
  fi
}

# json FILE EXPR: evaluates a Python expression over the JSON in FILE (bound to d).
json() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(r)' "$1" "$2"
}

# manifest DIR: one line per entry with type, mode, owner, size, mtime (ns), link target and
# content hash, sorted by path; hard links share an inode number group id. Directory sizes
# are left out (they depend on the file system's allocation history).
manifest() {
  python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
inodes = {}
out = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in sorted(dirnames + filenames):
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        rel = os.path.relpath(p, root)
        kind = stat.S_IFMT(st.st_mode)
        extra = ""
        if stat.S_ISREG(kind):
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            extra = f"size={st.st_size} sha256={h.hexdigest()}"
            if st.st_nlink > 1:
                group = inodes.setdefault((st.st_dev, st.st_ino), len(inodes))
                extra += f" hardlink-group={group} nlink={st.st_nlink}"
        elif stat.S_ISLNK(kind):
            extra = "target=" + os.readlink(p)
        mtime = "" if stat.S_ISLNK(kind) else f" mtime={st.st_mtime_ns}"
        out.append(f"{rel!r} type={kind:o} mode={stat.S_IMODE(st.st_mode):o} "
                   f"uid={st.st_uid} gid={st.st_gid}{mtime} {extra}")
for line in sorted(out):
    print(line)
PY
}

# same_tree A B: fails the test unless A and B have identical contents and metadata.
same_tree() {
  manifest "$1" >"$T/manifest.a"
  manifest "$2" >"$T/manifest.b"
  if ! diff -u "$T/manifest.a" "$T/manifest.b" >"$T/manifest.diff"; then
    head -50 "$T/manifest.diff" >&2
    fail "restored tree $2 differs from $1"
  fi
}

# random_file PATH SIZE_MIB: incompressible content.
random_file() {
  head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

# wait_for COND_CMD TIMEOUT_SECONDS: polls every 20 ms.
wait_for() {
  local deadline=$((SECONDS + $2))
  until eval "$1"; do
    if [[ $SECONDS -ge $deadline ]]; then return 1; fi
    sleep 0.02
  done
}

# snapshot_ids: IDs of all snapshots, oldest first.
snapshot_ids() {
  "$BIN" snapshots --json >"$T/snaps.json"
  json "$T/snaps.json" '"\n".join(s["id"] for s in d)'
}
