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
# As the official entrypoint: PIP_USER must not leak into the venvs PythonVirtualenvOperator creates.
unset PIP_USER
# _PIP_ADDITIONAL_REQUIREMENTS, as the official entrypoint honours it: pip install (as the user: into ~/.local)
# with Airflow pinned to this image's release, then pip check; and then, as upstream does, the container is
# killed (`kill -HUP 0`, the whole process group) after KILL_TIMEOUT=600 s, so a stack relying on it restarts
# every 10 minutes. devstack does not set it; this keeps the test bed honest if anything does.
# _TESTBED_PIP_KILL_TIMEOUT (test bed only) shortens the timer to check it.
if [[ -n "${_PIP_ADDITIONAL_REQUIREMENTS:-}" ]]; then
    KILL_TIMEOUT="${_TESTBED_PIP_KILL_TIMEOUT:-600}"
    >&2 echo "Installing additional requirements: '${_PIP_ADDITIONAL_REQUIREMENTS}'"
    >&2 echo "WARNING: This is a development/test feature only. NEVER use it in production!"
    # shellcheck disable=SC2086  # a space-separated list of requirement specifiers, as upstream splits it
    PIP_DISABLE_PIP_VERSION_CHECK=1 pip install --user --root-user-action ignore --no-cache-dir \
        "apache-airflow==${AIRFLOW_VERSION}" ${_PIP_ADDITIONAL_REQUIREMENTS} || exit 1
    >&2 echo "Verifies if installed dependencies are consistent with airflow."
    PIP_DISABLE_PIP_VERSION_CHECK=1 pip check || exit 1
    >&2 echo "Since you are using the image with _PIP_ADDITIONAL_REQUIREMENTS, the container will shutdown after $((KILL_TIMEOUT / 60)) minutes of use."
    (
        sleep "${KILL_TIMEOUT}"
        >&2 echo "Restarting the container after $((KILL_TIMEOUT / 60)) minutes of running with _PIP_ADDITIONAL_REQUIREMENTS"
        sleep 1
        kill -HUP 0
    ) &
fi
case "${1:-}" in
    airflow | bash | python | python3) exec "$@" ;;
    *) exec airflow "$@" ;;
esac
