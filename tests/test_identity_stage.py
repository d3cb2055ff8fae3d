"""The identity stage's public records and the router's guards, without Kafka."""

from __future__ import annotations

import json

import jsonschema
import orjson
import pytest

from streams.config import ConfigError, Settings, load_settings
from streams.domain.contract import schemas_dir
from streams.domain.identity_graph import LinkChange, canonical_id, guards_of, observations
from streams.stages.identity import Router, blocked_record, link_record

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


def test_a_resolved_record_carries_the_customer_beside_the_event_and_the_old_format_still_reads():
    import msgspec

    from streams.domain.records import decode_resolved, encode, encode_resolved
    from tests.samples import sample
    from tests.test_ingest_parse import run

    ev = run(orjson.dumps(sample("cx.contact.queued")))
    resolved = decode_resolved(encode_resolved("c_0123456789abcdef", encode(ev)))
    assert resolved == msgspec.structs.replace(ev, resolved_customer="c_0123456789abcdef")
    # written before the identity stage stopped re-encoding events: the event alone, its customer inside
    assert decode_resolved(encode(msgspec.structs.replace(ev, resolved_customer="c_1"))).resolved_customer == "c_1"


def test_the_router_sends_observes_by_identifier_and_an_anonymous_event_straight_to_resolved():
    from types import SimpleNamespace

    from streams.domain import identity_graph as graph
    from streams.domain.records import decode_resolved, encode
    from streams.runtime.envelopes import Envelopes, partition_of, unpack
    from tests.samples import sample
    from tests.test_ingest_parse import run

    router = Router(Settings(), SimpleNamespace(identity="graph", resolved="resolved", links="links"))
    known, anonymous = sample("cx.contact.queued"), sample("cx.contact.queued", id="anon-1")
    known["data"]["customer"] = {"email": "dana.lee3@example.com", "phone": "+14155550101", "customer_id": "unknown"}
    anonymous["data"]["customer"] = {"phone": "Private Number"}
    out, blocked = Envelopes(4), []
    for raw in (known, anonymous, known):
        ev = run(orjson.dumps(raw))
        router.route(ev, encode(ev), out, blocked)
    sent = {(topic, partition): unpack(value) for topic, partition, value in out.drain()}
    observes = [graph.decode_message(v) for (topic, _), values in sent.items() if topic == "graph" for v in values]
    assert sorted(o.node for o in observes) == ["email:dana.lee3@example.com"] * 2 + ["phone:+14155550101"] * 2
    assert all(partition_of(o.node.encode(), 4) == p for (topic, p), values in sent.items() if topic == "graph"
               for o in map(graph.decode_message, values))
    anon = run(orjson.dumps(anonymous))
    assert [decode_resolved(v) for v in sent[("resolved", partition_of(anon.dedup_key.encode(), 4))]] == [anon]
    # the blocked placeholder is recorded once per worker, however often it is seen
    assert [(r["identifier"], r["status"]) for r in blocked] == [("customer_id:unknown", "blocked")]
