#!/usr/bin/env bash
# S3 Object Lock (WORM), against a real Ceph cluster (scripts/ceph-sandbox.sh) started once
# and stopped on exit whatever happens:
#   0. refusals: --object-lock on a local repository, without --retain, with --retain 0, with
#      an unknown mode, and on an existing bucket made without object lock (all exit 2);
#   1. governance, 1 day: every object (config, key slot, packs also multipart, index,
#      snapshots, audit records) carries a retention date, lock objects do not; forget keeps the
#      locked snapshot and says until when; after an administrator removes a snapshot version
#      (governance can be bypassed with that permission), prune deletes and repacks nothing
#      locked and names what becomes deletable when; restore is bit for bit; bulwark never
#      left a delete marker;
#   2. compliance, 1 day: forget + prune delete nothing; then with the repository's own S3
#      credentials: deleting a pack version is refused (also with the governance bypass),
#      shortening its retention is refused, overwriting it leaves the locked version readable
#      unchanged, a plain DELETE only adds a delete marker; bulwark check reports the damage
#      (exit 4) and removing the attacker's version and marker recovers the repository;
#   3. compliance, 10 s: once retention has passed, forget and prune delete for real (every
#      version, no delete markers: the space is freed);
#   4. compliance, 20 s: a second backup a minute later, deduplicating against the first,
#      extends the retention of the packs it reuses past its own date; after the first date a
#      pack version still cannot be deleted, and prune (after forget) keeps the packs until the
#      extended date, which only the server knows;
#   5. a component's own object lock in the config ([components.NAME]): refused when shorter or
#      weaker than the repository's; its snapshot and every pack it uses (also packs another
#      component wrote first) are retained as long as it says; copy keeps that in the target.
source "$(dirname "$0")/lib.sh"

command -v aws >/dev/null || fail "the AWS CLI is missing (scripts/install-deps.sh installs it)"
SRC_DIR=${BULWARK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
SANDBOX="$SRC_DIR/scripts/ceph-sandbox.sh"
t_start=$(date +%s)

# --- 0a. refusals that need no cluster ------------------------------------------------------
log "refusals"
expect_exit 2 --repo "$T/local" init --object-lock compliance --retain 1
assert_grep "object lock needs an S3 repository" "$T/err"
assert_one_line "$T/err"
[[ ! -e $T/local/config ]] || fail "a local repository was created despite --object-lock"

CEPH="$T/ceph"
cleanup_hooks+=('"$SANDBOX" stop "$CEPH" 2>/dev/null')
log "starting the Ceph sandbox"
"$SANDBOX" start "$CEPH" 2>"$T/ceph-start.log" || {
  cat "$T/ceph-start.log" >&2
  fail "the Ceph sandbox did not start"
}
set -a
# shellcheck disable=SC1091
source "$CEPH/s3.env"
set +a
unset AWS_PROFILE AWS_ENDPOINT_URL_S3 AWS_SESSION_TOKEN AWS_CA_BUNDLE BULWARK_REPOSITORY
export HOME="$T/home"  # no stray ~/.aws of the machine
mkdir -p "$HOME"
log "S3 at $AWS_ENDPOINT_URL after $(($(date +%s) - t_start))s"
# Packs of 16 MiB go up as multipart uploads: their retention is set by CreateMultipartUpload.
export BULWARK_S3_MULTIPART_THRESHOLD=6MiB BULWARK_S3_PART_SIZE=5MiB

s3api() { aws --endpoint-url "$AWS_ENDPOINT_URL" --region "$AWS_REGION" s3api "$@"; }
# versions BUCKET PREFIX FIELD: how many Versions / DeleteMarkers the server has under PREFIX.
versions() {
  s3api list-object-versions --bucket "$1" --prefix "$2" --output json >"$T/versions.json"
  [[ -s $T/versions.json ]] || echo "{}" >"$T/versions.json"
  json "$T/versions.json" "len(d.get('$3') or [])"
}
# first_key BUCKET PREFIX: the first object key under PREFIX.
first_key() {
  s3api list-objects-v2 --bucket "$1" --prefix "$2" --query 'Contents[0].Key' --output text
}
# lock_of BUCKET KEY: "MODE UNTIL" of the current version (or "None None").
lock_of() {
  s3api head-object --bucket "$1" --key "$2" \
    --query '[ObjectLockMode, ObjectLockRetainUntilDate]' --output text
}

# make_corpus DIR MiB SEED: random files (a few MiB each) in a few directories.
make_corpus() {
  python3 - "$1" "$2" "$3" <<'PY'
import os, random, sys
root, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
left, i = mib << 20, 0
while left > 0:
    d = os.path.join(root, "d%d" % (i % 4))
    os.makedirs(d, exist_ok=True)
    n = min(left, rng.randint(256 << 10, 3 << 20))
    with open(os.path.join(d, "f%03d" % i), "wb") as f:
        f.write(rng.randbytes(n))
    left -= n
    i += 1
PY
}

# --- 3 (start). a short retention, finished at the end --------------------------------------
RE=s3://bulwark-lock-expire/repo
make_corpus "$T/srcE" 4 7
expect_exit 0 --repo "$RE" init --object-lock compliance --retain 10s
expect_exit 0 --repo "$RE" backup files "$T/srcE" --component e
t_expire_written=$(date +%s)
expect_exit 0 --repo "$RE" forget --keep-tag no-such-tag
assert_grep "under object lock: kept" "$T/out"
expect_exit 0 --repo "$RE" snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 1 ]] || fail "forget removed a snapshot under object lock"

