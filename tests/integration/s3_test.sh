#!/usr/bin/env bash
# The S3 suite, against a real Ceph cluster (scripts/ceph-sandbox.sh: 1 mon, 3 OSDs, radosgw
# on loopback) started once for all scenarios, and stopped on exit whatever happens:
#   1. the S3Backend tests (bulwark_s3_live_tests) against the cluster, one of
#      them through a fault proxy that rejects a multipart part (the upload must be aborted);
#   2. the CLI on s3://bucket/prefix with only AWS_* variables: init creates the bucket,
#      backup, restore (bit for bit), check --read-data, a second backup, forget --prune,
#      prune, check and restore again; multipart packs (small threshold) and no orphan parts;
#      then `copy` from a local repository into S3 (init --from-repo), restored bit for bit;
#   3. a wrong secret key: exit 1, one line naming the signature, no retry storm (timed, and
#      at most 2 requests);
#   4. kill -9 of one OSD in the middle of a backup (after its first pack landed, while it still
#      runs): it completes, check --read-data passes;
#   5. radosgw killed and restarted in the middle of a backup: it completes after retries or
#      fails cleanly, a re-run completes, restore is bit for bit;
#   6. a fault proxy (503 SlowDown, resets before and after the server acted, stalls): backups
#      and restores complete bit for bit, and the faults really happened;
#   7. lost answers to CreateMultipartUpload: the orphaned uploads are aborted;
#   8. storage classes per object type (packs in the sandbox's COLD class, the rest in
#      STANDARD; restore bit for bit), `s3-lifecycle --apply` beside a foreign rule (kept
#      verbatim; a second run changes nothing), prune aborting a stale multipart upload under
#      the prefix (and only there), and GLACIER refused with exit 2.
source "$(dirname "$0")/lib.sh"

