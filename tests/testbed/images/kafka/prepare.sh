#!/usr/bin/env bash
# Host-side step of the kafka image build (called by ../../build_images.sh with the build context dir):
# fetch the jars named by pom.xml from Maven Central with mvn (cached by pom hash) into <ctx>/libs/.
set -euo pipefail
CTX="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${DEVSTACK_TESTBED_CACHE:-$HOME/.cache/devstack-testbed}"
H="$(sha256sum "$HERE/pom.xml" | cut -c1-12)"
JARS="$CACHE/kafka-jars/$H"
if [ ! -f "$JARS/.done" ]; then
    command -v mvn >/dev/null || { echo "mvn missing (apt-get install maven)" >&2; exit 1; }
    rm -rf "$JARS"; mkdir -p "$JARS"
    mvn -B -q -f "$HERE/pom.xml" -Dmaven.repo.local="$CACHE/m2" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$JARS"
    touch "$JARS/.done"
fi
mkdir -p "$CTX/libs"
cp "$JARS"/*.jar "$CTX/libs/"
echo "kafka: $(ls "$CTX/libs" | wc -l) jars from $JARS"
