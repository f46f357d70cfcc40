# Shared by scripts/install, scripts/test and scripts/run-local. Debian 12, run as root.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO_ROOT/.venv"
VAR="$REPO_ROOT/var"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Use the PostgreSQL on 127.0.0.1:5432 when it lets postgres in; otherwise start a throwaway
# cluster under var/. Sets DATABASE_ADMIN_URL (a URL without a database name).
ensure_postgres() {
    if psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; then
        DATABASE_ADMIN_URL="postgres://postgres@127.0.0.1:5432"
        return
    fi
    local bindir datadir port
    bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
    datadir="$VAR/postgres"
    if [ ! -s "$datadir/port" ]; then
        say "Starting a PostgreSQL cluster under $datadir"
        rm -rf "$datadir" && mkdir -p "$datadir/data"
        chown -R postgres:postgres "$datadir"
        runuser -u postgres -- "$bindir/initdb" -D "$datadir/data" -U postgres --auth=trust -E UTF8 >/dev/null
        free_port >"$datadir/port"
    fi
    port="$(cat "$datadir/port")"
    if ! runuser -u postgres -- "$bindir/pg_ctl" -D "$datadir/data" status >/dev/null 2>&1; then
        runuser -u postgres -- "$bindir/pg_ctl" -D "$datadir/data" -l "$datadir/server.log" -w \
            -o "-p $port -k $datadir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    fi
    DATABASE_ADMIN_URL="postgres://postgres@127.0.0.1:$port"
}

# Use the Redis on 127.0.0.1:6379 when it answers; otherwise start one under var/. Sets REDIS_URL,
# and REDIS_STARTED to its pid file when this call started it (empty otherwise).
ensure_redis() {
    REDIS_STARTED=""
    if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
        REDIS_URL="redis://127.0.0.1:6379"
        return
    fi
    local dir="$VAR/redis" port
    mkdir -p "$dir"
    [ -s "$dir/port" ] || free_port >"$dir/port"
    port="$(cat "$dir/port")"
    if ! redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
        say "Starting Redis on 127.0.0.1:$port"
        redis-server --daemonize yes --port "$port" --bind 127.0.0.1 --dir "$dir" \
            --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" --save '' --appendonly no
        REDIS_STARTED="$dir/redis.pid"
        for _ in $(seq 50); do
            redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && break
            sleep 0.1
        done
    fi
    REDIS_URL="redis://127.0.0.1:$port"
}

# Prints the Redis database number of this checkout's local run (REDIS_URL must be set), so two
# checkouts on one machine never share a queue. The first choice is derived from the checkout's
# path; the database is claimed with a key naming the checkout, and one claimed by another
# checkout that still exists is passed over. 1-10 only: 0 is where an unconfigured process goes,
# 11-15 are the tests' and benchmarks' (scripts/test uses 15, benchmarks/lifecycle.py 13).
# REDIS_DB=n chooses one by hand.
checkout_redis_db() {
    if [ -n "${REDIS_DB:-}" ]; then
        printf '%s\n' "$REDIS_DB"
        return
    fi
    local key="accessadmin:checkout" first i db owner
    first="$(printf '%s' "$REPO_ROOT" | cksum | cut -d' ' -f1)"
    for i in $(seq 0 9); do
        db=$(((first + i) % 10 + 1))
        owner="$(redis-cli -u "$REDIS_URL/$db" get "$key")" || die "Redis at $REDIS_URL does not answer"
        if [ -n "$owner" ] && [ "$owner" != "$REPO_ROOT" ] && [ -d "$owner" ]; then
            continue  # another checkout's
        fi
        if [ -z "$owner" ]; then
            redis-cli -u "$REDIS_URL/$db" set "$key" "$REPO_ROOT" NX >/dev/null
        elif [ "$owner" != "$REPO_ROOT" ]; then
            redis-cli -u "$REDIS_URL/$db" set "$key" "$REPO_ROOT" >/dev/null  # its checkout is gone
        fi
        # Read again: another checkout starting at the same moment may have claimed it first.
        [ "$(redis-cli -u "$REDIS_URL/$db" get "$key")" = "$REPO_ROOT" ] || continue
        printf '%s\n' "$db"
        return
    done
    die "Redis databases 1-10 at $REDIS_URL are all claimed by other checkouts; set REDIS_DB"
}
