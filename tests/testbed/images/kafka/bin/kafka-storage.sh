#!/usr/bin/env bash
# devstack test bed stand-in for Apache Kafka's bin/kafka-storage.sh
exec "$(dirname "$0")/kafka-run-class.sh" kafka.tools.StorageTool "$@"
