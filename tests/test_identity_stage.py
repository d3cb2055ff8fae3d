"""The identity stage's public records and the router's guards, without Kafka."""

from __future__ import annotations

import json

import jsonschema
import pytest

from streams.config import ConfigError, Settings, load_settings
from streams.domain.contract import schemas_dir
from streams.domain.identity_graph import LinkChange, canonical_id, guards_of, observations
from streams.stages.identity import blocked_record, link_record

SCHEMA = json.loads((schemas_dir() / "identity" / "v1" / "link.schema.json").read_text())


@pytest.mark.parametrize("change, kind", [
    (LinkChange("email:a@x.io", "email:a@x.io", "", "linked", 0, 1, 10.0), "new"),
    (LinkChange("email:a@x.io", "phone:+14155550101", "email:a@x.io", "linked", 0, 2, 10.0), "merged"),
    (LinkChange("phone:+14155550000", "phone:+14155550000", "phone:+14155550000", "over_cap", 1, 3, 5.0), "over_cap"),
    (LinkChange("email:a@x.io", "email:a@x.io", "email:a@x.io", "linked", 0, 1, 10.0), "republished"),
])
def test_link_records_follow_the_published_schema(change, kind):
    record = link_record(change, now=20.0)
    jsonschema.validate(record, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert record["change"] == kind
    assert record["customer_id"] == canonical_id(change.canonical) and record["node_id"] == canonical_id(change.identifier)


def test_blocked_records_follow_the_published_schema():
    record = blocked_record("customer_id:unknown", "blocked value 'unknown'", now=20.0)
    jsonschema.validate(record, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert (record["status"], record["customer_id"]) == ("blocked", "")


def test_default_guards_block_placeholders_but_not_real_customers():
    guards = guards_of(Settings())
    sends, blocked = observations({"customer_id": "NULL", "email": "noreply@shop.io", "phone": "+10000000000",
                                   "visitor_id": "v-1"}, 0.0, b"e", guards)
    assert [o.node for o in sends] == ["visitor_id:v-1"]
    assert len(blocked) == 3
    sends, blocked = observations({"email": "dana.lee3@example.com", "phone": "+14155550101"}, 0.0, b"e", guards)
    assert len(sends) == 2 and blocked == []


@pytest.mark.parametrize("text, problem", [
    ("[identity]\ncaps = { shoe_size = 3 }\n", "unknown identifier kinds"),
    ("[identity]\nblocked_patterns = ['(unclosed']\n", "blocked_patterns"),
    ("[identity]\ncaps = { email = 0 }\n", "caps"),
])
def test_identity_settings_are_checked_at_start(tmp_path, text, problem):
    file = tmp_path / "c.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=problem):
        load_settings(file, environ={})
