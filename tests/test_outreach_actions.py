"""Outreach actions: the events `cxpulse alerts claim|...` publishes fit the contract."""

from __future__ import annotations

import pytest

from streams.domain import contract
from streams.domain.outreach.actions import ACTIONS, ActionError, action_event, outcomes, reach_by

ALERT = {"alert_id": "al_1", "customer_id": "c_1", "do_not_contact": False,
         "identifiers": {"visitor_id": "v-1", "phone": "+12025550143", "email": "a@example.com"}}
AT = 1_764_000_000.0


def test_outcomes_come_from_the_schema():
    assert outcomes("attempt") == ("reached", "no_answer", "voicemail", "declined", "wrong_number")
    assert outcomes("done") == ("resolved", "callback_scheduled", "not_needed")
    assert outcomes("claim") == ()


@pytest.mark.parametrize("verb", list(ACTIONS))
def test_every_action_is_a_valid_event_stitched_by_the_strongest_identifier(verb):
    extra = {"outcome": outcomes(verb)[0]} if outcomes(verb) else {}
    event = action_event(verb, ALERT, agent="agent-7", team="outreach-1", channel="sms", at=AT,
                         until=AT + 600 if verb == "snooze" else None, note="left a message", **extra)
    contract.check(event)
    assert event["type"] == ACTIONS[verb]
    assert event["data"]["customer"] == {"email": "a@example.com"}
    assert event["data"]["attributes"]["alert_id"] == "al_1"
    assert (event["data"]["agent_id"], event["data"]["attributes"]["team"]) == ("agent-7", "outreach-1")


def test_actions_that_cannot_be_published_say_why():
    with pytest.raises(ActionError, match="outcome"):
        action_event("attempt", ALERT, agent="a", team="t", channel="voice", at=AT, outcome="resolved")
    with pytest.raises(ActionError, match="snooze"):
        action_event("snooze", ALERT, agent="a", team="t", channel="voice", at=AT)
    with pytest.raises(ActionError, match="do-not-contact"):
        reach_by({**ALERT, "do_not_contact": True, "identifiers": {}})
    with pytest.raises(ActionError, match="no identifier"):
        reach_by({**ALERT, "identifiers": {}})
