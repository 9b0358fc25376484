#!/usr/bin/env bash
# devstack test bed: a thin stand-in for Apache Kafka's bin/kafka-run-class.sh (the Maven jars carry no
# bin/ scripts). Usage: kafka-run-class.sh [-daemon] [-name N] [-loggc] <main-class> [args...]
# Honours KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS, KAFKA_LOG4J_OPTS, KAFKA_DEBUG, JMX_PORT,
# KAFKA_JMX_OPTS, LOG_DIR, JAVA_HOME, CLASSPATH.
set -e
base_dir="$(cd "$(dirname "$0")/.." && pwd)"

while [ $# -gt 0 ]; do
  case "$1" in
    -name) shift 2 ;;            # accepted for compatibility; no daemon/gc files here
    -loggc) shift ;;
    -daemon) DAEMON_MODE=true; shift ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "USAGE: $0 [-daemon] [-name servicename] [-loggc] classname [opts]" >&2; exit 1; }

CLASSPATH="${CLASSPATH:+$CLASSPATH:}$base_dir/libs/*"
LOG_DIR="${LOG_DIR:-$base_dir/logs}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx256M}"
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
KAFKA_LOG4J_OPTS="${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=$base_dir/config/tools-log4j2.yaml}"
if [ -n "$JMX_PORT" ]; then
  KAFKA_JMX_OPTS="${KAFKA_JMX_OPTS:--Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false -Dcom.sun.management.jmxremote.ssl=false} -Dcom.sun.management.jmxremote.port=$JMX_PORT"
fi
if [ -n "$KAFKA_DEBUG" ]; then
  KAFKA_OPTS="-agentlib:jdwp=transport=dt_socket,server=y,suspend=${DEBUG_SUSPEND_FLAG:-n},address=${JAVA_DEBUG_PORT:-*:5005} $KAFKA_OPTS"
fi
if [ -n "$JAVA_HOME" ]; then JAVA="$JAVA_HOME/bin/java"; else JAVA=java; fi

# shellcheck disable=SC2086
set -- "$JAVA" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_JMX_OPTS \
    "-Dkafka.logs.dir=$LOG_DIR" $KAFKA_LOG4J_OPTS -cp "$CLASSPATH" $KAFKA_OPTS "$@"
if [ "$DAEMON_MODE" = true ]; then
  mkdir -p "$LOG_DIR"
  nohup "$@" >"$LOG_DIR/kafka.out" 2>&1 </dev/null &
else
  exec "$@"
fi
