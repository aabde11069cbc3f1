# Helpers for the Redis integration tests (sourced after lib.sh): throwaway servers via
# scripts/redis-sandbox.sh, each stopped on exit, and a dataset with every data type.
SANDBOX="${BULWARK_SOURCE_DIR:?}/scripts/redis-sandbox.sh"

# redis_start DIR [PORT]: starts a server (environment REDIS_SANDBOX_* applies), stopped on exit.
redis_start() {
  "$SANDBOX" start "$@"
  cleanup_hooks+=("'$SANDBOX' stop '$1'")
}
redis_stop() { "$SANDBOX" stop "$1"; }

# rcli DIR ARGS...: redis-cli over DIR's unix socket (password from REDISCLI_AUTH if set).
rcli() {
  local dir=$1
  shift
  redis-cli -s "$dir/redis.sock" "$@"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# populate DIR: every data type and encoding, expiring keys, several databases.
populate() {
  local d=$1
  rcli "$d" set plain "hello world" >/dev/null
  rcli "$d" set intstr 1234567 >/dev/null
  rcli "$d" set negint -42 >/dev/null
  head -c 3145728 /dev/urandom >"$T/random.bin"
  rcli "$d" -x set big_random <"$T/random.bin" >/dev/null
  python3 -c 'import sys; sys.stdout.write("abcdefgh" * 400000)' | rcli "$d" -x set big_lzf >/dev/null
  rcli "$d" rpush smalllist a b c 1 2 3 >/dev/null
  rcli "$d" eval "for i=1,3000 do redis.call('rpush','biglist',string.rep('x',100)..i) end" 0 >/dev/null
  rcli "$d" eval "redis.call('rpush','hugeelem',string.rep('y',20000),'z')" 0 >/dev/null
  rcli "$d" sadd intset 1 2 3 100000 >/dev/null
  rcli "$d" sadd strset a b c >/dev/null
  rcli "$d" eval "for i=1,1000 do redis.call('sadd','bigset','m'..i) end" 0 >/dev/null
  rcli "$d" eval "for i=1,1000 do redis.call('sadd','bigintset',i) end" 0 >/dev/null
  rcli "$d" zadd smallz 1 a 2.5 b -3 c >/dev/null
  rcli "$d" eval "for i=1,1000 do redis.call('zadd','bigz',i/3,'m'..i) end" 0 >/dev/null
  rcli "$d" zadd infz inf a -inf b >/dev/null
  rcli "$d" hset smallh f1 v1 f2 2 >/dev/null
  rcli "$d" eval "for i=1,1000 do redis.call('hset','bigh','f'..i,string.rep('v',i%70)) end" 0 >/dev/null
  rcli "$d" eval "for i=1,500 do redis.call('xadd','stream','*','n',i,'s','v'..i) end" 0 >/dev/null
  rcli "$d" xgroup create stream g1 0 >/dev/null
  rcli "$d" xreadgroup group g1 alice count 10 streams stream '>' >/dev/null
  rcli "$d" xreadgroup group g1 bob count 5 streams stream '>' >/dev/null
  rcli "$d" xadd emptyish '*' a 1 >/dev/null
  rcli "$d" set expiring v ex 100000 >/dev/null
  rcli "$d" set pexpiring v px 99999999 >/dev/null
  rcli "$d" hset hexp a 1 >/dev/null
  rcli "$d" expire hexp 50000 >/dev/null
  rcli "$d" debug populate 600000 small 100 >/dev/null
  local db
  for db in 1 2 15; do
    rcli "$d" -n "$db" set "db$db" "value in db $db" >/dev/null
    rcli "$d" -n "$db" debug populate $((db * 100)) "k$db" 8 >/dev/null
  done
}

# keyspace DIR: one line per db with its size, then the digest of the whole keyspace.
keyspace() {
  local d=$1 db
  for db in 0 1 2 3 15; do printf 'db%s=%s\n' "$db" "$(rcli "$d" -n "$db" dbsize)"; done
  rcli "$d" debug digest
}
