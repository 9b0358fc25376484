#!/usr/bin/env bash
# devstack test bed: the subset of the official postgres image's docker-entrypoint.sh devstack relies on:
# POSTGRES_USER / POSTGRES_PASSWORD(_FILE) / POSTGRES_DB / PGDATA / POSTGRES_INITDB_ARGS /
# POSTGRES_HOST_AUTH_METHOD, /docker-entrypoint-initdb.d/{*.sh,*.sql,*.sql.gz} on first init, run as postgres.
set -Eeo pipefail

file_env() { # VAR [default]: VAR or VAR_FILE
    local var="$1" fileVar="${1}_FILE" def="${2:-}" val
    if [ "${!var:-}" ] && [ "${!fileVar:-}" ]; then echo >&2 "error: both $var and $fileVar are set"; exit 1; fi
    val="$def"
    if [ "${!var:-}" ]; then val="${!var}"; elif [ "${!fileVar:-}" ]; then val="$(< "${!fileVar}")"; fi
    export "$var"="$val"; unset "$fileVar"
}

if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = 'postgres' ] && [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA"
    chown -R postgres "$PGDATA" 2>/dev/null || :
    chmod 00700 "$PGDATA" || :
    mkdir -p /var/run/postgresql && chown -R postgres /var/run/postgresql && chmod 03775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BASH_SOURCE" "$@"
fi

if [ "$1" = 'postgres' ]; then
    mkdir -p "$PGDATA"; chmod 00700 "$PGDATA" 2>/dev/null || :
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"

    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
            cat >&2 <<'E'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser.
       (or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password)
E
            exit 1
        fi
        # initdb
        pwfile="$(mktemp)"; printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
        # shellcheck disable=SC2086
        initdb --username="$POSTGRES_USER" --pwfile="$pwfile" $POSTGRES_INITDB_ARGS
        rm -f "$pwfile"
        # host connections: password auth (scram-sha-256, as postgres >= 14's default password_encryption)
        auth="${POSTGRES_HOST_AUTH_METHOD:-$(postgres -C password_encryption -D "$PGDATA" 2>/dev/null || echo scram-sha-256)}"
        printf '\n%s\n' "host all all all $auth" >> "$PGDATA/pg_hba.conf"

        # temporary server on the unix socket only
        PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
        export PGPASSWORD="$POSTGRES_PASSWORD"
        psql_cmd=(psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc)
        if [ "$POSTGRES_DB" != 'postgres' ]; then
            "${psql_cmd[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
            echo
        fi
        psql_cmd+=(--dbname "$POSTGRES_DB")
        docker_process_sql() { "${psql_cmd[@]}" "$@"; }   # for sourced init scripts, as upstream
        for f in /docker-entrypoint-initdb.d/*; do
            [ -e "$f" ] || continue
            case "$f" in
                *.sh)
                    if [ -x "$f" ]; then echo "$0: running $f"; "$f"
                    else echo "$0: sourcing $f"; . "$f"; fi ;;
                *.sql)    echo "$0: running $f"; "${psql_cmd[@]}" -f "$f"; echo ;;
                *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql_cmd[@]}"; echo ;;
                *)        echo "$0: ignoring $f" ;;
            esac
        done
        PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
        unset PGPASSWORD
        echo
        echo 'PostgreSQL init process complete; ready for start up.'
        echo
    else
        echo
        echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
        echo
    fi
fi

exec "$@"
