"""The boards run as the read-only ClickHouse user cx_boards and read no raw identifier (issue 18
item 4). chDB enforces ClickHouse's access control for a user of its users.xml, so
tests/board_as_user.py runs every panel as a user holding exactly the GRANTs and settings of
schemas/clickhouse/access/cx_boards.sql (parsed from it), against simulated traffic; and the SQL
masks (migration 0014) agree with streams.domain.pseudonyms.mask."""

from __future__ import annotations

import re
import subprocess
import sys

import orjson
import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams.boards.build import dashboards
from streams.domain.normalize import phone_e164
from streams.domain.pseudonyms import mask
from streams.warehouse import board_access, macros

PANELS = sorted(f"{d['uid']}/{p['title']}" for d in dashboards() for p, _ in macros.clickhouse_targets(d))


@pytest.fixture(scope="module")
def as_board_user(tmp_path_factory):
    """What tests/board_as_user.py saw (its own process: chDB allows one data path per process)."""
    data = tmp_path_factory.mktemp("boards-chdb")
    done = subprocess.run([sys.executable, "-m", "tests.board_as_user", str(data)], capture_output=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return orjson.loads(done.stdout)


def test_every_board_panel_runs_as_the_board_user_and_returns_rows(as_board_user):
    assert len(PANELS) >= 40 and sorted(as_board_user["panels"]) == PANELS
    failed = {name: r["error"] for name, r in as_board_user["panels"].items() if "error" in r}
    assert not failed, failed
    assert all(r["rows"] > 0 for r in as_board_user["panels"].values())


def test_the_board_variables_resolve_as_the_board_user(as_board_user):
    assert any("cx.board_customer" in sql for sql in as_board_user["variables"])
    assert all(outcome == "ok" for outcome in as_board_user["variables"].values()), as_board_user["variables"]


def test_no_panel_shows_a_stored_identifier_or_survey_comment(as_board_user):
    assert as_board_user["hidden_values"] > 1000
    shown = {name: r["shows"][:3] for name, r in as_board_user["panels"].items() if r.get("shows")}
    assert not shown, shown


def test_the_work_list_and_the_timeline_show_masked_identifiers(as_board_user):
    panels = as_board_user["panels"]
    assert panels["cx-outreach/Work list: open alerts by priority"]["masks"] > 50
    assert panels["cx-journey/Stitched timeline"]["masks"] >= panels["cx-journey/Stitched timeline"]["rows"]


def test_raw_identifier_columns_writes_and_settings_are_refused(as_board_user):
    probes = as_board_user["probes"]
    assert len(probes) >= sum(map(len, board_access.RAW_COLUMNS.values())) + 9
    for sql, outcome in probes.items():
        assert "ACCESS_DENIED" in outcome or "(READONLY)" in outcome, f"{sql}: {outcome}"


def test_the_grants_name_no_raw_identifier_column():
    for grant in board_access.grants():
        match = re.fullmatch(r"GRANT SELECT(?:\((.+)\))? ON cx\.(\w+)", grant)
        assert match, f"not a SELECT grant on a cx object: {grant}"
        columns, table = match[1], match[2]
        raw = board_access.RAW_COLUMNS.get(table, ())
        if raw:
            assert columns, f"{grant}: the whole of a table with raw identifier columns {raw}"
            assert not set(c.strip() for c in columns.split(",")) & set(raw), grant


def test_the_access_statements_parse_and_carry_only_the_passwords_hash(chdb_warehouse):
    statements = board_access.statements("correct horse battery staple")
    assert all("correct horse" not in s for s in statements)
    assert sum("sha256_hash BY 'c4bbcb1fbec99d65bf59d85c8cb62ee2db963f0fe106f483d9afa73bd4e39a8a'" in s
               for s in statements) == 2
    for statement in statements:
        escaped = statement.replace("\\", "\\\\").replace("'", "\\'")
        assert chdb_warehouse.query(f"SELECT formatQuery('{escaped}')").scalar()
    with pytest.raises(ValueError, match="password is empty"):
        board_access.statements("")


# --------------------------------------------------------------------------------------------
# The SQL masks are pseudonyms.mask


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_mask(warehouse, kind: str, value: str) -> str:
    return warehouse.query(f"SELECT cx_mask({_literal(kind)}, {_literal(value)})").scalar()


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=24)


