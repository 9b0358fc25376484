#!/bin/bash
# devstack test bed: the stand-in's /entrypoint.sh, written for this image from the documented behaviour of
# clickhouse/clickhouse-server's (ENTRYPOINT ["/entrypoint.sh"], no CMD):
#   - no arguments, or a first argument starting with `--`: run the server,
#       clickhouse-server --config-file=$CLICKHOUSE_CONFIG "$@"   (CLICKHOUSE_CONFIG: /etc/clickhouse-server/config.xml)
#     as the clickhouse user 101:101 when started as root (its directories made and handed to 101 first), as
#     whoever it is otherwise; the watchdog is off unless CLICKHOUSE_WATCHDOG_ENABLE says otherwise;
#   - anything else: exec "$@" as given (devstack's compose: `user: "101:101"` and an explicit clickhouse-server).
# Not reproduced: CLICKHOUSE_USER/PASSWORD/DB (users.d/default-user.xml) and /docker-entrypoint-initdb.d scripts,
# which need a newer server (SQL users) than this image's ClickHouse 18.16.
set -eo pipefail

if [ "$#" -gt 0 ] && [ "${1#--}" = "$1" ]; then
    exec "$@"
fi

CLICKHOUSE_CONFIG="${CLICKHOUSE_CONFIG:-/etc/clickhouse-server/config.xml}"
CLICKHOUSE_UID="${CLICKHOUSE_UID:-101}"
CLICKHOUSE_GID="${CLICKHOUSE_GID:-101}"
export CLICKHOUSE_WATCHDOG_ENABLE="${CLICKHOUSE_WATCHDOG_ENABLE:-0}"

if [ "$(id -u)" -eq 0 ]; then
    for dir in /var/lib/clickhouse /var/log/clickhouse-server; do
        mkdir -p "$dir"
        if [ -z "${CLICKHOUSE_DO_NOT_CHOWN:-}" ] && [ "$(stat -c %u:%g "$dir")" != "$CLICKHOUSE_UID:$CLICKHOUSE_GID" ]; then
            chown -R "$CLICKHOUSE_UID:$CLICKHOUSE_GID" "$dir"
        fi
    done
    exec setpriv --reuid="$CLICKHOUSE_UID" --regid="$CLICKHOUSE_GID" --clear-groups \
        clickhouse-server --config-file="$CLICKHOUSE_CONFIG" "$@"
fi
exec clickhouse-server --config-file="$CLICKHOUSE_CONFIG" "$@"
