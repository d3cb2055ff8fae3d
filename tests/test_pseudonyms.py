"""Pseudonyms: keyed, deterministic, hiding the value; masks that keep only their hint."""

from __future__ import annotations

import datetime as dt
import string

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.config import ConfigError, Settings, load_settings
from streams.domain.detect.state import CustomerState, apply
from streams.domain.identity_graph import guards_of
from streams.domain.normalize import identifiers
from streams.domain.pseudonyms import HIDDEN, Pseudonymizer, from_settings, mask, pseudonymize
from streams.domain.records import CxEvent, IdentifierIssue
from streams.stages.sink import dead_letter_row
from streams.warehouse.customers import candidates

KEY = b"k" * 32
KINDS = st.sampled_from(["customer_id", "account_id", "email", "phone", "social", "device_id", "visitor_id"])
REGIONS = ["US", "GB", "DE", "FR", "BR", "IN", "JP", "AU"]
# local parts and domains of the kind people have: letters past f, so they cannot hide in hex by chance
WORDS = st.text(string.ascii_lowercase + string.digits + "._", min_size=1, max_size=20)


def phones() -> st.SearchStrategy[str]:
    def valid(region: str, suffix: int) -> str | None:
        number = phonenumbers.example_number(region)
        national = str(number.national_number)
        candidate = phonenumbers.parse(f"+{number.country_code}{national[:-4]}{suffix:04d}")
        return phonenumbers.format_number(candidate, phonenumbers.PhoneNumberFormat.E164) \
            if phonenumbers.is_valid_number(candidate) else None

    return st.builds(valid, st.sampled_from(REGIONS), st.integers(0, 9999)).filter(bool)


def emails() -> st.SearchStrategy[str]:
    return st.builds(lambda local, domain, tld: f"{local}@{domain}.{tld}", WORDS, WORDS,
                     st.sampled_from(["com", "org", "co.uk", "de"]))


@given(kind=KINDS, value=st.one_of(phones(), emails(), WORDS))
def test_a_pseudonym_is_deterministic_keyed_and_holds_nothing_of_the_value(kind, value):
    once = pseudonymize(KEY, kind, value)
    assert once == pseudonymize(KEY, kind, value)
    assert once != pseudonymize(b"another key of 32 characters....", kind, value)
    assert len(once) == 32 and set(once) <= set("0123456789abcdef")
    local = value.partition("@")[0]
    if len(local) >= 8 or any(c not in "0123456789abcdef" for c in local):
        assert local not in once
    if value.startswith("+"):
        assert value[1:] not in once and value[-7:] not in once


@given(value=WORDS)
def test_the_kind_is_part_of_the_pseudonym(value):
    assert pseudonymize(KEY, "customer_id", value) != pseudonymize(KEY, "account_id", value)


@given(a=phones(), b=phones())
def test_a_phone_mask_shows_the_country_code_and_the_last_digits_only(a, b):
    na, nb = phonenumbers.parse(a), phonenumbers.parse(b)
    shown = lambda n: (n.country_code, str(n.national_number)[-4 if len(str(n.national_number)) >= 8 else -2:])
    assert (mask("phone", a) == mask("phone", b)) == (shown(na) == shown(nb))
    assert mask("phone", a).startswith(f"+{na.country_code} {HIDDEN}")
    assert str(na.national_number) not in mask("phone", a).replace(" ", "")


@given(a=emails(), b=emails())
def test_an_email_mask_shows_two_initials_and_the_top_level_domain_only(a, b):
    def hint(email: str) -> tuple[str, str, str]:
        local, _, domain = email.partition("@")
        return local[0], domain[0], domain.rsplit(".", 1)[1]

    assert (mask("email", a) == mask("email", b)) == (hint(a) == hint(b))
    local, _, domain = a.partition("@")
    if len(local) > 1:  # not in the masked local part (".o" of ".o@x.org" is in its shown ".org")
        assert local not in mask("email", a).partition("@")[0]
    assert mask("email", a).partition("@")[2].startswith(domain[0] + HIDDEN)


def test_masks_of_other_kinds():
    assert mask("social", "x:@jane_doe") == f"x:@j{HIDDEN}"
    assert mask("customer_id", "cust-000142") == f"{HIDDEN}42"
    assert mask("visitor_id", "v-9") == HIDDEN
    assert mask("phone", "anonymous") == HIDDEN


def _event(customer: dict[str, str], issues: list[IdentifierIssue] = ()) -> CxEvent:
    return CxEvent(source="s", id="1", type="cx.contact.started", time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                   channel="voice", customer=customer, identifier_issues=list(issues), origin="t:0:0", received_at=0.0)


