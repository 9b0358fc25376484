#!/usr/bin/env bash
# A subset of the official image's /entrypoint: `airflow <args>` unless the command is airflow/bash/python.
umask 0002   # as the official image: files stay group-writable for gid 0
# Running under an arbitrary uid (compose `user: "<uid>:0"`): give it a passwd entry and a HOME, as the
# official image does (/etc/passwd is group-writable for gid 0).
if ! whoami &>/dev/null; then
    if [[ -w /etc/passwd ]]; then
        echo "${USER_NAME:-default}:x:$(id -u):0:${USER_NAME:-default} user:${AIRFLOW_USER_HOME_DIR}:/sbin/nologin" >>/etc/passwd
    fi
    export HOME="${AIRFLOW_USER_HOME_DIR}"
fi
case "${1:-}" in
    airflow | bash | python | python3) exec "$@" ;;
    *) exec airflow "$@" ;;
esac
