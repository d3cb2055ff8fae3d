"""The lag that `wait_drained` and the demo wait on counts every group that reads a topic."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from streams.cli.status import LagProbe

pytestmark = pytest.mark.integration


def test_a_group_that_never_committed_counts_beside_one_that_caught_up(kafka_bootstrap):
    """The resolved topic is read by detection and by the events sink: either may lag."""
    topic, suffix = f"lag-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for i in range(5):
        producer.send(topic, b"r%d" % i, partition=0)
    producer.flush()
    producer.close()
    tp = TopicPartition(topic, 0)
    caught_up, stuck = f"caught-up-{suffix}", f"stuck-{suffix}"
    committer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=caught_up, enable_auto_commit=False)
    committer.commit({tp: OffsetAndMetadata(5, "", -1)})
    committer.close()

    for groups in ({caught_up: [topic], stuck: [topic]}, {stuck: [topic], caught_up: [topic]}):
        probe = LagProbe({"bootstrap_servers": kafka_bootstrap}, groups)
        try:
            assert probe.by_partition() == {(caught_up, tp): 0, (stuck, tp): 5}
            assert probe.lag() == 5
        finally:
            probe.close()