command -v aws >/dev/null || fail "the AWS CLI is missing (scripts/install-deps.sh installs it)"
SRC_DIR=${BULWARK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SANDBOX="$SRC_DIR/scripts/ceph-sandbox.sh"
PROXY="$SRC_DIR/scripts/s3-faultproxy.py"
TESTS_BIN=${BULWARK_BUILD_DIR:+$BULWARK_BUILD_DIR/bulwark_s3_live_tests}
t_start=$(date +%s)

CEPH="$T/ceph"
proxy_pids=()
stop_all() {
  for p in "${proxy_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$SANDBOX" stop "$CEPH" 2>/dev/null || true
}
cleanup_hooks+=("stop_all")

log "starting the Ceph sandbox"
"$SANDBOX" start "$CEPH" 2>"$T/ceph-start.log" || {
  cat "$T/ceph-start.log" >&2
  fail "the Ceph sandbox did not start"
}
set -a
# shellcheck disable=SC1091
source "$CEPH/s3.env"
set +a
unset AWS_PROFILE AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_CA_BUNDLE
export HOME="$T/home"  # no stray ~/.aws of the machine
mkdir -p "$HOME"
GOOD_ENDPOINT=$AWS_ENDPOINT_URL
log "S3 at $GOOD_ENDPOINT after $(($(date +%s) - t_start))s"

# start_proxy NAME ARGS...: starts the fault proxy in front of radosgw; sets PROXY_URL.
start_proxy() {
  local name=$1
  shift
  rm -f "$T/$name.port"
  python3 "$PROXY" --upstream "$GOOD_ENDPOINT" --port-file "$T/$name.port" \
    --log "$T/$name.faults" --lifetime 1800 "$@" &
  proxy_pids+=($!)
  for _ in $(seq 1 100); do [[ -s $T/$name.port ]] && break; sleep 0.1; done
  [[ -s $T/$name.port ]] || fail "fault proxy $name did not start"
  PROXY_URL="http://127.0.0.1:$(cat "$T/$name.port")"
}

# pending_uploads BUCKET: number of unfinished multipart uploads, asked of the server (AWS CLI).
pending_uploads() {
  local out
  out=$(aws --endpoint-url "$GOOD_ENDPOINT" --region "$AWS_REGION" s3api list-multipart-uploads \
    --bucket "$1" --output json) || fail "aws s3api list-multipart-uploads failed"
  [[ -z $out ]] && out="{}"
  python3 -c 'import json,sys; print(len(json.loads(sys.argv[1]).get("Uploads") or []))' "$out"
}

# has_pack BUCKET: whether repo/data/ of BUCKET holds an object yet (a signed ListObjectsV2 by
# curl, the credentials read from stdin so they never appear in argv).
has_pack() {
  printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
    curl -s -K - --max-time 5 --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
      -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
      "$GOOD_ENDPOINT/$1?list-type=2&max-keys=1&prefix=repo%2Fdata%2F" | grep -q "<Key>"
}

# in_mid_backup BUCKET PID: waits until the backup PID has uploaded its first pack, failing the
# test if it ends first (a fault injected after the backup would prove nothing).
in_mid_backup() {
  for _ in $(seq 1 600); do
    has_pack "$1" && break
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$2" 2>/dev/null || fail "the backup ended before the fault could be injected"
  has_pack "$1" || fail "the backup uploaded no pack within 60s"
}

# make_corpus DIR MiB SEED: random (incompressible) and text files, one larger file.
make_corpus() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, random, sys
root, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
os.makedirs(root, exist_ok=True)
total = mib << 20
big = total // 2
with open(os.path.join(root, "big.bin"), "wb") as f:
    f.write(rng.randbytes(big))
left, i = total - big, 0
while left > 0:
    d = os.path.join(root, "d%02d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    n = min(left, rng.randint(1, 2 << 20))
    with open(os.path.join(d, "f%04d" % i), "wb") as f:
        if i % 3 == 0:
            f.write((("line %d of file %d: " % (i, i)) + "x" * 40 + "\n").encode() * (n // 60 + 1))
        else:
            f.write(rng.randbytes(n))
    left -= n
    i += 1
PY
}

# --- 1. backend unit tests against the cluster -------------------------------------------
if [[ -n ${TESTS_BIN:-} && -x $TESTS_BIN ]]; then
  start_proxy reject --reject-part 2
  log "S3Backend unit tests against the cluster"
  BULWARK_TEST_S3_ENV="$CEPH/s3.env" BULWARK_TEST_S3_REJECTING_PROXY="$PROXY_URL" \
    "$TESTS_BIN" --gtest_brief=1 >"$T/gtest.log" 2>&1 || {
    tail -40 "$T/gtest.log" >&2
    fail "S3 unit tests failed"
  }
  grep -q "SKIPPED" "$T/gtest.log" && { grep SKIPPED "$T/gtest.log" >&2; fail "S3 unit tests skipped"; }
  tail -1 "$T/gtest.log" >&2
else
  fail "bulwark_s3_live_tests not found (BULWARK_BUILD_DIR=${BULWARK_BUILD_DIR:-unset})"
fi

# --- 2. the CLI on S3 ----------------------------------------------------------------------
export BULWARK_S3_MULTIPART_THRESHOLD=6MiB BULWARK_S3_PART_SIZE=5MiB
unset BULWARK_REPOSITORY
R=s3://bulwark-cli/repo
make_corpus "$T/src" 48 1
log "init (creates the bucket)"
expect_exit 0 --repo "$R" init
assert_grep "created repository" "$T/out"
expect_exit 1 --repo "$R" init
log "backup"
t0=$(date +%s.%N)
expect_exit 0 --repo "$R" backup files "$T/src" --component files
t_backup=$(echo "$(date +%s.%N) - $t0" | bc)
expect_exit 0 --repo "$R" snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 1 ]] || fail "expected one snapshot"
log "restore and compare"
t0=$(date +%s.%N)
expect_exit 0 --repo "$R" restore latest --target "$T/r1"
t_restore=$(echo "$(date +%s.%N) - $t0" | bc)
same_tree "$T/src" "$T/r1$T/src"
log "check --read-data"
expect_exit 0 --repo "$R" check --read-data
log "second backup, forget --prune, prune, check, restore"
make_corpus "$T/src/more" 8 2
rm -rf "$T/src/d03"
expect_exit 0 --repo "$R" backup files "$T/src" --component files
expect_exit 0 --repo "$R" forget --component files --keep-last 1 --prune
expect_exit 0 --repo "$R" prune
expect_exit 0 --repo "$R" snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 1 ]] || fail "forget kept more than one snapshot"
expect_exit 0 --repo "$R" check --read-data
expect_exit 0 --repo "$R" restore latest --target "$T/r2"
same_tree "$T/src" "$T/r2$T/src"
n=$(pending_uploads bulwark-cli)
[[ $n == 0 ]] || fail "$n multipart uploads left pending"
mib=$(du -sm "$T/src" | cut -f1)
log "S3 CLI: backup of ${mib} MiB took ${t_backup}s, restore ${t_restore}s"

