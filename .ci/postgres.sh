# A throwaway PostgreSQL cluster for the tests, shared by .ci/run and developers.
# shellcheck shell=bash
#
#   source .ci/postgres.sh          # start one, export the variables below
#   cargo test
#   source .ci/postgres.sh stop     # stop it and delete its folder
#   source .ci/postgres.sh functions  # only define bookchat_pg_start, bookchat_pg_stop...
#
# Starting runs initdb into a fresh temporary folder (as the `postgres` user when run as
# root, since initdb refuses root), on 127.0.0.1 and a free port, with trust auth, and
# exports:
#   BOOKCHAT_TEST_DATABASE_URL  postgres://postgres@127.0.0.1:PORT/postgres, a superuser
#                               the tests use to create a database each
#   BOOKCHAT_TEST_PG_CTL        a script: `$BOOKCHAT_TEST_PG_CTL restart|stop|start|status`
#                               (pg_ctl -w, fast shutdown) for tests that restart PostgreSQL
# Binaries: BOOKCHAT_PG_BIN if set, else initdb's folder on PATH, else Debian's newest
# /usr/lib/postgresql/*/bin.
# In an interactive shell with no EXIT trap of its own, the cluster also stops on exit;
# .ci/run calls bookchat_pg_stop from its own trap. Must be sourced by bash, and keeps the
# caller's shell options (it works with and without `set -euo pipefail`).

# The folder holding initdb and pg_ctl, or non-zero when PostgreSQL is not installed.
bookchat_pg_bindir() {
    if [ -n "${BOOKCHAT_PG_BIN:-}" ]; then
        echo "$BOOKCHAT_PG_BIN"
        return 0
    fi
    local initdb
    if initdb=$(command -v initdb 2>/dev/null); then
        dirname "$initdb"
        return 0
    fi
    local newest=""
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] || continue
        if [ -z "$newest" ] || [ "$(printf '%s\n%s\n' "$newest" "$dir" | sort -V | tail -n 1)" = "$dir" ]; then
            newest=$dir
        fi
    done
    [ -n "$newest" ] || return 1
    echo "$newest"
}

# A TCP port on 127.0.0.1 that the kernel just handed out and released. perl-base is
# essential on Debian (and postgresql-common needs perl anyway); python3 as a fallback.
bookchat_pg_free_port() {
    if command -v perl >/dev/null 2>&1; then
        perl -MIO::Socket::INET -e \
            'print IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 0, Listen => 1)->sockport, "\n"'
    else
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    fi
}

bookchat_pg_start() {
    if [ -n "${_bookchat_pg_dir:-}" ] && [ -d "$_bookchat_pg_dir" ]; then
        echo "PostgreSQL for the tests already runs in $_bookchat_pg_dir: $BOOKCHAT_TEST_DATABASE_URL"
        return 0
    fi
    local started bin owner dir port attempt
    local -a as_owner=()
    started=$(date +%s%N)
    if ! bin=$(bookchat_pg_bindir); then
        echo "PostgreSQL is not installed (apt-get install postgresql, or set BOOKCHAT_PG_BIN)" >&2
        return 1
    fi
    # As root, the cluster belongs to `postgres`, in /tmp (which that user can reach).
    if [ "$(id -u)" -eq 0 ]; then
        owner=postgres
        dir=$(mktemp -d /tmp/bookchat-pg.XXXXXX) || return 1
        chown postgres: "$dir" || { rm -rf "$dir"; return 1; }
        as_owner=("$(command -v runuser || echo /usr/sbin/runuser)" -u postgres --)
    else
        owner=$(id -un)
        dir=$(mktemp -d "${TMPDIR:-/tmp}/bookchat-pg.XXXXXX") || return 1
    fi
    _bookchat_pg_dir=$dir

    # Throwaway: no fsync during initdb; the server itself keeps fsync on.
    if ! "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --no-locale --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        echo "initdb as $owner failed" >&2
        bookchat_pg_stop
        return 1
    fi
    "${as_owner[@]}" mkdir "$dir/socket" || { bookchat_pg_stop; return 1; }

    cat >"$dir/pgctl.sh" <<EOF
#!/bin/bash
# Controls the throwaway PostgreSQL cluster in $dir: pgctl.sh restart|stop|start|status
# Descriptors the caller inherited (a build lock held by flock, say) are closed first: a
# server started from here would otherwise hold them for as long as it runs.
for fd in /proc/\$\$/fd/*; do
    n=\${fd##*/}
    if [ "\$n" -gt 2 ] 2>/dev/null; then eval "exec \$n>&-"; fi
done
exec ${as_owner[*]:+${as_owner[*]} }"$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -m fast "\$@"
EOF
    chmod 755 "$dir/pgctl.sh"

    # The port is free when asked for, but another process may take it before the server
    # binds it: then try another.
    for attempt in 1 2 3; do
        port=$(bookchat_pg_free_port) || { bookchat_pg_stop; return 1; }
        cat >"$dir/port.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/socket'
max_connections = 300
shared_buffers = 64MB
EOF
        if ! grep -q "^include = '$dir/port.conf'" "$dir/data/postgresql.conf"; then
            echo "include = '$dir/port.conf'" >>"$dir/data/postgresql.conf"
        fi
        if "$dir/pgctl.sh" start >/dev/null 2>&1; then
            break
        fi
        port=""
        echo "PostgreSQL did not start (attempt $attempt); its log:" >&2
        tail -n 20 "$dir/postgres.log" >&2
    done
    if [ -z "$port" ]; then
        bookchat_pg_stop
        return 1
    fi

    export BOOKCHAT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export BOOKCHAT_TEST_PG_CTL="$dir/pgctl.sh"
    echo "$("$bin/postgres" --version) for the tests: 127.0.0.1 port $port, in $dir," \
        "started in $(( ($(date +%s%N) - started) / 1000000 )) ms"
    echo "BOOKCHAT_TEST_DATABASE_URL=$BOOKCHAT_TEST_DATABASE_URL"
    echo "BOOKCHAT_TEST_PG_CTL=$BOOKCHAT_TEST_PG_CTL"
}

# Stops the cluster (immediately: nothing in it is kept) and deletes its folder.
bookchat_pg_stop() {
    local dir=${_bookchat_pg_dir:-}
    [ -n "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        "$dir/pgctl.sh" stop -m immediate >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    unset _bookchat_pg_dir BOOKCHAT_TEST_DATABASE_URL BOOKCHAT_TEST_PG_CTL
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    echo "source it, so that it can export the variables: source .ci/postgres.sh [start|stop]" >&2
    exit 2
fi
case "${1:-start}" in
    start)
        if bookchat_pg_start; then
            if [[ $- == *i* ]] && [ -z "$(trap -p EXIT)" ]; then
                trap bookchat_pg_stop EXIT
            elif [[ $- == *i* ]] && [[ $(trap -p EXIT) != *bookchat_pg_stop* ]]; then
                echo "stop it with: source .ci/postgres.sh stop"
            fi
        else
            return 1
        fi
        ;;
    stop) bookchat_pg_stop ;;
    functions) ;; # only define the functions
    *)
        echo "usage: source .ci/postgres.sh [start|stop|functions]" >&2
        return 2
        ;;
esac
