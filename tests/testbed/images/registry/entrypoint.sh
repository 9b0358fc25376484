#!/bin/sh
# devstack test bed: the stand-in's /entrypoint.sh, written for this image from the documented behaviour of
# registry:2's (distribution/distribution-library-image: ENTRYPOINT ["/entrypoint.sh"],
# CMD ["/etc/docker/registry/config.yml"]):
#   a first argument ending in .yml or .yaml   -> registry serve "$@"
#   serve, garbage-collect, help or -anything  -> registry "$@"
#   anything else                              -> exec "$@" as given
set -e

case "$1" in
    *.yml | *.yaml)
        set -- registry serve "$@"
        ;;
    serve | garbage-collect | help | -*)
        set -- registry "$@"
        ;;
esac

exec "$@"
