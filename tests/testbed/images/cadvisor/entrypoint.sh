#!/bin/sh
# devstack test bed: /usr/bin/entrypoint.sh of the cAdvisor stand-in, as upstream's deploy/entrypoint.sh behaves:
# cAdvisor logging to stderr, with the container's arguments after it.
set -e
exec /usr/bin/cadvisor -logtostderr "$@"
