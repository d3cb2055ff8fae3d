"""An upgrade that moves topics to a new consumer group starts it where the old group stopped, once."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

from streams.config import load_settings
from streams.runtime.topics import inherit_offsets

pytestmark = pytest.mark.integration


def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return {tp: o.offset for tp, o in admin.list_group_offsets(group).get(group, {}).items() if o.offset >= 0}
    finally:
        admin.close()


def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    consumer.commit({tp: OffsetAndMetadata(n, "", -1) for tp, n in offsets.items()})
    consumer.close()


def test_a_new_group_inherits_the_old_groups_offsets_once_and_only_for_its_topics(kafka_bootstrap):
    suffix = uuid.uuid4().hex[:8]
    moved, kept = f"alerts-{suffix}", f"validated-{suffix}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(moved, 2, 1), NewTopic(kept, 1, 1)])
    admin.close()
    old, new = f"app-{suffix}", f"app-{suffix}-sink-records"
    commit(kafka_bootstrap, old, {TopicPartition(moved, 0): 7, TopicPartition(moved, 1): 3, TopicPartition(kept, 0): 9})
    settings = load_settings(environ={"CXPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap})

    taken = inherit_offsets(settings, new, {old: [moved]})
    assert {tp: o.offset for tp, o in taken.items()} == {TopicPartition(moved, 0): 7, TopicPartition(moved, 1): 3}
    assert committed(kafka_bootstrap, new) == {TopicPartition(moved, 0): 7, TopicPartition(moved, 1): 3}

    commit(kafka_bootstrap, new, {TopicPartition(moved, 0): 12})  # the new group reads on
    commit(kafka_bootstrap, old, {TopicPartition(moved, 0): 8})   # an old worker still running
    assert inherit_offsets(settings, new, {old: [moved]}) == {}     # a restart takes nothing again
    assert committed(kafka_bootstrap, new)[TopicPartition(moved, 0)] == 12

    # a second move into the same group (the links' group into sink-records), asked as the worker asks at
    # every start (both previous groups), takes that topic only
    links, links_group = f"links-{suffix}", f"app-{suffix}-sink-identity-links"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(links, 1, 1)])
    admin.close()
    commit(kafka_bootstrap, links_group, {TopicPartition(links, 0): 5, TopicPartition(moved, 1): 1})
    taken = inherit_offsets(settings, new, {old: [moved], links_group: [links, moved]})
    assert {tp: o.offset for tp, o in taken.items()} == {TopicPartition(links, 0): 5}
    assert committed(kafka_bootstrap, new) == {TopicPartition(moved, 0): 12, TopicPartition(moved, 1): 3,
                                               TopicPartition(links, 0): 5}

    assert inherit_offsets(settings, f"fresh-{suffix}", {f"never-{suffix}": [moved]}) == {}  # a new install
    assert committed(kafka_bootstrap, f"fresh-{suffix}") == {}
