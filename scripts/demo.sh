#!/usr/bin/env bash
# `make run`: a short, self-checking tour of Bulwark on the embedded default repository.
#
# Everything lives under ./.bulwark/ in the checkout (ignored by git):
#   repo/      the repository (created on the first run)
#   password   a random passphrase (mode 0600, created once)
#   sample/    a generated sample tree (trading-like CSV, JSON configs, a binary file,
#              a symlink, an empty directory and an empty file)
#   cache/     Bulwark's local audit anchor
# Each run backs the sample up, changes it, backs it up again (showing deduplication),
# restores the latest snapshot into a temporary directory, verifies it is identical (content
# and metadata), checks the repository with --read-data and verifies the audit trail.
# Re-running is safe: the repository and passphrase are reused.
set -euo pipefail

BIN=${1:-build/bulwark}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[[ "$BIN" = /* ]] || BIN="$ROOT/$BIN"
if [[ ! -x "$BIN" ]]; then
  echo "demo: $BIN is not built (run \`make run\`)" >&2
  exit 1
fi

STATE="$ROOT/.bulwark"
REPO="$STATE/repo"
PASSWORD="$STATE/password"
SAMPLE="$STATE/sample"
mkdir -p "$STATE"
chmod 700 "$STATE"

export BULWARK_REPOSITORY="$REPO"
export BULWARK_PASSWORD_FILE="$PASSWORD"
export BULWARK_CACHE_DIR="$STATE/cache"
unset BULWARK_PASSWORD

bold() { if [[ -t 1 ]]; then printf '\n\033[1m== %s\033[0m\n' "$*"; else printf '\n== %s\n' "$*"; fi; }
json_get() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {"d": d}))' "$1"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bulwark-demo.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- passphrase -------------------------------------------------------------------------
if [[ ! -s "$PASSWORD" ]]; then
  (umask 077 && head -c 24 /dev/urandom | base64 >"$PASSWORD")
  echo "demo: created a random passphrase in .bulwark/password"
fi
chmod 600 "$PASSWORD"

# --- sample tree ------------------------------------------------------------------------
if [[ ! -d "$SAMPLE" ]]; then
  bold "Generating a sample tree in .bulwark/sample"
  mkdir -p "$SAMPLE"
  python3 - "$SAMPLE" <<'PY'
import json, os, random, sys
root = sys.argv[1]
rnd = random.Random(20261124)
os.makedirs(f"{root}/market-data/2026-11", exist_ok=True)
os.makedirs(f"{root}/config/strategies", exist_ok=True)
os.makedirs(f"{root}/state/empty-queue", exist_ok=True)
symbols = ["AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOG", "META", "JPM", "XOM", "BRK.B"]
for day in range(20, 25):
    with open(f"{root}/market-data/2026-11/trades-2026-11-{day}.csv", "w") as f:
        f.write("timestamp,symbol,side,price,quantity,venue,order_id\n")
        t = 1795996800 + (day - 20) * 86400
        # The last day is the big one: appending to it later shows chunk-level dedup.
        for i in range(60000 if day == 24 else 12000):
            t += rnd.random() * 2
            f.write(f"{t:.6f},{rnd.choice(symbols)},{rnd.choice('BS')},"
                    f"{100 + rnd.random() * 400:.4f},{rnd.randint(1, 5000)},"
                    f"{rnd.choice(['XNAS', 'XNYS', 'BATS', 'IEXG'])},{rnd.getrandbits(48):012x}\n")
for name in ["momentum", "mean-reversion", "market-making"]:
    cfg = {"strategy": name, "enabled": True, "max_position": rnd.randint(1000, 100000),
           "symbols": rnd.sample(symbols, 4), "risk": {"max_drawdown": 0.02, "var_99": 250000}}
    with open(f"{root}/config/strategies/{name}.json", "w") as f:
        json.dump(cfg, f, indent=2)
with open(f"{root}/config/platform.json", "w") as f:
    json.dump({"environment": "demo", "gateways": ["fix-a", "fix-b"], "log_level": "info"}, f,
              indent=2)
with open(f"{root}/state/orderbook.bin", "wb") as f:
    f.write(os.urandom(1536 * 1024))
open(f"{root}/state/heartbeat", "w").close()
os.symlink("config/platform.json", f"{root}/current-config")
os.chmod(f"{root}/config/platform.json", 0o640)
os.chmod(f"{root}/state/orderbook.bin", 0o600)
PY
  du -sh "$SAMPLE" | awk '{print "demo: sample tree is " $1}'
fi

# --- repository -------------------------------------------------------------------------
set +e
"$BIN" snapshots -q >/dev/null 2>"$WORK/probe.err"
probe=$?
set -e
if [[ $probe -eq 7 ]]; then
  bold "Creating the repository in .bulwark/repo"
  "$BIN" init
elif [[ $probe -ne 0 ]]; then
  cat "$WORK/probe.err" >&2
  echo "demo: cannot open the repository in .bulwark/repo (exit $probe)" >&2
  exit 1
else
  echo "demo: using the existing repository in .bulwark/repo"
fi

# --- first backup -----------------------------------------------------------------------
bold "Backup 1: the sample tree (component \"sample\")"
"$BIN" backup files "$SAMPLE" --component sample --tag demo --json >"$WORK/b1.json"
snap1=$(json_get 'd["snapshot"]' <"$WORK/b1.json")
b1_total=$(json_get 'd["counters"]["bytes_total"]' <"$WORK/b1.json")
b1_added=$(json_get 'd["counters"]["bytes_added"]' <"$WORK/b1.json")
echo "snapshot ${snap1:0:8}: $b1_total bytes in the tree, $b1_added bytes newly stored"

# --- change something and back up again -------------------------------------------------
bold "Changing the sample: new trades appended, a strategy config edited"
python3 - "$SAMPLE" <<'PY'
import json, os, random, sys, time
root = sys.argv[1]
path = f"{root}/market-data/2026-11/trades-2026-11-24.csv"
with open(path, "a") as f:
    for i in range(200):
        f.write(f"{time.time():.6f},NVDA,B,{400 + random.random():.4f},{random.randint(1, 99)},"
                f"XNAS,{random.getrandbits(48):012x}\n")
cfg_path = f"{root}/config/strategies/momentum.json"
with open(cfg_path) as f:
    cfg = json.load(f)
cfg["max_position"] = cfg.get("max_position", 0) + 1
with open(cfg_path, "w") as f:
    json.dump(cfg, f, indent=2)
PY

bold "Backup 2: only the changes are stored"
"$BIN" backup files "$SAMPLE" --component sample --tag demo --json >"$WORK/b2.json"
snap2=$(json_get 'd["snapshot"]' <"$WORK/b2.json")
read -r b2_total b2_read b2_added b2_unmod b2_changed < <(json_get \
  '" ".join(str(d["counters"][k]) for k in ["bytes_total","bytes_read","bytes_added","files_unmodified","files_changed"])' \
  <"$WORK/b2.json")
echo "snapshot ${snap2:0:8}: $b2_unmod unchanged files reused without reading them;" \
  "$b2_changed changed files re-read ($b2_read bytes), of which only $b2_added bytes were new"

# --- restore and compare ----------------------------------------------------------------
bold "Restoring the latest snapshot and comparing it with the source"
"$BIN" restore latest --component sample --path "$SAMPLE" --target "$WORK/restore"
diff -r --no-dereference "$SAMPLE" "$WORK/restore"
metadata() {
  (cd "$1" && find . -mindepth 1 -print0 | sort -z |
    xargs -0 stat -c '%n type=%F mode=%a size=%s mtime=%.9Y link=%N' |
    sed -e "s| -> .*||")
}
# Directory sizes depend on the file system's allocation history, not on their contents.
metadata "$SAMPLE" | sed -e 's/type=directory mode=\([0-7]*\) size=[0-9]*/type=directory mode=\1/' \
  >"$WORK/meta.src"
metadata "$WORK/restore" |
  sed -e 's/type=directory mode=\([0-7]*\) size=[0-9]*/type=directory mode=\1/' >"$WORK/meta.dst"
if ! diff -u "$WORK/meta.src" "$WORK/meta.dst"; then
  echo "demo: restored metadata differs from the source" >&2
  exit 1
fi
entries=$(wc -l <"$WORK/meta.src")
echo "identical: contents (diff -r) and type, mode, size, mtime of all $entries entries"

# --- check, list, audit -----------------------------------------------------------------
bold "Checking the repository, reading every pack"
"$BIN" check --read-data

bold "Snapshots"
"$BIN" snapshots

bold "Repository statistics"
"$BIN" stats

bold "Verifying the audit trail"
"$BIN" audit verify
records=$("$BIN" audit log --json | json_get 'len(d)')
nsnaps=$("$BIN" snapshots --json | json_get 'len(d)')

bold "Summary"
cat <<EOF
repository   .bulwark/repo ($(du -sh "$REPO" | cut -f1) on disk, $nsnaps snapshots)
backup 1     snapshot ${snap1:0:8}: $b1_total bytes, $b1_added new
backup 2     snapshot ${snap2:0:8}: $b2_unmod files reused unread, $b2_read bytes re-read, $b2_added new
restore      latest snapshot restored and identical to the source (content and metadata)
check        --read-data found no errors
audit        $records records, hash chain verified
EOF
