#!/usr/bin/env bash
# devstack test bed stand-in for Apache Kafka's bin/kafka-consumer-groups.sh
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
