"""Consumer lag per topic as a worker metric (cxpulse_consumer_lag_messages), for boards and alerts.

Read from the worker's own consumers (Faust's and the batch sources') once a second on the app's loop, with no extra Kafka request:
for each assigned partition of a topic whose offsets the worker commits (changelogs are not
committed), the log end the last fetch reported minus the committed offset. Each partition is
assigned to one worker, so the sum over workers is the group's lag. Topics no longer assigned read
0. On the embedded broker, which under-reports log ends (streams.runtime.log_end), it reads low.
"""

from __future__ import annotations

import faust

from streams.runtime import metrics
from streams.runtime.batch_source import BatchSource


def by_topic(app: faust.App) -> dict[str, int]:
    """{topic: messages not yet committed} over this worker's assigned partitions with a known end."""
    consumer, lag = app.consumer, {}
    for tp in consumer.assignment():
        if not app.topics.acks_enabled_for(tp.topic):
            continue
        try:
            end = consumer.highwater(tp)
        except AssertionError:  # aiokafka: revoked since assignment() (its own thread rebalances)
            continue
        if end is not None:
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, end - (consumer._committed_offset.get(tp) or 0))
    return lag


def register(app: faust.App, sources: list[BatchSource], interval: float = 1.0) -> None:
    """sources: the batch sources (streams.runtime.batch_source), whose consumers are not Faust's."""
    gauge, seen = metrics.Children(metrics.CONSUMER_LAG), set()

    @app.timer(interval=interval, name="consumer-lag")
    async def measure_lag() -> None:
        lag = dict.fromkeys(seen, 0) | by_topic(app)
        for source in sources:
            lag |= source.lag()
        for topic, messages in lag.items():
            gauge(topic).set(messages)
        seen.update(lag)