def test_an_event_leaves_ingest_with_pseudonyms_masks_and_masked_issues():
    p = Pseudonymizer(KEY, guards_of(Settings()))
    customer, issues = identifiers({"phone": "(202) 555-0142 ", "email": "Jane.Doe@Example.com"}, "US", [])
    customer["account_id"] = "test"  # blocked: identifies no one, so it stays as it is
    ev = p.event(_event(customer, [IdentifierIssue("phone", "invalid", "+1 555 12"),
                                   IdentifierIssue("email", "malformed", "jane.doe@")]))
    assert ev.customer == {"phone": pseudonymize(KEY, "phone", "+12025550142"),
                           "email": pseudonymize(KEY, "email", "jane.doe@example.com"), "account_id": "test"}
    assert ev.identifier_masks["phone"] == f"+1 {HIDDEN} {HIDDEN} 0142"
    assert ev.identifier_masks["email"] == f"j{HIDDEN}@e{HIDDEN}.com"
    assert "jane.doe" not in repr(ev) and "555" not in repr(ev.identifier_issues)
    assert ev.customer_key == "account_id:test"  # priorities still read the clear kind


def test_alerts_and_work_items_show_the_masks_not_the_pseudonyms():
    p = Pseudonymizer(KEY, guards_of(Settings()))
    hidden, clear = CustomerState(customer="c_1"), CustomerState(customer="c_2")
    apply(hidden, p.event(_event({"phone": "+12025550142", "email": "jane.doe@example.com"})))
    apply(clear, _event({"phone": "+12025550142"}))
    assert hidden.identifiers == {"phone": f"+1 {HIDDEN} {HIDDEN} 0142", "email": f"j{HIDDEN}@e{HIDDEN}.com"}
    assert clear.identifiers == {"phone": "+12025550142"}


def test_timeline_hashes_what_it_is_given_as_ingest_does():
    p = Pseudonymizer(KEY, guards_of(Settings()))
    stored = p.identifier("phone", "+12025550142")
    assert stored in candidates("(202) 555-0142", "US", p) and stored in candidates("+1 202 555 0142", "US", p)
    assert candidates("Jane.Doe@example.com", "US", p) == [p.identifier("email", "jane.doe@example.com")]
    assert candidates("Jane.Doe@example.com", "US") == ["email:jane.doe@example.com"]


def test_pseudonymized_mode_needs_a_key_named_in_the_error(tmp_path):
    with pytest.raises(ConfigError, match="CXPULSE_PRIVACY_KEY"):
        load_settings(environ={"CXPULSE_PRIVACY_PSEUDONYMIZE": "true"})
    with pytest.raises(ConfigError, match="too short"):
        load_settings(environ={"CXPULSE_PRIVACY_PSEUDONYMIZE": "true", "CXPULSE_PRIVACY_KEY": "short"})
    file = tmp_path / "cxpulse.toml"
    file.write_text('[privacy]\nkey = "a key written in the config file"\n')
    with pytest.raises(ConfigError, match="privacy.key is a secret"):
        load_settings(file, environ={})
    secret = tmp_path / "key"
    secret.write_text("a key of thirty-two characters!!\n")
    settings = load_settings(environ={"CXPULSE_PRIVACY_PSEUDONYMIZE": "1", "CXPULSE_PRIVACY_KEY_FILE": str(secret)})
    assert from_settings(settings).key == b"a key of thirty-two characters!!"
    assert from_settings(Settings()) is None  # clear mode by default
    with pytest.raises(ConfigError, match="log_identifiers"):
        load_settings(environ={"CXPULSE_PRIVACY_PSEUDONYMIZE": "1", "CXPULSE_PRIVACY_KEY_FILE": str(secret),
                               "CXPULSE_LOG_IDENTIFIERS": "true"})


def test_a_pseudonymized_dead_letter_shows_no_identifier_but_keeps_the_payload():
    payload = b'{"data": {"customer": {"email": "jane.doe@example.com", "phone": "+1 555 010 0142"}}}'
    clear = dead_letter_row(None, payload, [], 0, 1)
    hidden = dead_letter_row(None, payload, [], 0, 1, pseudonymized=True)
    assert "jane.doe@example.com" in clear["payload_preview"]
    assert "jane.doe" not in hidden["payload_preview"] and "0142" not in hidden["payload_preview"]
    assert hidden["payload_base64"] == clear["payload_base64"]  # what `cxpulse dlq replay` republishes
