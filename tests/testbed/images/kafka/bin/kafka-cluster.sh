#!/usr/bin/env bash
# devstack test bed stand-in for Apache Kafka's bin/kafka-cluster.sh
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.ClusterTool "$@"
