"""Dedup decisions: replays and redeliveries are not duplicates; expiry follows stream time per partition."""

from __future__ import annotations

from streams.dedup import Expiry, Verdict, judge


def test_judge_tells_the_four_cases_apart():
    first = ["cx.events:1:10", "2:500", 1000.0]
    assert judge(None, "cx.events:1:10", "2:500") is Verdict.NEW
    assert judge(first, "cx.events:1:10", "2:500") is Verdict.REPLAY       # this stage re-read its input
    assert judge(first, "cx.events:1:10", "2:731") is Verdict.REDELIVERY   # ingest re-ran on the same message
    assert judge(first, "cx.events:3:99", "2:732") is Verdict.DUPLICATE    # the channel system sent it twice


def test_expiry_pops_only_keys_older_than_the_window_per_partition_in_order():
    expiry = Expiry(window=60)
    expiry.note(0, 100.0, "a")
    expiry.note(0, 130.0, "b")
    expiry.note(1, 100.0, "c")
    assert list(expiry.due(0, 159.0)) == []
    assert list(expiry.due(0, 161.0)) == [(100.0, "a")]
    assert list(expiry.due(0, 500.0)) == [(130.0, "b")]
    assert list(expiry.due(1, 161.0)) == [(100.0, "c")]


def test_expiry_rebuilds_from_recovered_table_items():
    expiry = Expiry(window=10)
    expiry.rebuild([("k1", ["o", "3:7", 5.0]), ("k2", ["o", "0:1", 50.0]), ("k3", None)])
    assert list(expiry.due(3, 100.0)) == [(5.0, "k1")]
    assert list(expiry.due(0, 100.0)) == [(50.0, "k2")]
