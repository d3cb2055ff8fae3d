"""BatchWrites' cache of decoded values: it must never serve a value the table no longer holds."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest
from rocksdict import Options, Rdict

from streams.runtime import faust_batches
from streams.runtime.faust_batches import BatchWrites


class Table(SimpleNamespace):
    """What BatchWrites reads of a Faust table: the app's generation and one real RocksDB per partition."""

    def __init__(self, path) -> None:
        dbs = {p: Rdict(str(path / str(p)), Options(raw_mode=True)) for p in range(2)}
        super().__init__(app=SimpleNamespace(consumer_generation_id=1, rebalancing=False), name="t", changelog_topic_name="t-changelog",
                         key_serializer="raw", value_serializer="raw", dbs=dbs,
                         data=SimpleNamespace(_db_for_partition=dbs.__getitem__))


@pytest.fixture
def sent(monkeypatch) -> list:
    """The changelog records commit sends (the producer is a broker's business; tests/integration cover it)."""
    records: list = []

    async def send_records(producer, topic, batch):
        records.extend(batch)
        return len(batch)

    monkeypatch.setattr(faust_batches, "send_records", send_records)
    return records


def writes(table: Table, cache: int) -> tuple[BatchWrites, list]:
    decoded: list = []

    def decode(raw: bytes):
        decoded.append(raw)
        return orjson.loads(raw)

    return BatchWrites(table, decode, orjson.dumps, cache=cache), decoded


def commit(w: BatchWrites) -> None:
    asyncio.run(w.commit(producer=None))


def test_committed_values_are_served_decoded_without_reading_the_table_again(tmp_path, sent):
    table = Table(tmp_path)
    w, decoded = writes(table, cache=10)
    w.set("a", {"n": 1}, 0)
    commit(w)
    assert table.dbs[0][b"a"] == b'{"n":1}' and sent == [(0, b"a", b'{"n":1}')]
    value = w.get("a", 0)
    value["n"] = 2  # a stage may change what it got in place, then set it
    w.set("a", value, 0)
    commit(w)
    assert w.get("a", 0) == {"n": 2} and decoded == []
    assert table.dbs[0][b"a"] == b'{"n":2}'


def test_a_new_consumer_generation_reads_the_table_again(tmp_path, sent):
    table = Table(tmp_path)
    w, decoded = writes(table, cache=10)
    w.set("a", {"n": 1}, 0)
    commit(w)
    table.dbs[0][b"a"] = b'{"n":7}'  # the partition came back rebuilt from another worker's changelog records
    table.app.consumer_generation_id = 2
    assert w.get("a", 0) == {"n": 7} and decoded == [b'{"n":7}']


def test_nothing_is_served_from_the_cache_while_a_rebalance_recovers_the_tables(tmp_path, sent):
    table = Table(tmp_path)
    w, decoded = writes(table, cache=10)
    w.set("a", {"n": 1}, 0)
    commit(w)
    table.app.rebalancing, table.app.consumer_generation_id = True, 2
    assert w.get("b", 0) is None  # a batch still in flight while the new assignment recovers
    w.set("b", {"n": 1}, 0)
    commit(w)
    table.dbs[0][b"a"], table.dbs[0][b"b"] = b'{"n":7}', b'{"n":8}'  # recovery replays another worker's writes
    table.app.rebalancing = False
    assert w.get("a", 0) == {"n": 7} and w.get("b", 0) == {"n": 8}


def test_a_rebalance_between_read_and_commit_keeps_nothing(tmp_path, sent):
    table = Table(tmp_path)
    w, decoded = writes(table, cache=10)
    assert w.get("a", 0) is None
    w.set("a", {"n": 1}, 0)
    table.app.consumer_generation_id = 2
    commit(w)
    table.dbs[0][b"a"] = b'{"n":7}'
    assert w.get("a", 0) == {"n": 7}


def test_the_least_recently_used_value_leaves_a_full_cache(tmp_path, sent):
    table = Table(tmp_path)
    w, decoded = writes(table, cache=2)
    for key in ("a", "b"):
        w.set(key, {"k": key}, 1)
    commit(w)
    w.get("a", 1)  # a is now more recent than b
    w.set("c", {"k": "c"}, 1)
    commit(w)
    assert [w.get(k, 1) for k in ("a", "c")] == [{"k": "a"}, {"k": "c"}] and decoded == []
    assert w.get("b", 1) == {"k": "b"} and decoded == [b'{"k":"b"}']


def test_a_deleted_key_is_not_served_from_the_cache(tmp_path, sent):
    table = Table(tmp_path)
    w, _ = writes(table, cache=10)
    w.set("a", {"n": 1}, 0)
    commit(w)
    w.delete("a", 0)
    commit(w)
    assert w.get("a", 0) is None and b"a" not in table.dbs[0]


def test_without_a_cache_every_read_decodes_what_the_table_holds(tmp_path, sent):
    table = Table(tmp_path)
    w, decoded = writes(table, cache=0)
    w.set("a", {"n": 1}, 0)
    commit(w)
    assert w.get("a", 0) == {"n": 1} and w.get("a", 0) == {"n": 1} and len(decoded) == 2


@pytest.mark.parametrize("cache", [0, 10])
def test_a_key_asked_on_another_partition_is_read_from_that_partition(tmp_path, sent, cache):
    """A record sent to every partition (an erasure) asks each one for the key: only the partition
    holding it answers, whether the value is cached, pending in this batch, or only in the DB."""
    table = Table(tmp_path)
    w, _ = writes(table, cache=cache)
    w.set("team", {"n": 1}, 1)
    assert w.get("team", 0) is None and w.get("team", 1) == {"n": 1}  # pending in this batch
    commit(w)
    assert w.get("team", 0) is None and w.get("team", 1) == {"n": 1}  # cached, or read from partition 1
    assert b"team" not in table.dbs[0]
