#!/usr/bin/env bash
# Owns a throwaway PostgreSQL 15 cluster for tests in DIR (data dir, socket, log, port file); nothing else.
# Usage: tests/scripts/postgres.sh DIR [start|stop|destroy|url]    (default: start)
#   start    initdb (trust auth, superuser "petri") if DIR/data is missing, start the server on
#            127.0.0.1 (port: $PETRI_PG_PORT, else the port used last time, else a free one),
#            create database "petri", print exactly one line: postgres://petri@127.0.0.1:PORT/petri
#            Starting an already running cluster just prints the URL.
#   stop     stop the server (fast shutdown); keeps DIR for a later start
#   destroy  stop and delete DIR
#   url      print the URL of a running cluster (exit 1 if it is not running)
# As root the server runs as user "postgres" (created if missing); otherwise as the caller.
# Example: export DATABASE_URL=$(tests/scripts/postgres.sh /tmp/petri-pg)
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 DIR [start|stop|destroy|url]"
dir=$1
cmd=${2:-start}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cd "$dir"   # the server user may not be able to read the caller's cwd
data=$dir/data
log=$dir/log
portfile=$dir/port

bindir=""
if command -v pg_config >/dev/null 2>&1; then bindir=$(pg_config --bindir); fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then bindir=/usr/lib/postgresql/15/bin; fi
[ -x "$bindir/initdb" ] && [ -x "$bindir/pg_ctl" ] || die "no initdb/pg_ctl in $bindir (apt-get install postgresql-15)"

# Run a command as the cluster owner.
if [ "$(id -u)" = 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres >&2
    fi
    chown postgres: "$dir"
    chmod 700 "$dir"
    as_owner() { runuser -u postgres -- "$@"; }
    as_owner test -x "$dir" || die "user postgres cannot reach $dir (use a directory under /tmp)"
else
    as_owner() { "$@"; }
fi

pg_ctl() { as_owner "$bindir/pg_ctl" -D "$data" "$@"; }
running() { [ -f "$data/PG_VERSION" ] && pg_ctl status >/dev/null 2>&1; }
url() { echo "postgres://petri@127.0.0.1:$(cat "$portfile")/petri"; }

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
pick_port() {
    if [ -n "${PETRI_PG_PORT:-}" ]; then echo "$PETRI_PG_PORT"; return; fi
    if [ -s "$portfile" ] && port_free "$(cat "$portfile")"; then cat "$portfile"; return; fi
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
        return
    fi
    local p
    for p in $(seq 55432 55532); do
        if port_free "$p"; then echo "$p"; return; fi
    done
    die "no free port in 55432-55532"
}

start() {
    if running; then url; return; fi
    if [ ! -f "$data/PG_VERSION" ]; then
        rm -rf "$data"
        as_owner "$bindir/initdb" -A trust -U petri -E UTF8 --locale=C -D "$data" >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    local port
    port=$(pick_port)
    echo "$port" >"$portfile"
    chmod 644 "$portfile"
    # The log file must be writable by the server user.
    touch "$log"
    [ "$(id -u)" = 0 ] && chown postgres: "$log"
    pg_ctl -l "$log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null 2>&1 || { tail -n 20 "$log" >&2; die "pg_ctl start failed (see $log)"; }
    local exists
    exists=$("$bindir/psql" -X -q -At -h 127.0.0.1 -p "$port" -U petri -d postgres \
        -c "select 1 from pg_database where datname = 'petri'")
    if [ "$exists" != 1 ]; then
        "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U petri -d postgres -c 'create database petri' >/dev/null
    fi
    url
}

case $cmd in
    start) start ;;
    stop) if running; then pg_ctl -m fast -w stop >/dev/null; fi ;;
    destroy)
        if running; then pg_ctl -m immediate -w stop >/dev/null; fi
        rm -rf "$dir"
        ;;
    url) running || die "not running in $dir"; url ;;
    *) die "unknown command '$cmd' (start|stop|destroy|url)" ;;
esac
