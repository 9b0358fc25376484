#!/usr/bin/env bash
# Build the devstack test-bed images (no registry needed).
#
#   build_images.sh              # base + every tests/testbed/images/*/Dockerfile
#   build_images.sh kafka redis  # base + just these
#   build_images.sh base         # just the base
#   build_images.sh base-trixie  # just the trixie base
#
# Two bases, one recipe (tests/testbed/base/): `base` is debootstrap bookworm, `base-trixie` debootstrap trixie
# (python3 3.13), each with the host's Debian apt sources for its suite. An image is built on `base` unless its
# directory has a file `base` naming another (images/jupyter/base: base-trixie); it gets it as `ARG BASE`.
#
# Tags: devstack-testbed/<base>:<h0>, devstack-testbed/<svc>:<h>, where h0 = sha256 over tests/testbed/base/*
# + the apt sources and CAs copied in, and h = sha256 over its base's tag + every file of images/<svc>/ (dotfiles
# excluded). A tag that already exists is not rebuilt. Writes/merges tests/testbed/images.env with
# DEVSTACK_IMAGE_<SVC>=<tag> lines (DEVSTACK_IMAGE_BASE, DEVSTACK_IMAGE_BASE_TRIXIE for the bases).
#
# DEVSTACK_IMAGE_SPARK is the jupyter image's tag: devstack's Spark master and worker run on the pyspark-notebook
# image, whose stand-in is images/jupyter (`build_images.sh spark` builds jupyter).
#
# Optional per-image hook: images/<svc>/prepare.sh <context-dir> runs on the host before `docker build`
# (e.g. kafka fetches its jars from Maven Central with mvn); the build context is a temp copy of the
# image dir, so nothing generated lands in the repo. Host cache: ${DEVSTACK_TESTBED_CACHE:-~/.cache/devstack-testbed}.
#
# Builds run side by side, DEVSTACK_TESTBED_JOBS at a time (default 3), the slowest first: on two cores
# most of an image's time is waiting on downloads (PyPI, the Go module proxy, Debian), so three at once
# finish sooner than one after the other. Each build has its own log; a failure stops none of the others,
# and the script exits 1 after all have ended, naming every image that failed.
#
# Env: DEVSTACK_TESTBED_FORCE=1 rebuilds even when the tag exists.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGES_DIR="$HERE/images"
HERE_LIB="$HERE/lib"
BASE_DIR="$HERE/base"
ENV_FILE="$HERE/images.env"
export DEVSTACK_TESTBED_CACHE="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}"
LOG_DIR="$DEVSTACK_TESTBED_CACHE/logs"
mkdir -p "$LOG_DIR"
export DOCKER_BUILDKIT=0   # no buildx plugin on these machines; the classic builder is enough

