"""Normalization properties: one spelling per value, whatever the channel system sent."""

from __future__ import annotations

import datetime as dt

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import IngestSettings
from streams.normalize import check_skew, identifiers, parse_time, phone_e164, social_handle
from streams.rejections import Reason, Rejected

REGIONS = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "AU", "ZA", "MX"]
FORMATS = [phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
           phonenumbers.PhoneNumberFormat.NATIONAL]


@given(region=st.sampled_from(REGIONS), fmt=st.sampled_from(FORMATS), pad=st.sampled_from(["", " ", "  \t"]))
def test_every_spelling_of_a_number_normalizes_to_one_e164(region, fmt, pad):
    number = phonenumbers.example_number(region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    written = pad + phonenumbers.format_number(number, fmt) + pad
    assert phone_e164(written, region) == e164
    assert phone_e164(e164, "US") == e164  # idempotent, whatever the default region


@pytest.mark.parametrize("raw", ["12", "000", "+1 555", "not a number", "+999 1234567"])
def test_impossible_phones_are_refused(raw):
    with pytest.raises(Rejected) as refused:
        phone_e164(raw, "US")
    assert refused.value.reason == Reason.INVALID_IDENTIFIER


@given(local=st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True),
       domain=st.from_regex(r"[A-Za-z0-9-]{1,12}\.[A-Za-z]{2,6}", fullmatch=True),
       pad=st.sampled_from(["", " ", "\t "]))
def test_emails_are_trimmed_lowercase_and_idempotent(local, domain, pad):
    once = identifiers({"email": f"{pad}{local}@{domain}{pad}"}, "US")["email"]
    assert once == f"{local}@{domain}".lower()
    assert identifiers({"email": once}, "US")["email"] == once


@given(network=st.sampled_from(["X", "x", "Instagram"]), handle=st.from_regex(r"@?[A-Za-z0-9_]{1,15}", fullmatch=True))
def test_social_handles_are_lowercase_and_idempotent(network, handle):
    once = social_handle(f" {network}:{handle} ")
    assert once == f"{network.lower()}:{handle.lower()}"
    assert social_handle(once) == once


def test_other_identifiers_are_trimmed_but_keep_their_case():
    assert identifiers({"customer_id": "  Cust-42 ", "visitor_id": "v-AB"}, "US") == {"customer_id": "Cust-42", "visitor_id": "v-AB"}


@settings(max_examples=300)
@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.timezones()),
       st.sampled_from(["seconds", "milliseconds", "microseconds"]), st.booleans())
def test_any_rfc3339_rendering_is_the_same_instant_in_utc(moment, timespec, zulu):
    text = moment.isoformat(timespec=timespec)
    if zulu:
        text = moment.astimezone(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
    parsed = parse_time(text)
    assert parsed.tzinfo == dt.UTC
    assert abs((parsed - moment).total_seconds()) < 1e-3 if timespec != "seconds" else abs((parsed - moment).total_seconds()) < 1


def test_impossible_dates_are_invalid_time():
    with pytest.raises(Rejected) as refused:
        parse_time("2026-13-45T00:00:00Z")
    assert refused.value.reason == Reason.INVALID_TIME


def test_time_skew_limits_are_inclusive_of_the_allowed_range():
    limits = IngestSettings(max_future_skew_seconds=300, max_age_seconds=3600)
    now = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)
    check_skew(now + dt.timedelta(seconds=299), now, limits)
    check_skew(now - dt.timedelta(seconds=3599), now, limits)
    for off in (301, -3601):
        with pytest.raises(Rejected) as refused:
            check_skew(now + dt.timedelta(seconds=off), now, limits)
        assert refused.value.reason == Reason.TIME_SKEW
