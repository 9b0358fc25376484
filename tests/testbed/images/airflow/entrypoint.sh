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
# _PIP_ADDITIONAL_REQUIREMENTS, as the official entrypoint honours it: pip install (as the user: into ~/.local)
# with Airflow pinned to this image's release, then pip check. What this image already has (the training
# packages compose/airflow.yaml names) is "already satisfied": no index is asked, so it works offline.
if [[ -n "${_PIP_ADDITIONAL_REQUIREMENTS:-}" ]]; then
    >&2 echo "Installing additional requirements: '${_PIP_ADDITIONAL_REQUIREMENTS}'"
    # shellcheck disable=SC2086  # a space-separated list of requirement specifiers, as upstream splits it
    PIP_DISABLE_PIP_VERSION_CHECK=1 pip install --user --root-user-action ignore --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" ${_PIP_ADDITIONAL_REQUIREMENTS} || exit 1
    >&2 echo "Verifies if installed dependencies are consistent with airflow."
    PIP_DISABLE_PIP_VERSION_CHECK=1 pip check || exit 1
fi
case "${1:-}" in
    airflow | bash | python | python3) exec "$@" ;;
    *) exec airflow "$@" ;;
esac
