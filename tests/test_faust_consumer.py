"""Commit offsets: never past an offset that was not acked, whatever was acked and gapped."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st
from intervaltree import IntervalTree

from streams.runtime.faust_consumer import next_commit


def first_missing(done: set[int], start: int) -> int:
    while start in done:
        start += 1
    return start


@given(st.integers(0, 50), st.sets(st.integers(0, 120), max_size=60),
       st.lists(st.tuples(st.integers(0, 120), st.integers(1, 10)), max_size=4))
@example(committed=5, acked={5}, gaps=[(3, 10)])  # a gap reaching past the last ack counts whole, as in Faust
def test_the_commit_stops_at_the_first_offset_neither_acked_nor_in_a_gap(committed, acked, gaps):
    acked = {a for a in acked if a >= committed}  # Faust's ack() drops offsets below the committed one
    tree = IntervalTree.from_tuples((begin, begin + length) for begin, length in gaps)
    # Faust counts every gap interval that starts before the highest ack, all of it
    covered = {n for begin, length in gaps if begin < max(acked, default=-1) for n in range(begin, begin + length)}
    offset = next_commit(sorted(acked), set(acked), tree, committed)
    if not acked:
        assert offset is None
    elif committed not in acked | covered:
        assert offset is None  # a hole at the head holds the commit (Faust 0.15 skipped one offset here)
    else:
        assert offset == first_missing(acked | covered, committed)


def test_a_hole_right_after_the_committed_offset_holds_the_commit():
    acked = [11, 12, 13]
    assert next_commit(acked, set(acked), IntervalTree(), committed=10) is None
    assert acked == [11, 12, 13]  # kept for when offset 10 is acked
    acked.append(10)
    assert next_commit(acked, set(acked), IntervalTree(), committed=10) == 14
    assert acked == []


def test_duplicate_acks_count_once():
    acked = [5, 6, 6, 7, 9]
    assert next_commit(acked, set(acked), IntervalTree(), committed=5) == 8
    assert acked == [9]


def test_a_partition_held_by_a_hole_for_hole_timeout_is_read_again_from_its_committed_offset():
    import asyncio
    import time
    from collections import defaultdict
    from types import SimpleNamespace

    from faust.types import TP

    from streams.runtime.faust_consumer import GapSafeConsumer

    held, fresh = TP("cx.events.resolved", 4), TP("cx.events.resolved", 5)
    seeks = []

    async def seek_wait(partitions):
        seeks.append(dict(partitions))

    consumer = SimpleNamespace(
        app=SimpleNamespace(rebalancing=False, should_stop=False,
                            cx_settings=SimpleNamespace(kafka=SimpleNamespace(hole_timeout=10.0))),
        _hole_since={held: time.monotonic() - 11, fresh: time.monotonic() - 1},
        assignment=lambda: {held, fresh}, _committed_offset=defaultdict(lambda: None, {held: 19, fresh: 7}),
        _acked=defaultdict(list, {held: [20, 21], fresh: [9]}), _acked_index=defaultdict(set, {held: {20, 21}, fresh: {9}}),
        _gap=defaultdict(IntervalTree), _delivered={held: 21, fresh: 9}, seek_wait=seek_wait)
    asyncio.run(GapSafeConsumer._read_holes_again(consumer))
    assert seeks == [{held: 19}]  # only the partition held for longer than hole_timeout
    assert consumer._acked[held] == [] and consumer._acked_index[held] == set() and held not in consumer._delivered
    assert consumer._acked[fresh] == [9] and fresh in consumer._hole_since


def test_a_partition_with_no_committed_offset_is_read_from_its_beginning_and_commits_start_there():
    """Records skipped before Faust's seek (flow control still off) must be read again and not be
    committed past: the restarted worker of the kill -9 test lost resolved envelopes 0-2 so."""
    import asyncio
    from collections import defaultdict
    from types import SimpleNamespace

    from faust.types import TP

    from streams.runtime.faust_consumer import GapSafeConsumer

    fresh, known, changelog = TP("cx.events.resolved", 0), TP("cx.events.resolved", 1), TP("x-changelog", 0)
    seeks = {}

    async def seek(tp, offset):
        seeks[tp] = offset

    async def earliest_offsets(*tps):
        return {tp: 0 for tp in tps}

    consumer = SimpleNamespace(
        app=SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: not topic.endswith("changelog"))),
        assignment=lambda: {fresh, known, changelog}, _committed_offset=defaultdict(lambda: None, {known: 7}),
        earliest_offsets=earliest_offsets, seek=seek, _hole_since={},
        _acked=defaultdict(list, {fresh: [3], known: [7, 8]}), _acked_index=defaultdict(set, {fresh: {3}, known: {7, 8}}),
        _gap=defaultdict(IntervalTree))
    asyncio.run(GapSafeConsumer._seek_unknown_to_beginning(consumer))
    assert seeks == {fresh: 0}  # the partition with a committed offset stays where Faust's seek put it
    assert GapSafeConsumer._new_offset(consumer, fresh) is None  # 0-2 unacked: no commit past them
    assert GapSafeConsumer._new_offset(consumer, known) == 9
    consumer._acked[fresh] += [0, 1, 2]
    assert GapSafeConsumer._new_offset(consumer, fresh) == 4


def test_the_workers_producer_gives_up_a_metadata_request_left_unanswered(monkeypatch):
    """Every aiokafka producer the worker's Faust producer makes has the metadata-bound client: a
    metadata request with no answer ends after METADATA_TIMEOUT (not Faust's 20-minute request timeout)."""
    import asyncio

    from aiokafka.client import AIOKafkaClient
    from aiokafka.cluster import ClusterMetadata

    from streams.config import load_settings
    from streams.runtime import faust_consumer
    from streams.worker import build_app

    async def unanswered(self, cluster_metadata, topics):
        await asyncio.Event().wait()

    monkeypatch.setattr(AIOKafkaClient, "_metadata_update", unanswered)  # the broker that never answers
    monkeypatch.setattr(faust_consumer, "METADATA_TIMEOUT", 0.1)
    app, _ = build_app(load_settings(None, environ={}))

    async def ask() -> bool:
        producer = app.producer._new_producer()
        try:
            return await asyncio.wait_for(producer.client._metadata_update(ClusterMetadata(), []), 5)
        finally:
            await producer.stop()

    assert asyncio.run(ask()) is False  # the synchronizer's waiters ask again, on a new connection
