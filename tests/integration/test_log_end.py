"""The true end of a partition after multi-record batches, on whichever broker the suite runs on."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from streams.runtime.log_end import true_ends

pytestmark = pytest.mark.integration


def test_true_end_counts_every_record_of_the_last_batch(kafka_bootstrap):
    topic = f"log-end-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 2, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=50)
    for i in range(20):  # one produce batch per partition: 20 records on 0, 7 on 1
        producer.send(topic, b"v%d" % i, partition=0)
    for i in range(7):
        producer.send(topic, b"w%d" % i, partition=1)
    producer.flush()
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    tps = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
    try:
        assert true_ends(consumer, consumer.end_offsets(tps)) == {tps[0]: 20, tps[1]: 7}
    finally:
        consumer.close()
