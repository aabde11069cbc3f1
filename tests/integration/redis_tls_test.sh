#!/usr/bin/env bash
# rediss:// (TLS): a throwaway CA, server and client certificates made here with the openssl
# CLI; redis-servers with only a TLS port on loopback requiring client certificates. Backup,
# redis-stream and restore --to (also --time) round-trip the keyspace over TLS with the host
# name checked (a DNS name with SNI, and an IP address); a CA that did not sign the server's
# certificate, a certificate that does not name the host, and a missing client certificate
# are refused (exit 2, one line) without committing anything.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/redis_lib.sh"

C="$T/certs"
mkdir -p "$C"
# mkcert NAME CA_NAME EXT: a P-256 key and a certificate signed by CA_NAME with extensions EXT.
mkcert() {
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$1" 2>/dev/null
  printf '%b\n' "$3" >"$C/$1.ext"
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.crt" -CAkey "$C/$2.key" -CAcreateserial \
    -out "$C/$1.crt" -days 2 -extfile "$C/$1.ext" 2>/dev/null
}
mkca() {
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$C/$1.key" -out "$C/$1.crt" -days 2 -subj "/CN=$1" 2>/dev/null
}
mkca ca
mkca other-ca
mkcert server ca "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"
mkcert nameonly ca "subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth"
mkcert client ca "extendedKeyUsage=clientAuth"

# tls_start DIR CERT: a server with only a TLS port (plain port 0) and its unix socket, stopped
# on exit; its TLS port in TLS_PORT (not a command substitution: the cleanup hook must be
# registered in this shell).
tls_start() {
  TLS_PORT=$(free_port)
  mkdir -p "$1"
  cat >"$1/extra.conf" <<EOF
tls-port $TLS_PORT
tls-cert-file $C/$2.crt
tls-key-file $C/$2.key
tls-ca-cert-file $C/ca.crt
tls-auth-clients yes
EOF
  redis_start "$1"
}

bw init >/dev/null
SRC="$T/src"
tls_start "$SRC" server
sport=$TLS_PORT
grep -q "tls-port" "$SRC/redis.conf" "$SRC/extra.conf" || fail "no TLS configuration"
populate "$SRC"
keyspace "$SRC" >"$T/want"
TLS=(--redis-ca-bundle "$C/ca.crt" --redis-cert "$C/client.crt" --redis-key "$C/client.key")

# 1. Backup over TLS by host name (SNI, DNS SAN).
bw --json backup redis --component tls --url "rediss://localhost:$sport" "${TLS[@]}" >"$T/b1.json"
[[ $(json "$T/b1.json" 'd["source"]["endpoint"]') == "rediss://localhost:$sport" ]] ||
  fail "endpoint not recorded as rediss://"
[[ $(json "$T/b1.json" 'd["source"]["checksum_verified"]') == True ]] || fail "checksum"

# 2. restore --to over TLS by IP address, the TLS files from the environment.
DST="$T/dst"
tls_start "$DST" server
dport=$TLS_PORT
BULWARK_REDIS_CA_BUNDLE="$C/ca.crt" BULWARK_REDIS_CERT="$C/client.crt" \
  BULWARK_REDIS_KEY="$C/client.key" \
  bw restore redis latest --component tls --to "rediss://127.0.0.1:$dport" >/dev/null
keyspace "$DST" >"$T/got"
diff "$T/want" "$T/got" || fail "keyspace restored over TLS differs"
redis_stop "$DST"

# 2b. The TLS files from the config's [redis] table (a rediss:// URL, no flags).
printf '[redis]\nca_bundle = "%s"\ncert = "%s"\nkey = "%s"\n' \
  "$C/ca.crt" "$C/client.crt" "$C/client.key" >"$T/redis.toml"
bw --config "$T/redis.toml" --json backup redis --component tls \
  --url "rediss://localhost:$sport" >"$T/b2.json"
