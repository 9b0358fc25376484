#!/usr/bin/env bash
# Build the test-bed base image from scratch: debootstrap (minbase) bookworm + the host's Debian apt
# sources, imported with `docker import`. Called by ../build_images.sh, which computes the tag.
#   usage: build_base.sh <image-tag> <host-dir>
# <host-dir>/apt holds the apt source files (*.list / *.sources) to install inside the image;
# <host-dir>/ca the host's locally added CA certificates (/usr/local/share/ca-certificates/*.crt), so
# HTTPS from inside builds works behind the same TLS-intercepting proxy as the host (if any).
set -euo pipefail
TAG="$1"; SRCDIR="$2/apt"; CADIR="$2/ca"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SUITE="${DEVSTACK_TESTBED_SUITE:-bookworm}"

# the mirror debootstrap fetches from = first Debian (non-security) URI in the copied sources
MIRROR="${DEVSTACK_TESTBED_MIRROR:-}"
if [ -z "$MIRROR" ]; then
    MIRROR="$(cat "$SRCDIR"/* 2>/dev/null \
        | grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v security | head -n1 | tr -d ' ')"
fi
MIRROR="${MIRROR:-http://deb.debian.org/debian}"

include="$(grep -vE '^\s*(#|$)' "$HERE/packages.txt" | tr '\n' ',' | sed 's/,$//')"
ROOTFS="$(mktemp -d /var/tmp/devstack-rootfs.XXXXXX)"
cleanup() { rm -rf --one-file-system "$ROOTFS"; }
trap cleanup EXIT

echo "[base] debootstrap --variant=minbase --include=$include $SUITE $MIRROR"
debootstrap --variant=minbase --include="$include" "$SUITE" "$ROOTFS" "$MIRROR"

# apt sources: the host's Debian entries
rm -f "$ROOTFS/etc/apt/sources.list"
mkdir -p "$ROOTFS/etc/apt/sources.list.d"
cp "$SRCDIR"/* "$ROOTFS/etc/apt/sources.list.d/"

# the host's extra CA certificates
if [ -n "$(ls -A "$CADIR" 2>/dev/null)" ]; then
    mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
    cp "$CADIR"/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
    chroot "$ROOTFS" update-ca-certificates
fi

# container conventions (as the official debian image / old docker base images do)
cat > "$ROOTFS/usr/sbin/policy-rc.d" <<'P'
#!/bin/sh
# no daemons started by package installs inside containers
exit 101
P
chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
cat > "$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'P'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
P
cat > "$ROOTFS/etc/apt/apt.conf.d/docker-no-recommends" <<'P'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
P
cat > "$ROOTFS/etc/dpkg/dpkg.cfg.d/docker-no-docs" <<'P'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
P
echo "devstack-testbed" > "$ROOTFS/etc/hostname"
: > "$ROOTFS/etc/resolv.conf"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
       "$ROOTFS"/debootstrap 2>/dev/null || true

echo "[base] docker import -> $TAG"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    --message "devstack-testbed base: debootstrap $SUITE minbase +$include" \
    - "$TAG" >/dev/null
