#!/bin/bash
# devstack test bed: the stand-in's start.sh (on PATH, /usr/local/bin/start.sh), written for this image from the
# documented behaviour of quay.io/jupyter/pyspark-notebook's for a container that starts as its non-root user
# (ENTRYPOINT ["tini", "-g", "--", "start.sh"]):
#   - run the hooks of /usr/local/bin/start-notebook.d/, then of /usr/local/bin/before-notebook.d/, in name order:
#     *.sh files are sourced (executable or not, so what they export reaches the command), other executable files
#     are run, anything else is skipped; the pyspark image's 10spark-config.sh exports SPARK_CONF_DIR;
#   - then exec the command given, or, with none, JupyterLab (`jupyter lab --ip=0.0.0.0 --port=8888 --no-browser`).
# Not reproduced: what the official script does when started as root (NB_USER renaming, NB_UID/NB_GID changes,
# GRANT_SUDO, CHOWN_HOME, ...); devstack runs the image as its own user 1000.

# logs go to stderr, so a command's own stdout stays its own; JUPYTER_DOCKER_STACKS_QUIET silences all but
# ERROR:/WARNING: lines
_log() {
    if [[ "$*" == "ERROR:"* || "$*" == "WARNING:"* || -z "${JUPYTER_DOCKER_STACKS_QUIET:-}" ]]; then echo "$@" >&2; fi
}

run_hooks() {
    local dir="$1" f
    [[ -d "$dir" ]] || return 0
    _log "Entered start.sh hooks: running hooks in: $dir"
    for f in "$dir"/*; do
        [[ -e "$f" ]] || continue
        case "$f" in
            *.sh)
                _log "Sourcing shell script: $f"
                # shellcheck disable=SC1090
                source "$f" || _log "WARNING: $f failed with exit code $?, continuing"
                ;;
            *)
                if [[ -x "$f" ]]; then
                    _log "Running executable: $f"
                    "$f" || _log "WARNING: $f failed with exit code $?, continuing"
                else
                    _log "Ignoring non-executable: $f"
                fi
                ;;
        esac
    done
    _log "Done running hooks in: $dir"
}

if [[ -n "${NB_UMASK:-}" ]]; then umask "$NB_UMASK"; fi

run_hooks /usr/local/bin/start-notebook.d
run_hooks /usr/local/bin/before-notebook.d

if [[ "$#" -eq 0 ]]; then
    set -- jupyter lab --ip=0.0.0.0 --port="${JUPYTER_PORT:-8888}" --no-browser
fi
_log "Executing the command: $*"
exec "$@"
