#!/bin/sh
# devstack test bed: the official haproxy image's entrypoint behaviour, written for the stand-in
set -e
# an option as the first argument (`-f x.cfg`, `-c ...`, `--help`): it is haproxy's
case "$1" in
    -*) set -- haproxy "$@" ;;
esac
# haproxy itself: in the foreground (-db) and as master-worker (-W; SIGUSR2 reloads, SIGUSR1 stops gracefully)
if [ "$1" = haproxy ]; then
    shift
    set -- haproxy -W -db "$@"
fi
exec "$@"
