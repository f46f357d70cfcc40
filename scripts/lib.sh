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

# Use the Redis on 127.0.0.1:6379 when it answers; otherwise start one under var/. Sets REDIS_URL.
ensure_redis() {
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
        for _ in $(seq 50); do
            redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG && break
            sleep 0.1
        done
    fi
    REDIS_URL="redis://127.0.0.1:$port"
}