[[ $(json "$T/b2.json" 'd["source"]["checksum_verified"]') == True ]] ||
  fail "backup with the TLS files from the config"

# 3. Refusals: nothing committed, one line, exit 2.
count_snaps() { "$BIN" --json snapshots | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }
n=$(count_snaps)
expect_exit 2 backup redis --component tls --url "rediss://localhost:$sport" \
  --redis-ca-bundle "$C/other-ca.crt" --redis-cert "$C/client.crt" --redis-key "$C/client.key"
assert_one_line "$T/err"
assert_grep "TLS certificate of Redis at rediss://localhost:$sport did not verify" "$T/err"
assert_grep "redis-ca-bundle" "$T/err"
# The certificate names localhost but not 127.0.0.1.
NAME="$T/nameonly"
tls_start "$NAME" nameonly
nport=$TLS_PORT
expect_exit 2 backup redis --component tls --url "rediss://127.0.0.1:$nport" "${TLS[@]}"
assert_one_line "$T/err"
assert_grep "did not verify" "$T/err"
bw backup redis --component tls2 --url "rediss://localhost:$nport" "${TLS[@]}" >/dev/null
redis_stop "$NAME"
n=$((n + 1))
# The server requires a client certificate.
expect_exit 2 backup redis --component tls --url "rediss://localhost:$sport" \
  --redis-ca-bundle "$C/ca.crt"
assert_one_line "$T/err"
assert_grep "client certificate" "$T/err"
# TLS options on a plain URL, and half a client certificate, are usage errors.
expect_exit 2 backup redis --component tls --url "redis://localhost:$sport" \
  --redis-ca-bundle "$C/ca.crt"
expect_exit 2 backup redis --component tls --url "rediss://localhost:$sport" \
  --redis-cert "$C/client.crt"
[[ $(count_snaps) -eq $n ]] || fail "a refused backup committed a snapshot"

# 4. redis-stream over TLS, then a point-in-time restore --to over TLS.
"$BIN" redis-stream --component tls-pit --url "rediss://localhost:$sport" "${TLS[@]}" \
  --flush-ms 200 >"$T/stream.out" 2>"$T/stream.err" &
STREAM=$!
cleanup_hooks+=("kill -TERM $STREAM 2>/dev/null; wait $STREAM 2>/dev/null")
for i in $(seq 1 300); do
  grep -q "snapshot .* saved" "$T/stream.err" && break
  kill -0 "$STREAM" 2>/dev/null || { cat "$T/stream.err" >&2; fail "redis-stream exited"; }
  sleep 0.1
done
for i in $(seq 1 6); do
  rcli "$SRC" set "tls:$i" "$i" >/dev/null
  sleep 0.1
done
sleep 0.3
T1=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
D1=$(rcli "$SRC" debug digest)
sleep 0.3
rcli "$SRC" set after-t1 x >/dev/null
want_off=$(rcli "$SRC" info replication | tr -d '\r' | sed -n 's/^master_repl_offset://p')
for i in $(seq 1 100); do
  "$BIN" --json redis-status --component tls-pit >"$T/status.json"
  [[ $(json "$T/status.json" 'd["offset"]') -ge $want_off ]] && break
  sleep 0.1
done
[[ $(json "$T/status.json" 'd["offset"]') -ge $want_off ]] || fail "stream over TLS not stored"
kill -TERM "$STREAM"
wait "$STREAM" || fail "redis-stream exited with $?"
PIT="$T/pit"
tls_start "$PIT" server
pport=$TLS_PORT
bw restore redis latest --component tls-pit --to "rediss://localhost:$pport" "${TLS[@]}" \
  --time "$T1" >/dev/null
[[ $(rcli "$PIT" debug digest) == "$D1" ]] || fail "point-in-time restore over TLS differs"
[[ $(rcli "$PIT" exists after-t1) -eq 0 ]] || fail "a write after the time was restored"
redis_stop "$PIT"
redis_stop "$SRC"
log "ok"