log "copy: a local repository to S3 (init --from-repo, copy twice, restore from S3)"
L="$T/local-repo"
expect_exit 0 --repo "$L" init
make_corpus "$T/csrc" 6 3
expect_exit 0 --repo "$L" backup files "$T/csrc" --component copied
RC=s3://bulwark-copy/repo
expect_exit 0 --repo "$RC" init --from-repo "$L"
expect_exit 0 --repo "$RC" copy --from "$L" --json
[[ $(json "$T/out" 'd["snapshots_copied"]') == 1 ]] || fail "copy to S3: $(cat "$T/out")"
expect_exit 0 --repo "$RC" copy --from "$L" --json
[[ $(json "$T/out" 'd["chunks_copied"]') == 0 ]] || fail "second copy to S3 transferred chunks"
expect_exit 0 --repo "$RC" restore latest --target "$T/rc"
same_tree "$T/csrc" "$T/rc$T/csrc"

# --- 3. wrong secret key -------------------------------------------------------------------
log "wrong secret key"
t0=$(date +%s.%N)
AWS_SECRET_ACCESS_KEY="wrong-$AWS_SECRET_ACCESS_KEY" expect_exit 1 --repo "$R" snapshots
dt=$(echo "$(date +%s.%N) - $t0" | bc)
assert_grep "signature does not match" "$T/err"
assert_one_line "$T/err"
grep -q -- "$AWS_SECRET_ACCESS_KEY" "$T/err" && fail "the secret key appears in the error"
(($(echo "$dt < 5" | bc))) || fail "wrong key took ${dt}s (a retry storm?)"
log "wrong secret key: exit 1 in ${dt}s"
AWS_SECRET_ACCESS_KEY="wrong-$AWS_SECRET_ACCESS_KEY" BULWARK_S3_DEBUG=1 \
  "$BIN" --repo "$R" snapshots >/dev/null 2>"$T/dbg" || true
reqs=$(grep -c '^s3: ' "$T/dbg" || true)
[[ $reqs -le 2 ]] || fail "wrong key made $reqs requests (expected at most 2)"

# --- 4. kill -9 of one OSD in the middle of a backup ----------------------------------------
log "kill -9 of osd.2 during a backup"
make_corpus "$T/src2" 96 3
R2=s3://bulwark-osd/repo
expect_exit 0 --repo "$R2" init
"$BIN" --repo "$R2" backup files "$T/src2" --component osd >"$T/osd.out" 2>"$T/osd.err" &
bpid=$!
in_mid_backup bulwark-osd "$bpid"
"$SANDBOX" kill-osd "$CEPH" 2
kill -0 "$bpid" 2>/dev/null || fail "the backup ended before osd.2 was killed"
rc=0
wait "$bpid" || rc=$?
[[ $rc -eq 0 ]] || { cat "$T/osd.err" >&2; fail "backup with a killed OSD exited $rc"; }
expect_exit 0 --repo "$R2" check --read-data
expect_exit 0 --repo "$R2" restore latest --target "$T/r3"
same_tree "$T/src2" "$T/r3$T/src2"
"$SANDBOX" start-osd "$CEPH" 2
log "backup with osd.2 killed completed; check and restore passed"

