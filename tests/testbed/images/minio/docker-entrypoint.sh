#!/bin/sh
# As the official image's entrypoint: prepend `minio` unless the command already starts with it.
if [ "${1}" != "minio" ] && [ -n "${1}" ]; then
	set -- minio "$@"
fi
exec "$@"
