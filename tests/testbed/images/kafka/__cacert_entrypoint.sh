#!/bin/sh
# devstack test bed: the stand-in's /__cacert_entrypoint.sh, written for this image from the documented behaviour
# of the one apache/kafka inherits from eclipse-temurin (its ENTRYPOINT): with USE_SYSTEM_CA_CERTS set, the
# official script imports /certificates/*.crt into the JVM's truststore (as root; otherwise it warns); then, in
# every case, it execs its arguments. This stand-in does not import anything: Debian's OpenJDK already trusts the
# system store (ca-certificates-java), which carries the host's CAs. It says so and goes on.
set -e

if [ -n "${USE_SYSTEM_CA_CERTS:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "__cacert_entrypoint.sh: USE_SYSTEM_CA_CERTS is set, but certificates can only be imported as root" >&2
    fi
    echo "__cacert_entrypoint.sh: note: the devstack test-bed stand-in does not import /certificates/*.crt" \
         "(its JVM uses Debian's system truststore); continuing" >&2
fi

exec "$@"