# --- 4 (start). deduplicated packs are held as long as the newest backup using them ---------
RX=s3://bulwark-lock-extend/repo
make_corpus "$T/srcX" 3 11
expect_exit 0 --repo "$RX" init --object-lock compliance --retain 20s
expect_exit 0 --repo "$RX" backup files "$T/srcX" --component x
t_x1=$(date +%s)
first_packs=$(s3api list-objects-v2 --bucket bulwark-lock-extend --prefix repo/data/ \
  --query 'Contents[].Key' --output text)

# --- 0b. refusals on S3 -----------------------------------------------------------------------
expect_exit 2 --repo s3://bulwark-lock-refuse/repo init --object-lock compliance
assert_grep "needs --retain" "$T/err"
expect_exit 2 --repo s3://bulwark-lock-refuse/repo init --object-lock compliance --retain 0
assert_grep "greater than 0" "$T/err"
expect_exit 2 --repo s3://bulwark-lock-refuse/repo init --object-lock forever --retain 1
assert_grep "governance or compliance" "$T/err"
expect_exit 2 --repo s3://bulwark-lock-refuse/repo init --retain 1
s3api create-bucket --bucket bulwark-lock-plain >/dev/null
expect_exit 2 --repo s3://bulwark-lock-plain/repo init --object-lock governance --retain 1
assert_grep "has no object lock configuration" "$T/err"
assert_one_line "$T/err"
[[ $(versions bulwark-lock-plain "" Versions) -eq 0 ]] || fail "init wrote into a bucket it refused"

# --- 1. governance ----------------------------------------------------------------------------
log "governance, 1 day"
RG=s3://bulwark-lock-gov/repo
make_corpus "$T/src" 40 1
expect_exit 0 --repo "$RG" init --object-lock governance --retain 1
assert_grep "object lock: governance, 1 day" "$T/out"
s3api get-object-lock-configuration --bucket bulwark-lock-gov --output json >"$T/olc.json"
[[ $(json "$T/olc.json" 'd["ObjectLockConfiguration"]["ObjectLockEnabled"]') == Enabled ]] ||
  fail "init did not create the bucket with object lock"
expect_exit 0 --repo "$RG" backup files "$T/src" --component g
rm -rf "$T/src/d1"
make_corpus "$T/src/new" 6 2
expect_exit 0 --repo "$RG" backup files "$T/src" --component g
now=$(date +%s)
for prefix in config keys/ data/ index/ snapshots/ audit/; do
  key=$(first_key bulwark-lock-gov "repo/$prefix")
  read -r mode until < <(lock_of bulwark-lock-gov "$key")
  [[ $mode == GOVERNANCE ]] || fail "$key has lock mode '$mode'"
  u=$(date -d "$until" +%s)
  ((u > now + 86000 && u < now + 86700)) || fail "$key is retained until $until, not 1 day"
done
s3api list-objects-v2 --bucket bulwark-lock-gov --prefix repo/data/ --output json >"$T/l.json"
big_size=$(json "$T/l.json" 'max(o["Size"] for o in d["Contents"])')
big_key=$(json "$T/l.json" 'max(d["Contents"], key=lambda o: o["Size"])["Key"]')
((big_size > 6291456)) || fail "no pack was large enough for a multipart upload ($big_size bytes)"
s3api head-object --bucket bulwark-lock-gov --key "$big_key" --output json >"$T/h.json"
[[ $(json "$T/h.json" 'd.get("ObjectLockMode")') == GOVERNANCE ]] ||
  fail "the multipart pack has no retention"
