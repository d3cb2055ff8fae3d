"""Envelopes: every record reaches the partition its key routes to, in order, whatever the split."""

import asyncio
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.runtime.envelopes import MAX_ENVELOPE_BYTES, Envelopes, kafka_partition, partition_of, send_records, unpack

records = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.binary(max_size=8), st.binary(max_size=40_000)),
                   max_size=60)


@settings(max_examples=200, deadline=None)
@given(records, st.integers(1, 8))
def test_records_arrive_routed_by_key_in_order_and_envelopes_stay_under_the_limit(items, partitions):
    envelopes = Envelopes(partitions)
    for topic, key, value in items:
        envelopes.add(topic, key, value)
    got: dict[tuple[str, int], list[bytes]] = {}
    for topic, partition, value in envelopes.drain():
        assert len(value) <= MAX_ENVELOPE_BYTES + 5 or len(unpack(value)) == 1  # only a lone big record exceeds
        got.setdefault((topic, partition), []).extend(unpack(value))
    want: dict[tuple[str, int], list[bytes]] = {}
    for topic, key, value in items:
        want.setdefault((topic, partition_of(key, partitions)), []).append(value)
    assert got == want
    assert envelopes.drain() == []


def test_routing_is_stable_and_spreads_keys():
    assert partition_of(b"email:ann@example.com", 8) == partition_of(b"email:ann@example.com", 8)
    assert len({partition_of(f"k{i}".encode(), 8) for i in range(200)}) == 8


def test_a_big_batch_is_split_into_several_envelopes_per_partition():
    envelopes = Envelopes(1)
    for i in range(100):
        envelopes.add("t", b"k", bytes(10_000))
    drained = envelopes.drain()
    assert len(drained) == 4 and sum(len(unpack(v)) for *_, v in drained) == 100


@given(key=st.binary(min_size=0, max_size=64), partitions=st.integers(min_value=1, max_value=64))
def test_the_cached_partition_is_the_one_kafka_clients_give_the_key(key, partitions):
    """Public topics are read by other Kafka clients, which expect a key on murmur2's partition."""
    from aiokafka.partitioner import DefaultPartitioner

    every = list(range(partitions))
    assert kafka_partition(key, partitions) == DefaultPartitioner()(key, every, every)


class _Batch(list):
    def append(self, timestamp, key, value):  # aiokafka's BatchBuilder: None when full
        super().append(key)
        return True


class _Aio:
    """What send_records uses of aiokafka's producer, recording each (partition, keys) batch sent."""

    def __init__(self, partitions: int) -> None:
        async def wait_on_metadata(topic):
            return None

        self.client = SimpleNamespace(_wait_on_metadata=wait_on_metadata,
                                      cluster=SimpleNamespace(partitions_for_topic=lambda topic: set(range(partitions))))
        self.sent: dict[int, list[bytes]] = {}

    def create_batch(self):
        return _Batch()

    async def send_batch(self, batch, topic, partition):
        self.sent.setdefault(partition, []).extend(batch)


@pytest.mark.parametrize(("partition_by", "expected"), [(None, kafka_partition), (partition_of, partition_of)])
def test_records_without_a_partition_go_where_the_chosen_partitioner_puts_their_key(partition_by, expected):
    aio = _Aio(partitions=6)
    keys = [f"email:user{i}@example.com".encode() for i in range(200)]
    asyncio.run(send_records(SimpleNamespace(_ensure_producer=lambda: aio), "links",
                             [(None, key, b"{}") for key in keys], partition_by))
    assert {p: sorted(ks) for p, ks in aio.sent.items()} == {
        p: sorted(k for k in keys if expected(k, 6) == p) for p in {expected(k, 6) for k in keys}}
    assert partition_by is None or any(kafka_partition(k, 6) != partition_of(k, 6) for k in keys)  # they differ
