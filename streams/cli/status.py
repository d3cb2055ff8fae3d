"""Live pipeline status for the terminal board: a worker's /metrics plus consumer lag from Kafka."""

from __future__ import annotations

import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field, replace

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Status:
    at: float = field(default_factory=time.time)
    valid_by_channel: dict[str, float] = field(default_factory=dict)
    dead_by_reason: dict[str, float] = field(default_factory=dict)
    rows_by_table: dict[str, float] = field(default_factory=dict)
    store_failures: float = 0.0  # warehouse writes that failed and were retried
    identity_changes: dict[str, float] = field(default_factory=dict)
    identifiers_blocked: float = 0.0
    alerts: dict[tuple[str, str], float] = field(default_factory=dict)  # (rule, state) -> changes sent
    consumed: float = 0.0
    e2e_sum: float = 0.0
    e2e_count: float = 0.0
    lag: int | None = None
    state_keys: dict[str, float] = field(default_factory=dict)  # table -> keys held
    floor: dict[str, float] = field(default_factory=dict)  # live-floor KPI -> value (metrics.floor_kpis_seconds)
    rolled_up_until: float = 0.0  # store time the rollups have run up to (0: not yet)
    worker_up: bool = False
    unanswered: int = 0  # scrapes in a row the worker did not answer; the numbers are the last answer's


def carry(now: Status, before: Status) -> Status:
    """The last answer again, counted as unanswered, when the worker did not answer this scrape.

    Why: on a loaded box the worker's /metrics can miss a scrape's timeout; the board then showed
    zeros and no live floor (and ended on such a frame in CI) though the worker was working."""
    if now.worker_up or not (before.worker_up or before.unanswered):
        return now
    return replace(before, at=now.at, lag=now.lag, worker_up=False, unanswered=before.unanswered + 1)


def scrape(url: str, timeout: float = 1.0) -> Status:
    status = Status()
    try:
        text = urllib.request.urlopen(url, timeout=timeout).read().decode()
    except OSError:
        return status
    status.worker_up = True
    valid, dead, rows = defaultdict(float), defaultdict(float), defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            if name == "cxpulse_events_valid_total":
                valid[labels["channel"]] += value
            elif name == "cxpulse_dead_letters_total":
                dead[labels["reason"]] += value
            elif name == "cxpulse_rows_stored_total":
                rows[labels["table"]] += value
            elif name == "cxpulse_events_consumed_total" and labels.get("stage") == "ingest":
                status.consumed += value
            elif name == "cxpulse_state_keys":
                status.state_keys[labels["table"]] = value
            elif name == "cxpulse_identity_changes_total":
                status.identity_changes[labels["change"]] = status.identity_changes.get(labels["change"], 0.0) + value
            elif name == "cxpulse_alerts_total":
                key = (labels["rule"], labels["state"])
                status.alerts[key] = status.alerts.get(key, 0.0) + value
            elif name == "cxpulse_identifiers_blocked_total":
                status.identifiers_blocked += value
            elif name == "cxpulse_floor":
                status.floor[labels["kpi"]] = value
            elif name == "cxpulse_store_failures_total":
                status.store_failures += value
            elif name == "cxpulse_rolled_up_until_seconds":
                status.rolled_up_until = value
            elif name == "cxpulse_event_to_stored_seconds_sum":
                status.e2e_sum += value
            elif name == "cxpulse_event_to_stored_seconds_count":
                status.e2e_count += value
    status.valid_by_channel, status.dead_by_reason, status.rows_by_table = dict(valid), dict(dead), dict(rows)
    return status


class LagProbe:
    """Total lag of consumer groups over their topics ({group: topics}, see topics.committing_groups)."""

    def __init__(self, kafka_config: dict, groups: dict[str, list[str]], exact: bool = True) -> None:
        """exact: read each partition's last batch for its true end (streams.runtime.log_end); seconds per call,
        so a live board, polled every second, takes the broker's reported ends instead."""
        from kafka import KafkaAdminClient, KafkaConsumer

        self._admin = KafkaAdminClient(**kafka_config)
        self._consumer = KafkaConsumer(enable_auto_commit=False, **kafka_config)
        self.groups, self.exact = groups, exact

    def marks(self) -> dict | None:
        """{(group, TopicPartition): (committed offset, end offset)}, or None when Kafka is unreachable.
        A topic read by two groups (resolved: detection and the events sink) counts for each. The ends
        are read after the commits, so they hold everything a stage produced before it committed."""
        from kafka import TopicPartition
        from kafka.errors import KafkaError

        from streams.runtime.log_end import true_ends

        try:
            committed, read = {}, []
            for group, topics in self.groups.items():
                offsets = self._admin.list_group_offsets(group).get(group, {})
                for t in topics:
                    for p in self._consumer.partitions_for_topic(t) or ():
                        tp = TopicPartition(t, p)
                        read.append((group, tp))
                        if tp in offsets and offsets[tp].offset >= 0:
                            committed[group, tp] = offsets[tp].offset
            ends = self._consumer.end_offsets(list({tp for _, tp in read}))
            if self.exact:
                ends = true_ends(self._consumer, ends)
        except (KafkaError, OSError, TimeoutError):
            return None
        return {(group, tp): (committed.get((group, tp), 0), ends[tp]) for group, tp in read}

    def by_partition(self) -> dict | None:
        """{(group, TopicPartition): messages not yet committed by that group}, or None (see `marks`)."""
        marks = self.marks()
        return None if marks is None else {key: max(0, end - done) for key, (done, end) in marks.items()}

    def lag(self) -> int | None:
        parts = self.by_partition()
        return None if parts is None else sum(parts.values())

    def close(self) -> None:
        self._admin.close()
        self._consumer.close()