[[ $(versions bulwark-lock-gov repo/locks/ Versions) -eq 0 ]] || fail "lock objects were left"

expect_exit 0 --repo "$RG" snapshots --json
old=$(json "$T/out" 'sorted(d, key=lambda s: s["time"])[0]["id"]')
expect_exit 0 --repo "$RG" forget --keep-last 1
assert_grep "snapshot ${old:0:8} is under object lock: kept, deletable from" "$T/out"
assert_grep "1 snapshot (.* MiB) is under object lock and kept; deletable from" "$T/out"
expect_exit 0 --repo "$RG" snapshots --json
[[ $(json "$T/out" 'len(d)') -eq 2 ]] || fail "forget removed a locked snapshot"
# Governance retention yields to a principal allowed to bypass it (here the bucket owner):
# the administrator's way out, and why compliance mode is what stops everyone.
v=$(s3api head-object --bucket bulwark-lock-gov --key "repo/snapshots/$old" --query VersionId \
  --output text)
s3api delete-object --bucket bulwark-lock-gov --key "repo/snapshots/$old" --version-id="$v" \
  --bypass-governance-retention >/dev/null || fail "a governance bypass was refused"
packs_before=$(versions bulwark-lock-gov repo/data/ Versions)
expect_exit 0 --repo "$RG" prune --max-unused 0 --json
cp "$T/out" "$T/prune-g.json"
[[ $(json "$T/prune-g.json" 'd["packs_deleted"] + d["packs_repacked"] + d["packs_condemned"]') -eq 0 ]] ||
  fail "prune deleted or repacked a locked pack: $(cat "$T/prune-g.json")"
[[ $(json "$T/prune-g.json" 'd["locked"]["objects"]') -gt 0 ]] || fail "prune reported no locked object"
json "$T/prune-g.json" 'd["messages"]' | grep -q "under object lock and kept; .*deletable" ||
  fail "prune did not say when the locked objects become deletable"
log "prune: $(json "$T/prune-g.json" 'd["messages"][-1]')"
[[ $(versions bulwark-lock-gov repo/data/ Versions) -eq $packs_before ]] || fail "packs changed"
expect_exit 0 --repo "$RG" prune --max-unused 0
assert_grep "under object lock and kept" "$T/out"
expect_exit 0 --repo "$RG" restore latest --target "$T/rg"
same_tree "$T/src" "$T/rg$T/src"
expect_exit 0 --repo "$RG" check --read-data
[[ $(versions bulwark-lock-gov repo/ DeleteMarkers) -eq 0 ]] || fail "bulwark left delete markers"

# --- 2. compliance: nobody can delete or alter ------------------------------------------------
log "compliance, 1 day: deleting and altering a locked pack"
RC=s3://bulwark-lock-comp/repo
expect_exit 0 --repo "$RC" init --object-lock compliance --retain 1
expect_exit 0 --repo "$RC" backup files "$T/src" --component c
expect_exit 0 --repo "$RC" forget --keep-tag no-such-tag --prune
assert_grep "under object lock: kept" "$T/out"
expect_exit 0 --repo "$RC" prune --max-unused 0 --json
[[ $(json "$T/out" 'd["packs_deleted"] + d["leftover_packs_deleted"]') -eq 0 ]] || fail "prune deleted"
expect_exit 0 --repo "$RC" restore latest --target "$T/rc1"
same_tree "$T/src" "$T/rc1$T/src"

B=bulwark-lock-comp
P=$(first_key $B repo/data/)
V=$(s3api head-object --bucket $B --key "$P" --query VersionId --output text)
s3api get-object --bucket $B --key "$P" "$T/pack.orig" >/dev/null
orig=$(sha256sum <"$T/pack.orig")
if s3api delete-object --bucket $B --key "$P" --version-id="$V" 2>"$T/aws.err"; then
  fail "a locked pack version was deleted"
fi
assert_grep "AccessDenied" "$T/aws.err"
if s3api delete-object --bucket $B --key "$P" --version-id="$V" --bypass-governance-retention \
  2>"$T/aws.err"; then
  fail "a compliance-locked pack was deleted with the governance bypass"
