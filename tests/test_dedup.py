"""Dedup decisions: replays and redeliveries are not duplicates; an entry older than the window no longer counts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.dedup import Verdict, judge


def test_judge_tells_the_four_cases_apart():
    first = ["cx.events:1:10", "2:500", 1000.0]
    assert judge(None, "cx.events:1:10", "2:500", 0.0) is Verdict.NEW
    assert judge(first, "cx.events:1:10", "2:500", 0.0) is Verdict.REPLAY       # this stage re-read its input
    assert judge(first, "cx.events:1:10", "2:731", 0.0) is Verdict.REDELIVERY   # ingest re-ran on the same message
    assert judge(first, "cx.events:3:99", "2:732", 0.0) is Verdict.DUPLICATE    # the channel system sent it twice


@given(seen=st.floats(0, 1e9), since=st.floats(0, 1e9))
def test_an_entry_seen_before_the_window_is_new_again_whatever_else_matches(seen, since):
    prior = ["cx.events:1:10", "2:500", seen]
    verdict = judge(prior, "cx.events:3:99", "2:732", since)
    assert verdict is (Verdict.NEW if seen < since else Verdict.DUPLICATE)
