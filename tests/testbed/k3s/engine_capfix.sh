#!/usr/bin/env bash
# Make privileged containers startable on a Docker engine whose machine withholds a capability from every
# process (this test bed's VMs: CAP_SYS_RESOURCE is not in PID 1's bounding set, so `docker run --privileged`
# fails with "unable to apply caps: operation not permitted", and k3d's nodes, all privileged, never start).
#
#   engine_capfix.sh            # install runc-capfix, register it as a runtime (no default change)
#   engine_capfix.sh --default  # ... and make it the engine's default runtime (k3d names no runtime)
#   engine_capfix.sh --no-default   # back to runc as the default runtime (runc-capfix stays registered)
#   engine_capfix.sh --check    # exit 0 when privileged containers start under the default runtime
#   engine_capfix.sh --if-needed    # --default when the engine's bounding set lacks a capability, else nothing
#                                   # (setup.sh, right after install_engine.sh: needs no image)
#
# runc-capfix (runc-capfix/main.go) removes from a container's capability sets the ones outside its own bounding
# set, then execs runc unchanged: a spec naming no such capability (any unprivileged container) is untouched.
# The engine is reloaded with SIGHUP (runtimes and default-runtime are live-reloadable): running containers keep
# the runtime they started with, nothing restarts. /etc/docker/daemon.json is merged, not replaced.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN=/usr/local/bin/runc-capfix
log() { printf '[engine-capfix] %s\n' "$*" >&2; }

privileged_ok() { # image: true when a privileged container starts under the given runtime (default if none)
    docker run --rm --privileged ${2:+--runtime "$2"} --entrypoint /bin/true "$1" >/dev/null 2>&1
}
probe_image() { local b; b="$(sed -n 's/^DEVSTACK_IMAGE_BASE=//p' "$HERE/../images.env" 2>/dev/null)" \
    && [ -n "$b" ] && docker image inspect "$b" >/dev/null 2>&1 && echo "$b"; }

if [ "${1:-}" = --check ]; then privileged_ok "$(probe_image || true)"; exit; fi

if [ "${1:-}" = --if-needed ]; then
    # Docker's privileged spec asks for every capability up to the kernel's last one; runc fails on any the
    # engine's bounding set lacks (inherited from PID 1 on these VMs). Read it from dockerd itself.
    pid="$(pgrep -x dockerd | sed -n 1p)"; status="/proc/${pid:-self}/status"
    bnd="$(awk '/^CapBnd:/ { print $2 }' "$status")"
    full=$(( (1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1 ))
    if [ -n "$bnd" ] && (( (0x$bnd & full) == full )); then
        log "not needed: the engine's bounding set holds every capability (CapBnd $bnd, $status)"
        exit 0
    fi
    log "needed: the engine's bounding set lacks capabilities (CapBnd $bnd of $(printf '%x' "$full"), $status)"
    set -- --default
fi

if [[ -x /usr/local/go/bin/go && ":$PATH:" != *":/usr/local/go/bin:"* ]]; then PATH="$PATH:/usr/local/go/bin"; fi
h="$(sha256sum "$HERE/runc-capfix/main.go" | cut -c1-12)"
if ! grep -qs "capfix-$h" "$BIN.version"; then
    tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
    cp "$HERE/runc-capfix/main.go" "$tmp/"; printf 'module devstack.test/runc-capfix\n\ngo 1.24\n' >"$tmp/go.mod"
    (cd "$tmp" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$tmp/runc-capfix" .)
    install -m 0755 "$tmp/runc-capfix" "$BIN.new" && mv "$BIN.new" "$BIN"
    echo "capfix-$h" >"$BIN.version"
    log "installed $BIN ($h)"
fi

want_default=keep; [ "${1:-}" = --default ] && want_default=1; [ "${1:-}" = --no-default ] && want_default=0
mkdir -p /etc/docker
changed="$(python3 - "$want_default" "$BIN" <<'PY'
import json, os, sys
binary = sys.argv[2]
path = "/etc/docker/daemon.json"
conf = json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else {}
before = json.dumps(conf, sort_keys=True)
conf.setdefault("runtimes", {})["runc-capfix"] = {"path": binary}
if sys.argv[1] == "1":
    conf["default-runtime"] = "runc-capfix"
elif sys.argv[1] == "0" and conf.get("default-runtime") == "runc-capfix":
    del conf["default-runtime"]
if json.dumps(conf, sort_keys=True) != before:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(conf, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    print("changed")
PY
)"
if [ "$changed" = changed ]; then
    kill -HUP "$(pgrep -x dockerd)"
    for _ in $(seq 20); do docker info 2>/dev/null | grep -q 'runc-capfix' && break; sleep 0.5; done
    log "engine reloaded: $(docker info 2>/dev/null | grep -E 'Runtimes|Default Runtime' | tr -s ' ' | tr '\n' ';')"
fi
img="$(probe_image || true)"
if [ -z "$img" ]; then   # a fresh machine: nothing to probe with before build_images.sh (smoke.sh --checks later)
    log "no test-bed base image yet: privileged containers not probed (engine_capfix.sh --check, once built)"
    exit 0
fi
if privileged_ok "$img" runc-capfix; then log "privileged containers start under runc-capfix"; else log "privileged containers still fail under runc-capfix"; exit 1; fi
if privileged_ok "$img"; then log "privileged containers start under the default runtime"
else log "privileged containers fail under the default runtime (run with --default for k3d)"; fi
