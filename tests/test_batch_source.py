"""When a batch source closes a batch: `within` after its oldest record was produced, bounded."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.runtime.batch_source import batch_deadline

seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False)


def test_a_fresh_record_waits_the_whole_window():
    assert batch_deadline(now=100.0, wall=5000.0, oldest_produced=5000.0, within=0.5) == 100.5


def test_a_record_that_waited_during_the_last_store_waits_only_what_is_left():
    assert batch_deadline(now=100.0, wall=5000.0, oldest_produced=4999.8, within=0.5) == pytest.approx(100.3)


def test_a_record_older_than_the_window_closes_the_batch_at_once():
    assert batch_deadline(now=100.0, wall=5000.0, oldest_produced=4990.0, within=0.5) == 100.0


@given(now=seconds, wall=seconds, produced=seconds, within=st.floats(min_value=0, max_value=60))
def test_never_before_now_nor_later_than_the_window_whatever_the_producer_clock(now, wall, produced, within):
    deadline = batch_deadline(now, wall, produced, within)
    assert now <= deadline <= now + within