# --- 5. radosgw killed and restarted in the middle of a backup ------------------------------
log "radosgw killed and restarted during a backup"
R3=s3://bulwark-rgw/repo
expect_exit 0 --repo "$R3" init
BULWARK_S3_DEADLINE=120 "$BIN" --repo "$R3" backup files "$T/src2" --component rgw \
  >"$T/rgw.out" 2>"$T/rgw.err" &
bpid=$!
in_mid_backup bulwark-rgw "$bpid"
"$SANDBOX" kill-rgw "$CEPH"
kill -0 "$bpid" 2>/dev/null || fail "the backup ended before radosgw was killed"
sleep 4
"$SANDBOX" start-rgw "$CEPH" 2>/dev/null
rc=0
wait "$bpid" || rc=$?
if [[ $rc -ne 0 ]]; then
  log "backup across the radosgw restart exited $rc: $(tail -1 "$T/rgw.err")"
  [[ $rc -eq 1 ]] || fail "unexpected exit code $rc"
  [[ $(wc -l <"$T/rgw.err") -le 3 ]] || fail "unclean failure output"
else
  log "backup across the radosgw restart completed after retries"
fi
expect_exit 0 --repo "$R3" backup files "$T/src2" --component rgw
expect_exit 0 --repo "$R3" check --read-data
expect_exit 0 --repo "$R3" restore latest --target "$T/r4"
same_tree "$T/src2" "$T/r4$T/src2"

# --- 6. a fault-injecting proxy ------------------------------------------------------------
log "backup and restore through a fault proxy"
start_proxy faults --slowdown 0.05 --reset 0.03 --reset-after 0.03 --stall 0.05 \
  --stall-seconds 10 --seed 42
export AWS_ENDPOINT_URL=$PROXY_URL BULWARK_S3_STALL_TIMEOUT=3 BULWARK_S3_BACKOFF_CAP=1
R4=s3://bulwark-faults/repo
expect_exit 0 --repo "$R4" init
expect_exit 0 --repo "$R4" backup files "$T/src" --component faults
expect_exit 0 --repo "$R4" backup files "$T/src2" --component faults2
expect_exit 0 --repo "$R4" restore latest --target "$T/r5"
same_tree "$T/src2" "$T/r5$T/src2"
expect_exit 0 --repo "$R4" check --read-data
for kind in slowdown reset reset-after stall; do
  c=$(grep -c " $kind " "$T/faults.faults" || true)
  log "fault proxy: $c x $kind"
  [[ $c -gt 0 ]] || fail "the proxy injected no $kind fault"
done
export AWS_ENDPOINT_URL=$GOOD_ENDPOINT
expect_exit 0 --repo "$R4" check --read-data
n=$(pending_uploads bulwark-faults)
[[ $n == 0 ]] || fail "$n multipart uploads left pending after faults"

# --- 7. lost answers to CreateMultipartUpload ---------------------------------------------
# The server starts an upload whose id never reaches the client (which, or libcurl on its
# own, asks again): the orphan must be found and aborted, not left to cost storage.
log "lost CreateMultipartUpload answers"
start_proxy lostcreate --reset-after-create 3
export AWS_ENDPOINT_URL=$PROXY_URL
R5=s3://bulwark-lostcreate/repo
expect_exit 0 --repo "$R5" init
expect_exit 0 --repo "$R5" backup files "$T/src2" --component lost
export AWS_ENDPOINT_URL=$GOOD_ENDPOINT
c=$(grep -c " reset-after-create " "$T/lostcreate.faults" || true)
[[ $c -eq 3 ]] || fail "the proxy lost $c CreateMultipartUpload answers, expected 3"
expect_exit 0 --repo "$R5" check --read-data
n=$(pending_uploads bulwark-lostcreate)
[[ $n == 0 ]] || fail "$n multipart uploads left pending after lost CreateMultipartUpload answers"

