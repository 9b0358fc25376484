#!/usr/bin/env bash
# devstack test bed stand-in for Apache Kafka's bin/kafka-broker-api-versions.sh
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
