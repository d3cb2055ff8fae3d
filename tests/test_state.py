"""A stage's table between assignments: coalesced writes, the decoded cache, and what it must never serve.

The rebuild from the changelog at assignment runs against a real broker in
tests/integration/test_state_rebuild.py."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import orjson
import pytest
from faust.serializers import codecs

from streams.runtime import state
from streams.runtime.state import Table


@pytest.fixture
def sent(monkeypatch) -> list:
    """The changelog records commit sends (the producer is a broker's business; tests/integration cover it)."""
    records: list = []

    async def send_records(producer, topic, batch):
        records.extend(batch)

    monkeypatch.setattr(state, "send_records", send_records)
    return records


def table(tmp_path, cache: int) -> tuple[Table, list]:
    decoded: list = []

    def decode(raw: bytes):
        decoded.append(raw)
        return orjson.loads(raw)

    settings = SimpleNamespace(kafka=SimpleNamespace(app_id="test"), data_path=tmp_path)
    t = Table(settings, "t", decode, orjson.dumps, cache=cache)
    for p in range(2):
        t._dbs[p] = t._open(p)
    return t, decoded


def commit(t: Table) -> None:
    asyncio.run(t.commit(producer=None))


def test_a_key_written_many_times_in_a_batch_costs_one_changelog_record(tmp_path, sent):
    t, _ = table(tmp_path, cache=0)
    for n in range(5):
        t.set("a", {"n": n}, 0)
    t.set("b", {"n": 1}, 1)
    t.delete("c", 1)
    commit(t)
    assert t.topic == "test-t-changelog"
    assert sorted(sent, key=repr) == sorted([(0, b'"a"', b'{"n":4}'), (1, b'"b"', b'{"n":1}'), (1, b'"c"', None)],
                                            key=repr)
    assert t._dbs[0][b'"a"'] == b'{"n":4}' and dict(t.items()) == {"a": {"n": 4}, "b": {"n": 1}}


def test_committed_values_are_served_decoded_without_reading_the_db_again(tmp_path, sent):
    t, decoded = table(tmp_path, cache=10)
    t.set("a", {"n": 1}, 0)
    commit(t)
    value = t.get("a", 0)
    value["n"] = 2  # a stage may change what it got in place, then set it
    t.set("a", value, 0)
    commit(t)
    assert t.get("a", 0) == {"n": 2} and decoded == []
    assert t._dbs[0][b'"a"'] == b'{"n":2}'


def test_an_assignment_empties_the_cache_and_the_batch_in_hand(tmp_path, sent):
    t, decoded = table(tmp_path, cache=10)
    t.set("a", {"n": 1}, 0)
    commit(t)
    t.set("b", {"n": 1}, 0)  # a batch cut short by the rebalance: never committed
    t.revoke({0})
    t._dbs[0] = t._open(0)
    t._dbs[0][b'"a"'] = b'{"n":7}'  # the partition came back rebuilt from another worker's changelog records
    assert t.get("a", 0) == {"n": 7} and decoded == [b'{"n":7}']
    assert t.get("b", 0) is None
    commit(t)
    assert sent[-1:] == [(0, b'"a"', b'{"n":1}')] and b'"b"' not in t._dbs[0]


def test_the_least_recently_used_value_leaves_a_full_cache(tmp_path, sent):
    t, decoded = table(tmp_path, cache=2)
    for key in ("a", "b"):
        t.set(key, {"k": key}, 1)
    commit(t)
    t.get("a", 1)  # a is now more recent than b
    t.set("c", {"k": "c"}, 1)
    commit(t)
    assert [t.get(k, 1) for k in ("a", "c")] == [{"k": "a"}, {"k": "c"}] and decoded == []
    assert t.get("b", 1) == {"k": "b"} and decoded == [b'{"k":"b"}']


def test_a_deleted_key_is_not_served_from_the_cache(tmp_path, sent):
    t, _ = table(tmp_path, cache=10)
    t.set("a", {"n": 1}, 0)
    commit(t)
    t.delete("a", 0)
    commit(t)
    assert t.get("a", 0) is None and b'"a"' not in t._dbs[0]


def test_without_a_cache_every_read_decodes_what_the_db_holds(tmp_path, sent):
    t, decoded = table(tmp_path, cache=0)
    t.set("a", {"n": 1}, 0)
    commit(t)
    assert t.get("a", 0) == {"n": 1} and t.get("a", 0) == {"n": 1} and len(decoded) == 2


@pytest.mark.parametrize("cache", [0, 10])
def test_a_key_asked_on_another_partition_is_read_from_that_partition(tmp_path, sent, cache):
    """A record sent to every partition (an erasure) asks each one for the key: only the partition
    holding it answers, whether the value is cached, pending in this batch, or only in the DB."""
    t, _ = table(tmp_path, cache=cache)
    t.set("team", {"n": 1}, 1)
    assert t.get("team", 0) is None and t.get("team", 1) == {"n": 1}  # pending in this batch
    commit(t)
    assert t.get("team", 0) is None and t.get("team", 1) == {"n": 1}  # cached, or read from partition 1
    assert b'"team"' not in t._dbs[0]


def test_keys_and_values_are_stored_as_faust_stored_them_so_an_upgrade_rebuilds_its_state(tmp_path, sent):
    """The changelogs keep their names across the move off Faust's tables (2026-12-06): a key and a
    value Faust wrote must read back the same, and what the table writes must be what Faust would have."""
    import faust

    app = faust.App("t", broker="kafka://127.0.0.1:1", store="memory://")
    faust_table = app.Table("t", default=None, key_type=str, value_type=bytes)
    key, value = codecs.dumps(faust_table.key_serializer, "ann"), codecs.dumps(faust_table.value_serializer, b'{"n":1}')
    t, _ = table(tmp_path, cache=0)
    t._dbs[0][key] = value  # as a rebuild from an old changelog leaves it
    assert t.get("ann", 0) == {"n": 1} and dict(t.items()) == {"ann": {"n": 1}}
    t.set("bob", {"n": 2}, 0)
    commit(t)
    assert sent == [(0, codecs.dumps(faust_table.key_serializer, "bob"), b'{"n":2}')]


def test_a_revoked_partition_leaves_no_db_behind(tmp_path, sent):
    t, _ = table(tmp_path, cache=0)
    t.set("a", {"n": 1}, 1)
    commit(t)
    t.revoke({1})
    assert sorted(p.name for p in t.path.iterdir()) == ["0"] and t.stored_keys() == 0