@st.composite
def stored_phones(draw) -> str:
    """A valid phone as ingest stores it (normalize.phone_e164): a region's example number with
    its last digits replaced."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number(region)
    if example is None:
        return "+14155550142"
    national = str(example.national_number)
    tail = draw(st.text("0123456789", min_size=0, max_size=min(4, len(national))))
    e164 = phone_e164(f"+{example.country_code}{national[:len(national) - len(tail)]}{tail}", "ZZ")
    return e164 or phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


@st.composite
def emails(draw) -> str:
    part = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=8)
    return draw(st.one_of(TEXT, st.builds(lambda a, b, c, d: f"{a}@{b}.{c}{d}", part, part, part,
                                          st.sampled_from(["", "@x", ".org", "."]))))


@st.composite
def socials(draw) -> str:
    network = draw(st.sampled_from(["twitter", "instagram", "facebook", "x", ""]))
    return draw(st.one_of(TEXT, st.builds(lambda at, h: f"{network}:{at}{h}", st.sampled_from(["", "@", "@@"]), TEXT)))


SLOW_OK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SLOW_OK
@given(phone=st.one_of(stored_phones(),
                      # what ingest stores of any '+digits' (a region's parsing rules may rewrite it:
                      # San Marino's '+378800000' is stored as '+3780549800000')
                      st.from_regex(r"\A\+[0-9]{2,19}\Z").map(lambda p: phone_e164(p, "ZZ")).filter(bool),
                      TEXT.filter(lambda t: "+" not in t)))
@example(phone="+3780549800000")
@example(phone="+100")  # an all-zero national number is 0 to phonenumbers
@example(phone="+390612345678")  # Italy: the leading zero is not part of national_number
def test_the_sql_phone_mask_is_pseudonyms_mask(chdb_warehouse, phone):
    """Stored phones are E.164 (normalize.phone_e164): a '+digits' that is not one is never stored in a
    phone column, nor is text with a '+' elsewhere, which phonenumbers reads leniently ("tel: +1 ...")."""
    assert _sql_mask(chdb_warehouse, "phone", phone) == mask("phone", phone)


@SLOW_OK
@given(email=emails())
def test_the_sql_email_mask_is_pseudonyms_mask(chdb_warehouse, email):
    assert _sql_mask(chdb_warehouse, "email", email) == mask("email", email)


@SLOW_OK
@given(social=socials())
def test_the_sql_social_mask_is_pseudonyms_mask(chdb_warehouse, social):
    assert _sql_mask(chdb_warehouse, "social", social) == mask("social", social)


@SLOW_OK
@given(kind=st.sampled_from(["account_id", "customer_id", "visitor_id", "device_id"]), value=TEXT)
def test_the_sql_mask_of_other_kinds_is_pseudonyms_mask(chdb_warehouse, kind, value):
    assert _sql_mask(chdb_warehouse, kind, value) == mask(kind, value)


def test_shown_identifiers_mask_clear_values_and_keep_masks(chdb_warehouse):
    clear = {"phone": "+442079460123", "email": "jane.doe@example.co.uk", "social": "twitter:@jdoe",
             "account_id": "acct-100001"}
    stored = orjson.dumps(clear).decode()
    shown = orjson.loads(chdb_warehouse.query(f"SELECT cx_shown_identifiers({_literal(stored)})").scalar())
    assert shown == {kind: mask(kind, value) for kind, value in clear.items()}
    again = chdb_warehouse.query(f"SELECT cx_shown_identifiers({_literal(orjson.dumps(shown).decode())})").scalar()
    assert orjson.loads(again) == shown, "a pseudonymized deployment's stored masks are shown as they are"
    assert chdb_warehouse.query("SELECT cx_shown_identifiers('')").scalar() == ""