# --- 8. storage classes, lifecycle rules, stale multipart uploads ---------------------------
t8=$(date +%s)
s3api() { aws --endpoint-url "$GOOD_ENDPOINT" --region "$AWS_REGION" s3api "$@"; }
log "storage classes per object type: packs in COLD"
CFG="$T/classes.toml"
cat >"$CFG" <<'TOML'
[s3]
abort_incomplete_upload_days = 3

[s3.storage_class]
data = "COLD"

[s3.transition]
index = { days = 30, class = "COLD" }
snapshots = { days = 60, class = "COLD" }
TOML
R6=s3://bulwark-classes/repo
make_corpus "$T/src6" 12 6
expect_exit 0 --config "$CFG" --repo "$R6" init
expect_exit 0 --config "$CFG" --repo "$R6" backup files "$T/src6" --component classes
s3api list-objects-v2 --bucket bulwark-classes --prefix repo/ --output json >"$T/objects.json" ||
  fail "list-objects-v2 failed"
# Every object's class as the listing reports it: packs COLD, nothing else.
python3 - "$T/objects.json" <<'PY' || fail "storage classes in the listing are wrong"
import json, sys
objs = json.load(open(sys.argv[1]))["Contents"]
bad = [(o["Key"], o.get("StorageClass")) for o in objs
       if (o.get("StorageClass") == "COLD") != o["Key"].startswith("repo/data/")]
packs = [o for o in objs if o["Key"].startswith("repo/data/")]
print(f"{len(packs)} packs in COLD, {len(objs) - len(packs)} other objects not", file=sys.stderr)
if bad: print(f"wrong class: {bad}", file=sys.stderr)
sys.exit(1 if bad or not packs else 0)
PY
pack=$(json "$T/objects.json" '[o["Key"] for o in d["Contents"] if o["Key"].startswith("repo/data/")][0]')
index=$(json "$T/objects.json" '[o["Key"] for o in d["Contents"] if o["Key"].startswith("repo/index/")][0]')
# (each AWS CLI call costs ~2 s of Python start-up: independent ones run side by side)
s3api head-object --bucket bulwark-classes --key "$pack" --output json >"$T/head-pack.json" &
hp=$!
s3api head-object --bucket bulwark-classes --key "$index" --output json >"$T/head-index.json" ||
  fail "HEAD of $index failed"
wait $hp || fail "HEAD of $pack failed"
[[ $(json "$T/head-pack.json" 'd.get("StorageClass")') == COLD ]] ||
  fail "HEAD of pack $pack: $(cat "$T/head-pack.json")"
[[ $(json "$T/head-index.json" 'd.get("StorageClass", "STANDARD")') == STANDARD ]] ||
  fail "HEAD of index $index shows a storage class: $(cat "$T/head-index.json")"
expect_exit 0 --config "$CFG" --repo "$R6" restore latest --target "$T/r6"
same_tree "$T/src6" "$T/r6$T/src6"

log "s3-lifecycle beside a foreign rule"
cat >"$T/foreign.json" <<'JSON'
{"Rules": [{"ID": "foreign-expire", "Filter": {"Prefix": "other/"}, "Status": "Enabled",
            "Expiration": {"Days": 90}}]}
JSON
s3api put-bucket-lifecycle-configuration --bucket bulwark-classes \
  --lifecycle-configuration "file://$T/foreign.json" || fail "could not put the foreign rule"
expect_exit 0 --config "$CFG" --repo "$R6" s3-lifecycle --json
[[ $(json "$T/out" 'd["up_to_date"], len(d["current"]), len(d["wanted"]), d["other_rules"]') == \
  "(False, 0, 3, ['foreign-expire'])" ]] || fail "s3-lifecycle (show): $(cat "$T/out")"
