"""Valid example events, one per type, for unit tests."""

from __future__ import annotations

import copy

BASE_TIME = "2026-11-24T12:00:00.000Z"

DATA_BY_TYPE = {
    "cx.contact.started": {"channel": "voice", "customer": {"phone": "+1 202 555 0143"}, "contact_id": "call-1", "queue": "billing"},
    "cx.contact.queued": {"channel": "voice", "customer": {"phone": "+12025550143"}, "contact_id": "call-1", "queue": "billing"},
    "cx.contact.assigned": {"channel": "chat", "customer": {"email": "a@example.com"}, "contact_id": "chat-1", "agent_id": "agent-7"},
    "cx.contact.answered": {"channel": "chat", "customer": {"email": "a@example.com"}, "contact_id": "chat-1", "agent_id": "agent-7"},
    "cx.contact.message": {"channel": "email", "customer": {"email": "a@example.com"}, "contact_id": "mail-1",
                           "attributes": {"author": "customer"}},
    "cx.contact.hold": {"channel": "voice", "customer": {"customer_id": "cust-1"}, "contact_id": "call-2"},
    "cx.contact.resumed": {"channel": "voice", "customer": {"customer_id": "cust-1"}, "contact_id": "call-2"},
    "cx.contact.transferred": {"channel": "voice", "customer": {"customer_id": "cust-1"}, "contact_id": "call-2", "queue": "tech"},
    "cx.contact.abandoned": {"channel": "whatsapp", "customer": {"phone": "+442079460958"}, "contact_id": "wa-1"},
    "cx.contact.ended": {"channel": "sms", "customer": {"phone": "+442079460958"}, "contact_id": "sms-1",
                         "attributes": {"resolution": "resolved"}},
    "cx.callback.requested": {"channel": "voice", "customer": {"phone": "+12025550143"}, "direction": "outbound"},
    "cx.callback.completed": {"channel": "voice", "customer": {"phone": "+12025550143"}, "contact_id": "call-3"},
    "cx.journey.step": {"channel": "web", "customer": {"visitor_id": "v-1"},
                        "attributes": {"journey": "checkout", "step": "payment", "status": "failed"}},
    "cx.page.viewed": {"channel": "app", "customer": {"device_id": "d-1"}, "attributes": {"url": "/plans"}},
    "cx.selfservice.searched": {"channel": "self_service", "customer": {"visitor_id": "v-1"}, "attributes": {"query": "refund"}},
    "cx.selfservice.viewed": {"channel": "self_service", "customer": {"visitor_id": "v-1"}},
    "cx.survey.responded": {"channel": "survey", "customer": {"email": "a@example.com"}, "attributes": {"csat": 2, "nps": 3}},
    "cx.identity.linked": {"channel": "app", "customer": {"email": "a@example.com", "phone": "+12025550143",
                                                           "account_id": "acct-9"}},
    "cx.outreach.claimed": {"channel": "voice", "customer": {"email": "a@example.com"}, "agent_id": "agent-7",
                            "attributes": {"team": "outreach-1", "work_item_id": "wi_1"}},
    "cx.outreach.released": {"channel": "voice", "customer": {"email": "a@example.com"}, "agent_id": "agent-7",
                             "attributes": {"team": "outreach-1", "alert_id": "al_1"}},
    "cx.outreach.snoozed": {"channel": "voice", "customer": {"email": "a@example.com"}, "agent_id": "agent-7",
                            "attributes": {"team": "outreach-1", "work_item_id": "wi_1",
                                           "until": "2026-11-24T13:00:00Z"}},
    "cx.outreach.attempted": {"channel": "sms", "customer": {"phone": "+12025550143"}, "agent_id": "agent-7",
                              "attributes": {"team": "outreach-1", "work_item_id": "wi_1", "outcome": "no_answer"}},
    "cx.outreach.completed": {"channel": "voice", "customer": {"email": "a@example.com"}, "agent_id": "agent-7",
                              "attributes": {"team": "outreach-1", "work_item_id": "wi_1", "outcome": "resolved"}},
    "cx.privacy.erasure_requested": {"customer": {"email": "a@example.com"}},
}


def sample(type_: str = "cx.contact.message", **overrides) -> dict:
    event = {"specversion": "1.0", "id": f"id-{type_}", "source": "/test", "type": type_, "time": BASE_TIME,
             "data": copy.deepcopy(DATA_BY_TYPE[type_])}
    event.update(overrides)
    return event
