"""The published time format, built from seconds the fast way, against the datetime it abbreviates."""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given
from hypothesis import strategies as st

from streams.domain.times import rfc3339, rfc3339_at

# the stages' clock: event times, wall clocks, 0.0 for "never"; the ends of a second and of a
# millisecond are where rounding to the microsecond and cutting to the millisecond can disagree
SECONDS = st.one_of(
    st.floats(min_value=0.0, max_value=4.1e9, allow_nan=False),
    st.builds(lambda whole, tail: whole + tail, st.integers(1_600_000_000, 2_000_000_000),
              st.sampled_from([0.0, 0.0005, 0.0004995, 0.9995, 0.999_999_4, 0.999_999_5, 0.999_999_6])),
)


@given(SECONDS)
@example(0.0)
@example(1796471700.9999995)
def test_a_time_in_seconds_reads_as_the_datetime_of_those_seconds(seconds):
    assert rfc3339_at(seconds) == rfc3339(dt.datetime.fromtimestamp(seconds, dt.UTC))


def test_the_format_is_utc_milliseconds_with_a_z():
    assert rfc3339_at(1796471700.0123) == "2026-12-05T11:55:00.012Z"
