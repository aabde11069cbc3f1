#!/usr/bin/env bash
# A throwaway single-machine Ceph cluster with an S3 endpoint (radosgw), for tests, the demo
# and benchmarks. Everything listens on 127.0.0.1 only and lives under DIR.
#
#   scripts/ceph-sandbox.sh start DIR    1 mon, 3 bluestore OSDs on sparse files, radosgw, one
#                                        S3 user, storage classes STANDARD and COLD; DIR must
#                                        be empty or absent (~25 s)
#   scripts/ceph-sandbox.sh stop DIR     stops every daemon of DIR by its PID file
#   scripts/ceph-sandbox.sh kill-osd DIR N      SIGKILL osd.N (failure tests)
#   scripts/ceph-sandbox.sh start-osd DIR N     restarts osd.N (it rejoins and recovers)
#   scripts/ceph-sandbox.sh kill-rgw DIR        SIGKILL radosgw
#   scripts/ceph-sandbox.sh start-rgw DIR       restarts radosgw and waits until it answers
#
# After start, DIR/s3.env holds shell assignments for the client side (source it):
#   AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION CEPH_CONF ...
# The secret key is written only there (mode 0600), never passed on a command line.
#
# Environment (optional): CEPH_RGW_PORT, CEPH_MON_PORT (default: free ports picked at random),
# CEPH_NUM_OSD (3), CEPH_OSD_SIZE (bytes per sparse OSD file, 20 GiB), CEPH_WITH_MGR (0: the
# mgr is ~300 MB and S3 does not need it), CEPH_START_TIMEOUT (seconds per step, 120).
#
# Settings that matter on one host (each one was a hang or a stuck cluster without it):
# - cephx is off (loopback only), so radosgw must use `ms_mon_client_mode = crc`; its default
#   "secure" mode needs cephx and waits 300 s for a mon connection that never comes.
# - every OSD is on the same host, so CRUSH must place replicas across OSDs
#   (`osd_crush_chooseleaf_type = 0`) and failure reports must count per OSD
#   (`mon_osd_reporter_subtree_level = osd`), or PGs never reach 3 copies and a killed OSD is
#   never marked down.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR | kill-osd|start-osd DIR N | kill-rgw|start-rgw DIR" >&2
  exit 2
}
[[ $# -ge 2 ]] || usage
cmd=$1
D=$2

TIMEOUT=${CEPH_START_TIMEOUT:-120}
t0=$(date +%s.%N)
say() { printf '[ceph-sandbox %5.1fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*" >&2; }

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local end=$(($(date +%s) + limit))
  until "$@" >/dev/null 2>&1; do
    if [[ $(date +%s) -ge $end ]]; then
      say "timed out after ${limit}s waiting for $what"
      return 1
    fi
    sleep 0.5
  done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free TCP port (and, with two=1, the one after it too) in 20000-39999.
pick_port() {
  local two=${1:-0} p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    if port_free "$p" && { [[ $two == 0 ]] || port_free $((p + 1)); }; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# pid_of NAME: the PID in DIR/run/NAME.pid if that process is a Ceph daemon of this sandbox.
pid_of() {
  local f="$D/run/$1.pid" pid exe
  [[ -f $f ]] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  case "$exe" in */ceph-mon | */ceph-mgr | */ceph-osd | */radosgw) ;; *) return 1 ;; esac
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$D/ceph.conf" || return 1
  echo "$pid"
}

rgw_answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$RGW_PORT/")
  [[ $code == 200 ]]
}

load_env() {
  [[ -f $D/s3.env ]] || { echo "no sandbox in $D (no s3.env)" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$D/s3.env"
  export CEPH_CONF
}

start_rgw() {
  radosgw -c "$D/ceph.conf" -n client.rgw.gw 2>>"$D/log/rgw.gw.stderr"
  wait_until "$TIMEOUT" "radosgw on 127.0.0.1:$RGW_PORT" rgw_answers
}

osds_up() {
  local n
  n=$(timeout 30 ceph -c "$D/ceph.conf" --connect-timeout 10 osd stat -f json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])')
  [[ $n == "$1" ]]
}

# A signed S3 request (ListBuckets) with the sandbox user, credentials from a curl config
# read on stdin so they never appear in argv.
user_works() {
  local code
  code=$(printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
    curl -s -K - -o /dev/null -w '%{http_code}' --max-time 5 \
      -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
      --aws-sigv4 "aws:amz:us-east-1:s3" "http://127.0.0.1:$RGW_PORT/")
  [[ $code == 200 ]]
}

start() {
  local missing=()
  for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool bc curl python3; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "ceph-sandbox: missing ${missing[*]}; run scripts/install-deps.sh" >&2
    exit 1
  fi
  mkdir -p "$D"
  D=$(cd "$D" && pwd)
  if [[ -n $(ls -A "$D") ]]; then
    echo "ceph-sandbox: $D is not empty" >&2
    exit 1
  fi
  mkdir -p "$D/run" "$D/log" "$D/crash" "$D/mon.a" "$D/mgr.x" "$D/rgw.gw"
  local num_osd=${CEPH_NUM_OSD:-3}
  local size=$((num_osd >= 3 ? 3 : num_osd))
  local min_size=$((size > 1 ? size - 1 : 1))
  local osd_bytes=${CEPH_OSD_SIZE:-21474836480}
  local mon_port=${CEPH_MON_PORT:-$(pick_port 1)}
  RGW_PORT=${CEPH_RGW_PORT:-$(pick_port)}
  local fsid
  fsid=$(cat /proc/sys/kernel/random/uuid)
  export CEPH_CONF=$D/ceph.conf
  # On failure, stop what was started so nothing is left running.
  trap 'rc=$?; if [[ $rc -ne 0 ]]; then say "start failed; stopping; logs in $D/log"; stop || true; fi' EXIT
  trap 'exit 130' INT TERM HUP

  cat >"$D/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$mon_port,v1:127.0.0.1:$((mon_port + 1))]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv4 = true
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
keyring = $D/keyring
run_dir = $D/run
admin_socket = $D/run/\$name.asok
pid_file = $D/run/\$name.pid
log_file = $D/log/\$name.log
mon_cluster_log_file = $D/log/cluster.log
crash_dir = $D/crash
log_to_stderr = false
err_to_stderr = true
osd_pool_default_size = $size
osd_pool_default_min_size = $min_size
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_delete = true
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_osd_reporter_subtree_level = osd
mon_osd_min_down_reporters = 1
mon_max_pg_per_osd = 1000
mon_data_avail_warn = 2
mon_data_avail_crit = 1
ms_async_op_threads = 2

[mon]
mon_data = $D/mon.\$id
mon_memory_target = 268435456
mon_memory_autotune = false
rocksdb_cache_size = 33554432

[mgr]
mgr_data = $D/mgr.\$id
mgr_initial_modules = iostat

[osd]
osd_data = $D/osd.\$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = $osd_bytes
bluestore_block_db_create = false
bluestore_block_wal_create = false
bluestore_fsck_on_mkfs = false
bluestore_fsck_on_mount = false
bluestore_fsck_on_umount = false
bluestore_cache_autotune = false
bluestore_cache_size = 67108864
osd_memory_target = 939524096
osd_memory_cache_min = 67108864
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
osd_heartbeat_grace = 10

[client.rgw.gw]
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_data = $D/rgw.gw
rgw_thread_pool_size = 64
ms_mon_client_mode = crc
rgw_dns_name = localhost
log_file = $D/log/rgw.gw.log
EOF

  say "mon on 127.0.0.1:$mon_port"
  ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$D/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >/dev/null
  monmaptool --create --clobber --fsid "$fsid" \
    --addv a "[v2:127.0.0.1:$mon_port,v1:127.0.0.1:$((mon_port + 1))]" "$D/monmap" >/dev/null
  ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
  ceph-mon -c "$CEPH_CONF" -i a 2>>"$D/log/mon.a.stderr"
  wait_until "$TIMEOUT" "the mon" timeout 30 ceph -c "$CEPH_CONF" --connect-timeout 10 mon stat

  if [[ ${CEPH_WITH_MGR:-0} == 1 ]]; then
    ceph-mgr -c "$CEPH_CONF" -i x 2>>"$D/log/mgr.x.stderr"
  fi

  local ids=() pids=() id uuid i
  for ((i = 0; i < num_osd; i++)); do
    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(timeout 30 ceph -c "$CEPH_CONF" --connect-timeout 10 osd new "$uuid")
    mkdir -p "$D/osd.$id"
    ids+=("$id")
    ceph-osd -c "$CEPH_CONF" -i "$id" --mkfs --osd-uuid "$uuid" >"$D/log/osd.$id.mkfs.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 0; i < num_osd; i++)); do
    wait "${pids[$i]}" || {
      say "mkfs of osd.${ids[$i]} failed"
      tail -5 "$D/log/osd.${ids[$i]}.mkfs.log" >&2
      exit 1
    }
  done
  for id in "${ids[@]}"; do ceph-osd -c "$CEPH_CONF" -i "$id" 2>>"$D/log/osd.$id.stderr"; done
  wait_until "$TIMEOUT" "$num_osd OSDs up" osds_up "$num_osd"
  say "$num_osd OSDs up"

  # A second storage class, COLD, with a data pool of its own beside STANDARD, for the tests
  # of per-type storage classes and lifecycle transitions. Added before radosgw starts (it
  # reads the zone at start). `user list` makes radosgw-admin create the default zone and
  # zonegroup. There is no realm, so there is no period to commit.
  radosgw-admin -c "$CEPH_CONF" -n client.admin user list >"$D/log/placement.log" 2>&1
  radosgw-admin -c "$CEPH_CONF" -n client.admin zonegroup placement add --rgw-zonegroup default \
    --placement-id default-placement --storage-class COLD >>"$D/log/placement.log" 2>&1
  radosgw-admin -c "$CEPH_CONF" -n client.admin zone placement add --rgw-zone default \
    --placement-id default-placement --storage-class COLD \
    --data-pool default.rgw.cold.data >>"$D/log/placement.log" 2>&1
  start_rgw
  say "radosgw on 127.0.0.1:$RGW_PORT (storage classes STANDARD and COLD)"
  local ak sk
  ak=SANDBOX$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
  sk=$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')
  # radosgw-admin takes the keys as arguments; they are throwaway keys of a loopback sandbox.
  radosgw-admin -c "$CEPH_CONF" -n client.admin user create --uid=sandbox \
    --display-name="sandbox user" --access-key="$ak" --secret-key="$sk" >"$D/log/user-create.json"
  chmod 600 "$D/log/user-create.json"
  (
    umask 077
    cat >"$D/s3.env" <<EOF
AWS_ENDPOINT_URL=http://127.0.0.1:$RGW_PORT
AWS_ACCESS_KEY_ID=$ak
AWS_SECRET_ACCESS_KEY=$sk
AWS_REGION=us-east-1
RGW_PORT=$RGW_PORT
CEPH_MON_PORT=$mon_port
CEPH_CONF=$CEPH_CONF
CEPH_SANDBOX_DIR=$D
EOF
  )
  AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk wait_until "$TIMEOUT" "the S3 user" user_works
  say "ready: S3 at http://127.0.0.1:$RGW_PORT (credentials in $D/s3.env)"
  trap - EXIT INT TERM HUP
}

# stop_names NAME...: SIGTERM to all, then wait up to 10 s each, then SIGKILL.
stop_names() {
  local n pid
  local -a live=()
  for n in "$@"; do
    if pid=$(pid_of "$n"); then
      kill "$pid" 2>/dev/null || true
      live+=("$n:$pid")
    fi
  done
  local entry i
  for entry in "${live[@]}"; do
    n=${entry%%:*}
    pid=${entry#*:}
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -9 "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    rm -f "$D/run/$n.pid"
  done
}

# stray_pids: Ceph daemons of this sandbox that have no PID file (an OSD mkfs cut short, a
# daemon that died before writing its file), found by their executable and their -c DIR/ceph.conf.
stray_pids() {
  local p exe
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    case "$exe" in */ceph-mon | */ceph-mgr | */ceph-osd | */radosgw) ;; *) continue ;; esac
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$D/ceph.conf" && echo "${p#/proc/}"
  done
  return 0
}

stop() {
  [[ -d $D/run ]] || return 0
  local names=() f
  shopt -s nullglob
  for f in "$D"/run/client.rgw.*.pid "$D"/run/mgr.*.pid "$D"/run/osd.*.pid; do
    names+=("$(basename "$f" .pid)")
  done
  [[ ${#names[@]} -gt 0 ]] && stop_names "${names[@]}"
  names=()
  for f in "$D"/run/*.pid; do names+=("$(basename "$f" .pid)"); done
  [[ ${#names[@]} -gt 0 ]] && stop_names "${names[@]}"
  local pid i
  for pid in $(stray_pids); do
    say "stopping stray daemon $pid"
    kill -9 "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  done
  if [[ -n $(stray_pids) ]]; then
    say "daemons still running: $(stray_pids | tr '\n' ' ')"
    return 1
  fi
  say "stopped"
}

case "$cmd" in
  start) start ;;
  stop)
    D=$(cd "$D" 2>/dev/null && pwd) || exit 0
    stop
    ;;
  kill-osd | start-osd)
    [[ $# -ge 3 ]] || usage
    D=$(cd "$D" && pwd)
    load_env
    if [[ $cmd == kill-osd ]]; then
      pid=$(pid_of "osd.$3") || { echo "osd.$3 is not running" >&2; exit 1; }
      kill -9 "$pid"
    else
      ceph-osd -c "$D/ceph.conf" -i "$3" 2>>"$D/log/osd.$3.stderr"
    fi
    ;;
  kill-rgw | start-rgw)
    D=$(cd "$D" && pwd)
    load_env
    if [[ $cmd == kill-rgw ]]; then
      pid=$(pid_of client.rgw.gw) || { echo "radosgw is not running" >&2; exit 1; }
      kill -9 "$pid"
      for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    else
      start_rgw
    fi
    ;;
  *) usage ;;
esac
