#!/usr/bin/env bash
# devstack test bed stand-in for Apache Kafka's bin/kafka-configs.sh
exec "$(dirname "$0")/kafka-run-class.sh" kafka.admin.ConfigCommand "$@"
