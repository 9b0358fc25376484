#!/bin/sh
# devstack test bed: /usr/bin/healthcheck.sh of the cAdvisor stand-in (the image's HEALTHCHECK), as upstream's
# deploy/healthcheck.sh behaves: the port is 8080 unless PID 1's command line has -port=N or --port=N (the
# `-port N` form is not looked for, as upstream), then one wget of /healthz.
port=8080
if [ -r /proc/1/cmdline ]; then
    for arg in $(tr '\0' ' ' </proc/1/cmdline); do
        case "$arg" in
            -port=*) port="${arg#-port=}" ;;
            --port=*) port="${arg#--port=}" ;;
        esac
    done
fi
wget --quiet --tries=1 --spider "http://localhost:${port}/healthz" || exit 1
