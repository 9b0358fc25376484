#!/usr/bin/env bash
# devstack test bed stand-in for Apache Kafka's bin/kafka-server-stop.sh
pids=$(ps ax 2>/dev/null | grep -i 'kafka\.Kafka' | grep java | grep -v grep | awk '{print $1}')
[ -n "$pids" ] || { echo "No kafka server to stop"; exit 1; }
kill -s TERM $pids