expect_exit 0 --config "$CFG" --repo "$R6" s3-lifecycle --apply
assert_grep "applied" "$T/out"
s3api get-bucket-lifecycle-configuration --bucket bulwark-classes --output json >"$T/lc1.json"
python3 - "$T/foreign.json" "$T/lc1.json" <<'PY' || fail "lifecycle after --apply: $(cat "$T/lc1.json")"
import json, sys
before = {r["ID"]: r for r in json.load(open(sys.argv[1]))["Rules"]}
after = {r["ID"]: r for r in json.load(open(sys.argv[2]))["Rules"]}
assert after["foreign-expire"] == before["foreign-expire"], "the foreign rule changed"
want = {
    "bulwark-index:repo": ("repo/index/", {"Days": 30, "StorageClass": "COLD"}),
    "bulwark-snapshots:repo": ("repo/snapshots/", {"Days": 60, "StorageClass": "COLD"}),
}
for rid, (prefix, tr) in want.items():
    r = after[rid]
    assert r["Filter"]["Prefix"] == prefix and r["Status"] == "Enabled", r
    assert r["Transitions"] == [tr], r
a = after["bulwark-abort-incomplete-uploads:repo"]
assert a["Filter"]["Prefix"] == "repo/", a
assert a["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}, a
assert set(after) == {"foreign-expire", *want, "bulwark-abort-incomplete-uploads:repo"}, after
PY
expect_exit 0 --config "$CFG" --repo "$R6" s3-lifecycle --apply --json
[[ $(json "$T/out" 'd["up_to_date"], d["applied"]') == "(True, False)" ]] ||
  fail "a second s3-lifecycle --apply was not a no-op: $(cat "$T/out")"
s3api get-bucket-lifecycle-configuration --bucket bulwark-classes --output json >"$T/lc2.json"
cmp -s "$T/lc1.json" "$T/lc2.json" || fail "a second s3-lifecycle --apply changed the rules"

log "prune aborts stale multipart uploads under the prefix"
s3api create-multipart-upload --bucket bulwark-classes --key repo/data/ff/killed-upload \
  --output json >/dev/null &
cp=$!
s3api create-multipart-upload --bucket bulwark-classes --key other/upload --output json \
  >"$T/other-upload.json" || fail "create-multipart-upload failed"
wait $cp || fail "create-multipart-upload failed"
expect_exit 0 --config "$CFG" --repo "$R6" prune --json
[[ $(json "$T/out" 'd["stale_uploads_aborted"]') == 0 ]] ||
  fail "prune aborted an upload younger than a day: $(cat "$T/out")"
BULWARK_S3_STALE_UPLOAD_SECONDS=0 expect_exit 0 --config "$CFG" --repo "$R6" prune
assert_grep "aborted 1 stale multipart upload" "$T/out"
# None left under the prefix; the one outside it untouched.
s3api list-multipart-uploads --bucket bulwark-classes --output json >"$T/mpu.json"
[[ $(json "$T/mpu.json" '[u["Key"] for u in d.get("Uploads") or []]') == "['other/upload']" ]] ||
  fail "multipart uploads after prune: $(cat "$T/mpu.json")"
s3api abort-multipart-upload --bucket bulwark-classes --key other/upload \
  --upload-id "$(json "$T/other-upload.json" 'd["UploadId"]')" || fail "abort failed"

log "classes that need a restore request are refused"
printf '[s3.storage_class]\ndata = "GLACIER"\n' >"$T/glacier.toml"
expect_exit 2 --config "$T/glacier.toml" --repo "$R6" snapshots
assert_grep "GLACIER is refused" "$T/err"
printf '[s3.transition]\ndata = { days = 30, class = "DEEP_ARCHIVE" }\n' >"$T/deep.toml"
expect_exit 2 --config "$T/deep.toml" --repo "$R6" s3-lifecycle
assert_grep "DEEP_ARCHIVE is refused" "$T/err"
BULWARK_S3_STORAGE_CLASS=GLACIER_FLEXIBLE_RETRIEVAL expect_exit 2 --repo "$R6" snapshots
assert_grep "GLACIER_FLEXIBLE_RETRIEVAL is refused" "$T/err"
log "storage classes, lifecycle and stale uploads passed in $(($(date +%s) - t8))s"

log "S3 suite passed in $(($(date +%s) - t_start))s"
