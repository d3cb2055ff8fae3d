"""Normalization properties: one spelling per value, whatever the channel system sent."""

from __future__ import annotations

import datetime as dt

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.config import IngestSettings
from streams.domain.normalize import (
    Refusal,
    check_skew,
    identifiers,
    is_withheld,
    parse_time,
    phone_e164,
    social_handle,
)
from streams.domain.records import IdentifierIssue
from streams.domain.rejections import Reason, Rejected

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


WITHHELD = IngestSettings().withheld_caller_ids


def usable(customer: dict[str, str], region: str = "US") -> dict[str, str]:
    found, issues = identifiers(customer, region, WITHHELD)
    assert not issues, issues
    return found


@pytest.mark.parametrize("raw", ["12", "000", "+1 555", "not a number", "+999 1234567", "+1 202 555 014"])
def test_impossible_phones_are_kept_as_invalid(raw):
    assert phone_e164(raw, "US") is None
    assert identifiers({"phone": raw, "account_id": "A-1"}, "US", WITHHELD) == (
        {"account_id": "A-1"}, [IdentifierIssue(kind="phone", reason=Refusal.INVALID, raw=raw)])


@pytest.mark.parametrize("raw", ["anonymous", "Anonymous", " ANONYMOUS ", "Private Number", "private-number", "Restricted",
                                 "unknown", "UNAVAILABLE", "withheld", "+266696687", "+266 696 687", "+7 (378) 742-833",
                                 "+86 282 452 253", "sip:anonymous@anonymous.invalid", "000-000-0000", "", "   "])
def test_withheld_caller_ids_in_words_or_pseudo_numbers(raw):
    assert is_withheld(raw, WITHHELD)
    assert identifiers({"phone": raw}, "US", WITHHELD) == ({}, [IdentifierIssue("phone", Refusal.WITHHELD, raw)])


def test_the_withheld_list_is_the_configured_one():
    """A carrier's own pseudo-number is withheld once listed, and a word dropped from the list is only invalid."""
    from streams.config import load_settings

    settings = load_settings(None, environ={"CXPULSE_INGEST_WITHHELD_CALLER_IDS": "anonymous,+1 202 555 0143"})
    assert settings.ingest.withheld_caller_ids == ["anonymous", "+1 202 555 0143"]
    listed = settings.ingest.withheld_caller_ids
    assert identifiers({"phone": "(202) 555-0143"}, "US", listed)[1] == []  # the list matches spellings, not numbers
    assert identifiers({"phone": "+12025550143"}, "US", listed)[1] == [IdentifierIssue("phone", "withheld", "+12025550143")]
    assert identifiers({"phone": "restricted"}, "US", listed)[1] == [IdentifierIssue("phone", "invalid", "restricted")]
    assert not is_withheld("+7378742833", listed)


def test_every_default_withheld_value_is_withheld_not_invalid():
    """The pseudo-numbers are no valid numbers either; the list tells a caller who hid the number from bad data."""
    for raw in WITHHELD:
        found, issues = identifiers({"phone": raw}, "US", WITHHELD)
        assert found == {} and [i.reason for i in issues] == [Refusal.WITHHELD]


@given(local=st.from_regex(r"[A-Za-z0-9._%+-]{1,20}", fullmatch=True),
       domain=st.from_regex(r"[A-Za-z0-9-]{1,12}\.[A-Za-z]{2,6}", fullmatch=True),
       pad=st.sampled_from(["", " ", "\t "]))
def test_emails_are_trimmed_lowercase_and_idempotent(local, domain, pad):
    once = usable({"email": f"{pad}{local}@{domain}{pad}"})["email"]
    assert once == f"{local}@{domain}".lower()
    assert usable({"email": once})["email"] == once


@pytest.mark.parametrize("raw", ["dana", "dana@", "@example.com", "dana@example", "da na@example.com", "a@b@c.de", " "])
def test_malformed_emails_are_kept_as_malformed(raw):
    assert identifiers({"email": raw}, "US", WITHHELD) == ({}, [IdentifierIssue("email", Refusal.MALFORMED, raw)])


@given(network=st.sampled_from(["X", "x", "Instagram"]), handle=st.from_regex(r"@?[A-Za-z0-9_]{1,15}", fullmatch=True))
def test_social_handles_are_lowercase_and_idempotent(network, handle):
    once = social_handle(f" {network}:{handle} ")
    assert once == f"{network.lower()}:{handle.lower()}"
    assert social_handle(once) == once


@pytest.mark.parametrize("raw", ["@dana", "x:", ":dana", "x: @dana", "1x:@dana", ""])
def test_unparsable_social_handles_are_kept_as_malformed(raw):
    assert identifiers({"social": raw}, "US", WITHHELD) == ({}, [IdentifierIssue("social", Refusal.MALFORMED, raw)])


def test_other_identifiers_are_trimmed_but_keep_their_case():
    assert usable({"customer_id": "  Cust-42 ", "visitor_id": "v-AB"}) == {"customer_id": "Cust-42", "visitor_id": "v-AB"}


def _phones():
    """Real numbers in every format, the withheld spellings with noise, and any text at all."""
    real = st.builds(lambda region, fmt: phonenumbers.format_number(phonenumbers.example_number(region), fmt),
                     st.sampled_from(REGIONS), st.sampled_from(FORMATS))
    noisy = st.builds(lambda v, upper, pad: pad + (v.upper() if upper else v) + pad,
                      st.sampled_from(WITHHELD), st.booleans(), st.sampled_from(["", " ", "\t"]))
    return st.one_of(real, noisy, st.text(max_size=64), st.from_regex(r"[+(]?[0-9 ().-]{0,20}", fullmatch=True))


@settings(max_examples=500)
@given(kind=st.sampled_from(["phone", "email", "social"]), raw=st.one_of(_phones(), st.emails(), st.text(max_size=80)),
       region=st.sampled_from(REGIONS))
def test_any_text_either_normalizes_idempotently_or_is_kept_raw_with_its_kind(kind, raw, region):
    found, issues = identifiers({kind: raw}, region, WITHHELD)  # never raises
    if found:
        assert issues == [] and list(found) == [kind]
        assert identifiers(found, region, WITHHELD) == (found, [])  # a normal form is its own normal form
        assert identifiers(found, "US", WITHHELD) == (found, [])  # whatever the default region
    else:
        assert issues == [IdentifierIssue(kind, issues[0].reason, raw)]
        assert issues[0].reason in {Refusal.WITHHELD, Refusal.INVALID} if kind == "phone" else issues[0].reason == Refusal.MALFORMED


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