fi
assert_grep "AccessDenied" "$T/aws.err"
if s3api put-object-retention --bucket $B --key "$P" --version-id="$V" \
  --retention "Mode=COMPLIANCE,RetainUntilDate=$(date -u -d '+1 min' +%Y-%m-%dT%H:%M:%SZ)" \
  2>"$T/aws.err"; then
  fail "the retention of a locked pack was shortened"
fi
log "delete by version id, with the bypass, shortening retention: all refused"
head -c 1000 /dev/urandom >"$T/evil"
V2=$(s3api put-object --bucket $B --key "$P" --body "$T/evil" --query VersionId --output text)
s3api get-object --bucket $B --key "$P" --version-id="$V" "$T/pack.v" >/dev/null
[[ $(sha256sum <"$T/pack.v") == "$orig" ]] || fail "the locked version changed"
expect_exit 4 --repo "$RC" check --read-data
pid=${P##*/}
cat "$T/out" "$T/err" >"$T/check.txt"
assert_grep "${pid:0:8}" "$T/check.txt" "check --read-data does not name the overwritten pack"
log "overwritten pack: the locked version is unchanged; check --read-data exit 4 naming it"
M=$(s3api delete-object --bucket $B --key "$P" --query VersionId --output text)
[[ $(versions $B "$P" Versions) -eq 2 ]] || fail "a plain DELETE removed a version"
[[ $(versions $B "$P" DeleteMarkers) -eq 1 ]] || fail "a plain DELETE left no delete marker"
expect_exit 4 --repo "$RC" check
cat "$T/out" "$T/err" >"$T/check.txt"
assert_grep "${pid:0:8}" "$T/check.txt" "check does not name the hidden pack"
log "pack behind a delete marker: check exit 4 naming it"
# Recovery: remove what the attacker added (neither is locked); the locked version is current.
s3api delete-object --bucket $B --key "$P" --version-id="$M" >/dev/null
s3api delete-object --bucket $B --key "$P" --version-id="$V2" >/dev/null
expect_exit 0 --repo "$RC" check --read-data
expect_exit 0 --repo "$RC" restore latest --target "$T/rc2"
same_tree "$T/src" "$T/rc2$T/src"
log "recovered by deleting the attacker's version and the delete marker"

# --- 5. a component's own object lock, from the config --------------------------------------
log "per-component object lock from the config"
RP=s3://bulwark-lock-percomp/repo
cat >"$T/components.toml" <<'TOML'
[components.trades]
object_lock = "compliance"
retain = 3
[components.weak]
object_lock = "governance"
retain = 5
[components.short]
object_lock = "compliance"
retain = "1h"
TOML
make_corpus "$T/srcP" 5 21
expect_exit 0 --repo "$RP" init --object-lock compliance --retain 1
for c in weak short; do
  expect_exit 2 --repo "$RP" --config "$T/components.toml" backup files "$T/srcP" --component $c
  assert_one_line "$T/err"
done
assert_grep "shorter than the repository's (compliance, 1 day)" "$T/err"
expect_exit 2 --repo "$RP" --config "$T/components.toml" backup files "$T/srcP" --component weak
assert_grep "weaker than the repository's" "$T/err"
[[ $(versions bulwark-lock-percomp repo/snapshots/ Versions) -eq 0 ]] || fail "a refused backup wrote"
# A component without settings first; then trades deduplicates against its packs.
expect_exit 0 --repo "$RP" --config "$T/components.toml" backup files "$T/srcP" --component other
expect_exit 0 --repo "$RP" --config "$T/components.toml" backup files "$T/srcP" --component trades
now=$(date +%s)
expect_exit 0 --repo "$RP" snapshots --json
# retention BUCKET KEY: "MODE DAYS", the whole days of retention left.
retention() {
  read -r mode until < <(lock_of "$1" "$2")
  echo "$mode $((($(date -d "$until" +%s) - now + 3600) / 86400))"
}
# snapshot_retentions BUCKET: the snapshots listed in $T/out are retained 1 day (other), 3 (trades).
snapshot_retentions() {
  local c id want got
  for c in other trades; do
    id=$(json "$T/out" "[s['id'] for s in d if s['component'] == '$c'][0]")
    want="COMPLIANCE 1"
    [[ $c == trades ]] && want="COMPLIANCE 3"
    got=$(retention "$1" "repo/snapshots/$id")
    [[ $got == "$want" ]] || fail "the snapshot of $c in $1 is retained '$got', not '$want' days"
  done
}
snapshot_retentions bulwark-lock-percomp
for key in $(s3api list-objects-v2 --bucket bulwark-lock-percomp --prefix repo/data/ \
  --query 'Contents[].Key' --output text); do
  read -r mode days <<<"$(retention bulwark-lock-percomp "$key")"
  [[ $mode == COMPLIANCE ]] && ((days >= 3)) ||
    fail "pack $key, used by trades, is retained $mode $days days, not 3"
done
log "a component's snapshot and the packs it uses are retained as its config says"
# copy carries the component's lock into the target as well.
RP2=s3://bulwark-lock-percomp2/repo
expect_exit 0 --repo "$RP2" init --object-lock compliance --retain 1 --from-repo "$RP"
expect_exit 0 --repo "$RP2" --config "$T/components.toml" copy --from "$RP" --json
[[ $(json "$T/out" 'd["snapshots_copied"]') -eq 2 ]] || fail "copy did not copy both snapshots"
[[ $(json "$T/out" 'd["snapshots_skipped"]') -eq 0 ]] || fail "copy counted its own pass as skipped"
expect_exit 0 --repo "$RP2" snapshots --json
snapshot_retentions bulwark-lock-percomp2
expect_exit 0 --repo "$RP2" restore latest --component trades --target "$T/rp"
same_tree "$T/srcP" "$T/rp$T/srcP"
log "copy keeps each component's retention in the target"

# --- 4 (middle). the second backup, more than a minute after the first (a pack is extended
# when it falls short of the new snapshot's date by more than 1% of the retention, at least
# 60 s, so that a backup's own fresh packs are not) --------------------------------------------
now=$(date +%s)
((now < t_x1 + 62)) && sleep $((t_x1 + 62 - now))
expect_exit 0 --repo "$RX" backup files "$T/srcX" --component x
t_x2=$(date +%s)
for key in $first_packs; do
  read -r mode until <<<"$(lock_of bulwark-lock-extend "$key")"
  u=$(date -d "$until" +%s)
  ((u >= t_x2 + 20)) || fail "reused pack $key is retained until $until, before the second backup's"
done
log "the packs the second backup reuses are retained at least as long as it"

# --- 3 (end). after the retention, deletion is real -------------------------------------------
wait_until=$((t_expire_written + 10 + 62))
now=$(date +%s)
((now < wait_until)) && { log "waiting $((wait_until - now))s for the 10 s retention (+60 s margin)"; sleep $((wait_until - now)); }
expect_exit 0 --repo "$RE" forget --keep-tag no-such-tag
assert_grep "removed 1 snapshot" "$T/out"
expect_exit 0 --repo "$RE" prune --json
[[ $(json "$T/out" 'd["packs_deleted"]') -gt 0 ]] || fail "prune deleted nothing after the retention"
for prefix in data/ snapshots/ locks/; do
  [[ $(versions bulwark-lock-expire "repo/$prefix" Versions) -eq 0 ]] ||
    fail "versions left under $prefix after the retention: the space is not freed"
done
[[ $(versions bulwark-lock-expire repo/ DeleteMarkers) -eq 0 ]] || fail "delete markers left"
expect_exit 0 --repo "$RE" check
log "after the retention: snapshot and packs deleted with every version"

# --- 4 (end). past the first backup's date (and prune's own estimate from it) ----------------
now=$(date +%s)
((now < t_x1 + 20 + 62)) && sleep $((t_x1 + 20 + 62 - now))
# A pack of the first backup, which the second extended (one the second wrote itself may
# expire about now).
read -r P _ <<<"$first_packs"
V=$(s3api head-object --bucket bulwark-lock-extend --key "$P" --query VersionId --output text)
if s3api delete-object --bucket bulwark-lock-extend --key "$P" --version-id "$V" \
  >/dev/null 2>"$T/del.err"; then
  fail "a reused pack was deletable after its first retention date"
fi
assert_grep "AccessDenied" "$T/del.err"
expect_exit 0 --repo "$RX" forget --keep-tag no-such-tag
expect_exit 0 --repo "$RX" prune --json
[[ $(json "$T/out" 'd["packs_deleted"]') -eq 0 ]] || fail "prune deleted a held pack"
[[ $(json "$T/out" 'd["locked"]["objects"]') -gt 0 ]] || fail "prune did not report the held packs"
expect_exit 0 --repo "$RX" check
log "a reused pack stays locked past its first date; prune keeps it until the extended one"
log "passed in $(($(date +%s) - t_start))s"