log() { printf '[build_images] %s\n' "$*" >&2; }
die() { printf '[build_images] ERROR: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "docker engine not answering: run tests/testbed/install_engine.sh first"

# short sha256 over the files of the given dirs (relative path + content), dotfiles excluded
hash_dirs() {
    local d
    for d in "$@"; do
        (cd "$d" && find . -type f ! -path '*/.*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    done
}
short() { sha256sum | cut -c1-12; }

# ---- the bases: for each, the apt sources and CAs copied in, in $HOST_TMP/<base>/{apt,ca} -----------
declare -A SUITE=([base]="${DEVSTACK_TESTBED_SUITE:-bookworm}" [base-trixie]=trixie)
HOST_SUITE="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
HOST_TMP="$(mktemp -d)"
trap 'rm -rf "$HOST_TMP"' EXIT
base_inputs() { # name: the host's Debian entries (its own suite renamed to the base's) and its local CAs
    local suite="${SUITE[$1]}" src="$HOST_TMP/$1/apt" ca="$HOST_TMP/$1/ca" f n
    mkdir -p "$src" "$ca"
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        if grep -vE '^\s*#' "$f" | grep -E 'https?://[^ ]+/debian(-security)?/?( |$)' >/dev/null; then
            n="$(basename "$f")"; [ "$n" = sources.list ] && n=host-sources.list
            if [ -n "$HOST_SUITE" ] && [ "$HOST_SUITE" != "$suite" ]; then
                sed "s/\b$HOST_SUITE\b/$suite/g" "$f" >"$src/$n"   # bookworm-updates: trixie-updates
            else
                cp "$f" "$src/$n"
            fi
        fi
    done
    if [ -z "$(ls -A "$src")" ]; then
        log "$1: no Debian apt source on the host; using deb.debian.org"
        printf 'deb http://deb.debian.org/debian %s main\ndeb http://deb.debian.org/debian %s-updates main\ndeb http://deb.debian.org/debian-security %s-security main\n' \
            "$suite" "$suite" "$suite" >"$src/debian.list"
    fi
    # the host's locally added CA certificates (a TLS-intercepting proxy's CA must be trusted in builds)
    for f in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
        [ -f "$f" ] && cp "$f" "$ca/"
    done
    return 0
}
declare -A BASE_TAGS=()
for b in "${!SUITE[@]}"; do
    base_inputs "$b"
    BASE_TAGS[$b]="devstack-testbed/$b:$( { hash_dirs "$BASE_DIR"; hash_dirs "$HOST_TMP/$b"; } | short)"
done

declare -A TAGS=()
declare -A TIMES=()

tag_exists() { docker image inspect "$1" >/dev/null 2>&1 && [ "${DEVSTACK_TESTBED_FORCE:-0}" != 1 ]; }

fail_build() { # name logfile
    log "FAILED: $1 (log: $2); last lines:"
    tail -n 40 "$2" >&2 || true
    die "image '$1' failed to build"
}

build_base() { # name (in a subshell of its own, beside the image builds: see "bases" below)
    local b="$1" tag="${BASE_TAGS[$1]}"
    if tag_exists "$tag"; then log "$b: $tag exists, skipping"; record "$b" "$tag" cached; return; fi
    local t0=$SECONDS logf="$LOG_DIR/$b.log"
    log "$b: building $tag (debootstrap ${SUITE[$b]}; log: $logf)"
    DEVSTACK_TESTBED_SUITE="${SUITE[$b]}" "$BASE_DIR/build_base.sh" "$tag" "$HOST_TMP/$b" >"$logf" 2>&1 \
        || fail_build "$b" "$logf"
    record "$b" "$tag" "$((SECONDS - t0))s"
    log "$b: built $tag in $((SECONDS - t0))s"
}

# an image's build waits here, after its prepare.sh (downloads, Go builds: no base needed), for its base
wait_base() { # base
    local mark="$HOST_TMP/bases/$1"
    while [ ! -e "$mark.ready" ]; do
        [ -e "$mark.failed" ] && { log "its base $1 failed to build"; return 1; }
        sleep 1
    done
}

# the base an image is built on: the one its file `base` names, else `base`
base_of() {
    local b=base
    if [ -f "$IMAGES_DIR/$1/base" ]; then b="$(tr -d '[:space:]' <"$IMAGES_DIR/$1/base")"; fi
    [ -n "${SUITE[$b]:-}" ] || die "images/$1/base names '$b', which is none of: ${!SUITE[*]}"
    echo "$b"
}

build_svc() {
    local svc="$1" dir="$IMAGES_DIR/$1"
    [ -f "$dir/Dockerfile" ] || die "no Dockerfile in $dir"
    local h tag base_tag
    base_tag="${BASE_TAGS[$(base_of "$svc")]}"
    local shared=()  # scripts an image's prepare.sh calls are part of what it is built from
    if [ -f "$dir/prepare.sh" ] && grep -q 'lib/' "$dir/prepare.sh"; then shared=("$HERE_LIB"); fi
    h="$( { echo "$base_tag"; hash_dirs "$dir" "${shared[@]}"; } | short)"
    tag="devstack-testbed/$svc:$h"
    if tag_exists "$tag"; then log "$svc: $tag exists, skipping"; record "$svc" "$tag" cached; return; fi
    local t0=$SECONDS logf="$LOG_DIR/$svc.log" ctx
    ctx="$(mktemp -d /var/tmp/devstack-ctx-$svc.XXXXXX)"
    cp -a "$dir/." "$ctx/"
    log "$svc: building $tag (log: $logf)"
    : >"$logf"
    local cpu=""
    if [ -x "$dir/prepare.sh" ]; then
        local TIMEFORMAT='%U %S'   # the CPU its downloads and Go builds took, for the summary
        { time "$dir/prepare.sh" "$ctx" >>"$logf" 2>&1; } 2>"$ctx.cpu" || { rm -rf "$ctx" "$ctx.cpu"; fail_build "$svc (prepare.sh)" "$logf"; }
        cpu="$(awk '{ printf ", prepare %d s of CPU", $1 + $2 }' "$ctx.cpu")"; rm -f "$ctx.cpu"
    fi
    wait_base "$(base_of "$svc")" || { rm -rf "$ctx"; fail_build "$svc (its base)" "$logf"; }
    if ! docker build --build-arg "BASE=$base_tag" -t "$tag" \
            --label "org.devstack.testbed.svc=$svc" --label "org.devstack.testbed.hash=$h" \
            "$ctx" >>"$logf" 2>&1; then
        rm -rf "$ctx"; fail_build "$svc" "$logf"
    fi
    rm -rf "$ctx"
    record "$svc" "$tag" "$((SECONDS - t0))s$cpu"
    log "$svc: built $tag in $((SECONDS - t0))s$cpu"
}

# images.env names these with another image's tag instead of building them: devstack's Spark runs on the
# pyspark-notebook image (its stand-in: images/jupyter)
declare -A SAME_AS=([spark]=jupyter)

# a build runs in a subshell of its own: it hands its tag and time back through a file
RESULTS="$HOST_TMP/results"; mkdir -p "$RESULTS"
record() { printf '%s %s\n' "$2" "$3" >"$RESULTS/$1"; }
collect() {
    local f svc
    for f in "$RESULTS"/*; do
        [ -f "$f" ] || continue
        svc="$(basename "$f")"
        read -r TAGS[$svc] TIMES[$svc] <"$f"
    done
    for svc in "${!SAME_AS[@]}"; do
        if [ -n "${TAGS[${SAME_AS[$svc]}]:-}" ]; then TAGS[$svc]="${TAGS[${SAME_AS[$svc]}]}"; TIMES[$svc]="= ${SAME_AS[$svc]}"; fi
    done
}

# ---- images.env (merge: keep other lines, replace ours); also runs after a failed build -------------
write_env() {
    [ "${#TAGS[@]}" -gt 0 ] || return 0
    exec 9>"${TMPDIR:-/tmp}/devstack-testbed-images.env.lock"
    flock 9
    tmp_env="$(mktemp "$ENV_FILE.XXXXXX")"
    {
        echo "# generated by tests/testbed/build_images.sh (merged across runs; do not commit)"
        {
            [ -f "$ENV_FILE" ] && grep -E '^DEVSTACK_IMAGE_[A-Z0-9_]+=' "$ENV_FILE" || true
            for svc in "${!TAGS[@]}"; do
                echo "DEVSTACK_IMAGE_$(echo "$svc" | tr 'a-z-' 'A-Z_')=${TAGS[$svc]}"
            done
        } | awk -F= '{ v[$1] = $0 } END { for (k in v) print v[k] }' | LC_ALL=C sort
    } >"$tmp_env"
    chmod 0644 "$tmp_env"
    mv "$tmp_env" "$ENV_FILE"
    flock -u 9

}
on_exit() { local rc=$?; collect; write_env || true; rm -rf "$HOST_TMP"; return $rc; }
trap on_exit EXIT

# ---- which images ---------------------------------------------------------------------------------
want=(); bases=(base)   # the bookworm base always: the tests take it from images.env (DEVSTACK_IMAGE_BASE)
if [ "$#" -gt 0 ]; then
    for a in "$@"; do
        if [ -n "${SUITE[$a]:-}" ]; then [[ " ${bases[*]} " == *" $a "* ]] || bases+=("$a")
        elif [ -n "${SAME_AS[$a]:-}" ]; then want+=("${SAME_AS[$a]}")
        else want+=("$a"); fi
    done
else
    for d in "$IMAGES_DIR"/*/; do
        svc="$(basename "$d")"
        if [ -f "$d/Dockerfile" ] && [ -z "${SAME_AS[$svc]:-}" ]; then want+=("$svc"); fi
    done
fi
for svc in "${want[@]}"; do
    [ -f "$IMAGES_DIR/$svc/Dockerfile" ] || die "no Dockerfile in $IMAGES_DIR/$svc"
    b="$(base_of "$svc")"; [[ " ${bases[*]} " == *" $b "* ]] || bases+=("$b")
done

# the slowest first (cold times on two cores), so the long builds do not start last
SLOWEST_FIRST=(jupyter minio airflow mlserver mlflow prometheus cadvisor kafka-exporter alertmanager registry postgres)
ordered=()
for svc in "${SLOWEST_FIRST[@]}"; do [[ " ${want[*]} " == *" $svc "* ]] && ordered+=("$svc"); done
for svc in "${want[@]}"; do [[ " ${ordered[*]} " == *" $svc "* ]] || ordered+=("$svc"); done

# the bases build side by side with each other and with the images' prepare.sh steps (which need none); each
# image's docker build waits for its own base (wait_base)
mkdir -p "$HOST_TMP/bases"
BASE_PIDS=()
for b in "${bases[@]}"; do
    ( trap - EXIT; if ( build_base "$b" ); then touch "$HOST_TMP/bases/$b.ready"; else touch "$HOST_TMP/bases/$b.failed"; exit 1; fi ) &
    BASE_PIDS+=($!)
done
JOBS="${DEVSTACK_TESTBED_JOBS:-3}"
declare -A PIDS=()   # pid -> image
failed=()
reap() { # wait for one build to end
    local pid
    if ! wait -n -p pid "${!PIDS[@]}"; then failed+=("${PIDS[$pid]}"); fi
    unset "PIDS[$pid]"
}
t_all=$SECONDS
# how busy the machine's cores were while the images built (/proc/stat): near 100 % means more builds side by
# side cannot help, only less work can
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
read -r busy0 total0 < <(cpu_ticks)
for svc in "${ordered[@]}"; do
    while [ "${#PIDS[@]}" -ge "$JOBS" ]; do reap; done
    ( trap - EXIT; build_svc "$svc" ) &
    PIDS[$!]="$svc"
done
while [ "${#PIDS[@]}" -gt 0 ]; do reap; done
for i in "${!BASE_PIDS[@]}"; do wait "${BASE_PIDS[$i]}" || failed+=("${bases[$i]}"); done
collect
[ "${#failed[@]}" -eq 0 ] || die "failed to build: ${failed[*]} (logs in $LOG_DIR)"
read -r busy1 total1 < <(cpu_ticks)
log "all images in $((SECONDS - t_all))s ($JOBS at a time; cores $(( (busy1 - busy0) * 100 / (total1 - total0 + 1) )) % busy)"

log "summary:"
also=(); for k in "${!SAME_AS[@]}"; do if [[ " ${want[*]} " == *" ${SAME_AS[$k]} "* ]]; then also+=("$k"); fi; done
for k in "${bases[@]}" "${want[@]}" "${also[@]}"; do printf '  %-12s %-44s %s\n' "$k" "${TAGS[$k]}" "${TIMES[$k]}" >&2; done
log "wrote $ENV_FILE"
