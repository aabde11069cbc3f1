#!/usr/bin/env bash
# Audit trail: every repository-changing command (init, backup, restore, check, forget, prune,
# key add, key remove) appends one record with the seed's fields, failures included; the
# operator and compliance tags come from BULWARK_OPERATOR / --compliance-tag / the config;
# `audit verify` passes, and fails with exit 4 naming the record after one audit object is
# deleted or edited.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/src"
random_file "$T/src/a.bin" 1
echo "config" >"$T/src/app.conf"
echo "second passphrase" >"$T/pass2"

bw init -q
bw backup files "$T/src" --component config -q --compliance-tag SOX --compliance-tag "MiFID II"
echo "more" >>"$T/src/app.conf"
BULWARK_OPERATOR=automated_system bw backup files "$T/src" --component config -q
bw restore latest --target "$T/r" -q
bw check -q
bw forget --component config --keep-last 1 -q
bw prune -q
bw key add --new-password-file "$T/pass2" -q
expect_exit 0 key list --json
second=$(json "$T/out" '[k["id"] for k in d if not k["current"]][0]')
expect_exit 0 snapshots --password-file "$T/pass2"
bw key remove "${second:0:12}" -q
expect_exit 5 snapshots --password-file "$T/pass2"
# A failing operation on an opened repository is recorded too.
expect_exit 1 restore 0000000000 --target "$T/r2"
printf '[audit]\ncompliance_tags = ["from-config"]\noperator = "ops-team"\n' >"$T/cfg.toml"
bw check -q --config "$T/cfg.toml"

expect_exit 0 audit log --json
cp "$T/out" "$T/log.json"
ops=$(json "$T/log.json" '" ".join(r["operation"] for r in d)')
log "operations: $ops"
[[ "$ops" == "init backup backup restore check forget prune key_add key_remove restore check" ]] ||
  fail "unexpected audit operations: $ops"
python3 - "$T/log.json" "$REPO" <<'PY' || fail "audit records are incomplete"
import json, sys
recs = json.load(open(sys.argv[1]))
need = ["timestamp", "operation", "component", "status", "duration_seconds", "backup_size",
        "checksum", "storage_location", "validated", "validation_timestamp", "operator",
        "compliance_tags"]
for i, r in enumerate(recs):
    missing = [k for k in need if k not in r]
    assert not missing, f"record {i} lacks {missing}"
    assert r["seq"] == i, f"record {i} has seq {r['seq']}"
    assert sys.argv[2] in r["storage_location"], r["storage_location"]
statuses = [r["status"] for r in recs]
assert statuses.count("failure") == 1 and statuses[9] == "failure", statuses
assert recs[1]["component"] == "config" and recs[1]["backup_size"] > 1000000, recs[1]
assert recs[1]["checksum"].startswith("sha256:"), recs[1]["checksum"]
assert recs[1]["compliance_tags"] == ["SOX", "MiFID II"], recs[1]["compliance_tags"]
assert recs[2]["operator"] == "automated_system", recs[2]["operator"]
assert "@" in recs[0]["operator"], recs[0]["operator"]
assert recs[4]["validated"] is True and recs[4]["validation_timestamp"], recs[4]
assert recs[10]["operator"] == "ops-team" and recs[10]["compliance_tags"] == ["from-config"]
assert all(r["duration_seconds"] >= 0 for r in recs)
PY

expect_exit 0 audit log
assert_grep "key_remove" "$T/out"
expect_exit 0 audit verify
assert_grep "11 records" "$T/out"

log "deleting one audit record breaks verification"
cp -a "$REPO" "$T/pristine"
victim=$(ls "$REPO/audit" | sort | sed -n 5p)
rm -f "$REPO/audit/$victim"
expect_exit 4 audit verify
assert_one_line "$T/err"
assert_grep "record 4" "$T/err"

log "editing one record breaks verification"
rm -rf "$REPO"
cp -a "$T/pristine" "$REPO"
f="$REPO/audit/$(ls "$REPO/audit" | sort | sed -n 3p)"
chmod 644 "$f"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "$f"
expect_exit 4 audit verify
assert_grep "record 2" "$T/err"

log "removing the newest record is caught by the local anchor"
rm -rf "$REPO"
cp -a "$T/pristine" "$REPO"
rm -f "$REPO/audit/$(ls "$REPO/audit" | sort | tail -1)"
expect_exit 4 audit verify
log "ok"
