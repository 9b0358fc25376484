#!/bin/bash
# devstack test bed: apache/spark's /opt/entrypoint.sh for the non-k8s case: run the given command
# (under tini, so signals reach the JVM and zombies are reaped)
set -e
if [ $# -eq 0 ]; then set -- bash; fi
exec /usr/bin/tini -s -- "$@"
