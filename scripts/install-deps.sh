#!/usr/bin/env bash
# Installs every Debian package that Bulwark's build, tests and benchmarks need.
# Idempotent: installs only what is missing; runs apt-get update first when it must install.
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake ninja-build pkg-config git
  libzstd-dev libssl-dev libsodium-dev libargon2-dev libcurl4-openssl-dev libpq-dev libhiredis-dev
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev clang-format ccache
)
TEST_PKGS=(
  postgresql-15 postgresql-client-15 redis-server redis-tools
  time util-linux procps coreutils python3
  # S3 tests: a one-machine Ceph cluster with radosgw (scripts/ceph-sandbox.sh), and the AWS
  # CLI for side-by-side checks and benchmarks.
  ceph-mon ceph-osd ceph-base ceph-common radosgw bc curl awscli
)
BENCH_PKGS=(
  restic borgbackup pgbackrest
)

want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
case "${1:-}" in
  --bench) want+=("${BENCH_PKGS[@]}") ;;
  --all|"") want+=("${BENCH_PKGS[@]}") ;;
  --build) want=("${BUILD_PKGS[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# The postgresql package would start a system cluster; tests start their own, so keep it
# from auto-starting services during install where policy-rc.d is honoured.
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
