"""The contract: the schema files decide, and the fast validator agrees with the reference one."""

from __future__ import annotations

import copy
import json

import jsonschema
import pytest
import referencing
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain import contract
from streams.domain.rejections import Reason, Rejected
from tests.samples import DATA_BY_TYPE, sample

ALL_TYPES = contract.load_schemas()["https://cxpulse.dev/schemas/events/v1/cloudevent.schema.json"]["properties"]["type"]["enum"]


def test_every_type_of_the_contract_has_a_valid_example():
    assert sorted(ALL_TYPES) == sorted(DATA_BY_TYPE)
    for type_ in ALL_TYPES:
        contract.check(sample(type_))


def test_schema_files_are_valid_2020_12_schemas():
    for doc in contract.load_schemas().values():
        jsonschema.Draft202012Validator.check_schema(doc)


def _mutated(fn):
    event = sample()
    fn(event)
    return event


@pytest.mark.parametrize("mutation, reason", [
    (lambda e: e.pop("id"), Reason.MISSING_FIELD),
    (lambda e: e.__setitem__("type", "cx.contact.teleported"), Reason.UNKNOWN_TYPE),
    (lambda e: e["data"].__setitem__("channel", "fax"), Reason.UNKNOWN_CHANNEL),
    (lambda e: e.__setitem__("time", 1764000000), Reason.WRONG_TYPE),
    (lambda e: e["data"]["attributes"].pop("author"), Reason.MISSING_FIELD),
    (lambda e: e["data"].pop("contact_id"), Reason.MISSING_FIELD),
    (lambda e: e["data"].__setitem__("customer", {}), Reason.SCHEMA_VIOLATION),
    (lambda e: e["data"].__setitem__("customer", {"nickname": "x"}), Reason.SCHEMA_VIOLATION),
    (lambda e: e.__setitem__("id", "   "), Reason.SCHEMA_VIOLATION),
    (lambda e: e.__setitem__("specversion", "0.3"), Reason.SCHEMA_VIOLATION),
    (lambda e: e.__setitem__("time", "yesterday"), Reason.SCHEMA_VIOLATION),
])
def test_contract_violations_get_their_reason(mutation, reason):
    with pytest.raises(Rejected) as refused:
        contract.check(_mutated(mutation))
    assert refused.value.reason == reason


def test_survey_scores_and_identity_links_are_checked():
    bad_csat = sample("cx.survey.responded")
    bad_csat["data"]["attributes"] = {"csat": 9}
    lonely = sample("cx.identity.linked")
    lonely["data"]["customer"] = {"email": "a@example.com"}
    for event in (bad_csat, lonely):
        with pytest.raises(Rejected):
            contract.check(event)


def _reference_validator():
    docs = contract.load_schemas()
    registry = referencing.Registry().with_resources(
        (uri, referencing.Resource.from_contents(doc)) for uri, doc in docs.items())
    root = next(doc for uri, doc in docs.items() if uri.endswith("/event.schema.json"))
    return jsonschema.Draft202012Validator(root, registry=registry)


REFERENCE = _reference_validator()
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 20), st.text(max_size=8),
                      st.sampled_from(["voice", "fax", "1.0", "cx.contact.ended", "a@b.co", "+12025550143", " "]))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
PATHS = [("id",), ("source",), ("type",), ("time",), ("specversion",), ("data",), ("data", "channel"),
         ("data", "customer"), ("data", "customer", "email"), ("data", "customer", "phone"), ("data", "contact_id"),
         ("data", "attributes"), ("data", "attributes", "author"), ("data", "attributes", "csat"),
         ("data", "attributes", "status"), ("data", "direction"), ("data", "customer", "social")]


@st.composite
def mutated_events(draw):
    event = copy.deepcopy(sample(draw(st.sampled_from(ALL_TYPES))))
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = event
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if draw(st.booleans()):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(json_value)
    return event


@settings(max_examples=600)
@given(mutated_events())
def test_fast_validator_accepts_and_rejects_exactly_what_the_reference_does(event):
    reference_ok = REFERENCE.is_valid(event)
    assert contract.validator().is_valid(event) == reference_ok, json.dumps(event)
    if reference_ok:
        contract.check(event)
    else:
        with pytest.raises(Rejected):
            contract.check(event)


@pytest.mark.parametrize("type_, mutation", [
    ("cx.outreach.claimed", lambda a: a.pop("work_item_id")),          # names neither alert nor item
    ("cx.outreach.claimed", lambda a: a.pop("team")),
    ("cx.outreach.snoozed", lambda a: a.pop("until")),
    ("cx.outreach.snoozed", lambda a: a.__setitem__("until", "later")),
    ("cx.outreach.attempted", lambda a: a.__setitem__("outcome", "resolved")),  # a completion's outcome
    ("cx.outreach.completed", lambda a: a.pop("outcome")),
])
def test_outreach_actions_name_their_item_team_and_outcome(type_, mutation):
    event = sample(type_)
    mutation(event["data"]["attributes"])
    with pytest.raises(Rejected):
        contract.check(event)
    no_agent = sample(type_)
    no_agent["data"].pop("agent_id")
    with pytest.raises(Rejected):
        contract.check(no_agent)
