"""Native vendor adapters (streams/adapters): fixtures written from each vendor's published documentation.

Doc pages the fixtures follow (each test names its own):
- Amazon Connect: "Amazon Connect contact events", https://docs.aws.amazon.com/connect/latest/adminguide/contact-events.html
- Twilio: "TaskRouter Events reference", https://www.twilio.com/docs/taskrouter/api/event/reference, and
  "Secure webhooks", https://www.twilio.com/docs/usage/webhooks/webhooks-security
- Genesys Cloud: "Amazon EventBridge integration", https://developer.genesys.cloud/notificationsalerts/notifications/event-bridge,
  and the detail event models of the Genesys SDK (MyPureCloud/platform-client-sdk-python build/docs/*DetailEventTopic*.md)
- Zendesk: "Ticket events", https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/,
  "Webhook event types" (user events) and "Verifying webhook authenticity",
  https://developer.zendesk.com/documentation/webhooks/verifying/
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.adapters import ADAPTERS, BadSignature, Unmapped, VendorRequest
from streams.adapters import twilio as twilio_adapter
from streams.config import IngestSettings
from streams.domain import contract
from streams.domain.normalize import normalize, parse_time
from streams.domain.rejections import Reason, Rejected

FIXTURES = Path(__file__).parent / "fixtures" / "vendors"
URL = "https://cx.example.com/v1/vendors/{}?tenant=acme"


def request(vendor: str, fixture: str, headers: dict | None = None, body: bytes | None = None) -> VendorRequest:
    return VendorRequest(URL.format(vendor), headers or {}, body if body is not None else (FIXTURES / vendor / fixture).read_bytes())


def events(vendor: str, fixture: str) -> list[dict]:
    return ADAPTERS[vendor].to_events(request(vendor, fixture))


def valid(event: dict) -> dict:
    """The event passes the contract and normalizes with default settings (its own time as the clock)."""
    contract.check(event)
    normalize(event, mode="structured", origin="test", received_at=0.0, settings=IngestSettings(),
              now=parse_time(event["time"]))
    return event


def one(vendor: str, fixture: str) -> dict:
    (event,) = events(vendor, fixture)
    return valid(event)


# ---------------------------------------------------------------- every fixture maps to valid events

MAPPED = [(vendor.name, f.name) for vendor in sorted(FIXTURES.iterdir()) for f in sorted(vendor.iterdir())
          if f.name not in {"contact_data_updated_chat.json", "flow_start_voice.json", "worker_activity_update.form",
                            "priority_changed.json"}]


@pytest.mark.parametrize(("vendor", "fixture"), MAPPED)
def test_every_mapped_fixture_passes_the_contract_and_normalizes(vendor, fixture):
    """All fixtures under tests/fixtures/vendors (see the module docstring for their doc pages)."""
    out = events(vendor, fixture)
    for event in out:
        valid(event)
        assert event["source"].startswith(vendor)
    assert len({e["id"] for e in out}) == len(out)
    assert events(vendor, fixture) == out  # deterministic: a redelivered webhook has the same ids


def test_registry_names_and_signing():
    assert set(ADAPTERS) == {"amazon-connect", "twilio", "genesys-cloud", "zendesk"}
    assert {name for name, a in ADAPTERS.items() if a.signed} == {"twilio", "zendesk"}
    assert all(a.name == name for name, a in ADAPTERS.items())


# ---------------------------------------------------------------- Amazon Connect

def test_connect_lifecycle_of_a_voice_call():
    """contact-events.html: INITIATED, QUEUED, CONNECTED_TO_AGENT and DISCONNECTED of one voice contact
    (the CONNECTED_TO_AGENT and DISCONNECTED samples of the page, with a customer endpoint)."""
    kinds = [one("amazon-connect", f)["type"] for f in ("initiated_voice.json", "queued_voice.json",
                                                          "connected_to_agent_voice.json", "disconnected_after_agent_voice.json")]
    assert kinds == ["cx.contact.started", "cx.contact.queued", "cx.contact.answered", "cx.contact.ended"]
    answered = one("amazon-connect", "connected_to_agent_voice.json")
    assert answered["source"] == "amazon-connect/12345678-1234-1234-1234-123456789012"
    assert answered["id"] == "0c6e7a8e-0001-4b1c-9d2f-000000000003"
    assert answered["time"] == "2021-08-04T17:29:09.000Z"  # connectedToAgentTimestamp, not the EventBridge time
    data = answered["data"]
    assert (data["channel"], data["contact_id"]) == ("voice", "11111111-1111-1111-1111-111111111111")
    assert data["customer"] == {"phone": "+12025550171"}
    assert data["queue"] == "aaaaaaaa-1234-1234-1234-123456789012"
    assert data["agent_id"] == "bbbbbbbb-1234-1234-1234-123456789012"
    assert data["direction"] == "inbound"
    assert one("amazon-connect", "disconnected_after_agent_voice.json")["data"]["attributes"]["disconnect_reason"] \
        == "CUSTOMER_DISCONNECT"


def test_connect_disconnect_before_an_agent_is_abandoned():
    """contact-events.html (PascalCase keys as in its routing-criteria samples; segment attribute
    connect:Subtype connect:SMS): a queued SMS chat dropped before an agent connected."""
    event = one("amazon-connect", "disconnected_abandoned_sms.json")
    assert event["type"] == "cx.contact.abandoned"
    assert event["data"]["channel"] == "sms"
    assert event["data"]["customer"] == {"phone": "+442079460958"}
    assert event["time"] == "2023-11-01T18:39:58.120Z"


def test_connect_disconnect_never_queued_is_ended_not_abandoned():
    """contact-events.html, DISCONNECTED sample (OUTBOUND: no queueInfo, no agent): not an abandonment."""
    doc = json.loads((FIXTURES / "amazon-connect" / "disconnected_after_agent_voice.json").read_text())
    del doc["detail"]["agentInfo"], doc["detail"]["queueInfo"]
    doc["detail"]["initiationMethod"] = "OUTBOUND"
    (event,) = ADAPTERS["amazon-connect"].to_events(request("amazon-connect", "", body=json.dumps(doc).encode()))
    assert valid(event)["type"] == "cx.contact.ended"
    assert event["data"]["direction"] == "outbound"


def test_connect_customer_id_and_fallback_identifier():
    """contact-events.html, Contact event property CustomerId (a CRM id); without any identifier the
    contact's own initial contact id is used as visitor_id."""
    assert one("amazon-connect", "initiated_email_customer_id.json")["data"]["customer"] == {"customer_id": "CRM-778812"}
    doc = json.loads((FIXTURES / "amazon-connect" / "initiated_voice.json").read_text())
    del doc["detail"]["customerEndpoint"]
    (event,) = ADAPTERS["amazon-connect"].to_events(request("amazon-connect", "", body=json.dumps(doc).encode()))
    assert valid(event)["data"]["customer"] == {"visitor_id": "amazon-connect:11111111-1111-1111-1111-111111111111"}


def test_connect_unmapped_types_and_channels():
    """contact-events.html, "Sample event for when contact properties are updated" (CONTACT_DATA_UPDATED);
    a TASK contact; another detail-type."""
    with pytest.raises(Unmapped) as err:
        events("amazon-connect", "contact_data_updated_chat.json")
    assert (err.value.vendor, err.value.event_type) == ("amazon-connect", "CONTACT_DATA_UPDATED")
    doc = json.loads((FIXTURES / "amazon-connect" / "initiated_voice.json").read_text())
    doc["detail"]["channel"] = "TASK"
    with pytest.raises(Unmapped, match="TASK"):
        ADAPTERS["amazon-connect"].to_events(request("amazon-connect", "", body=json.dumps(doc).encode()))
    doc["detail-type"] = "Contact Lens Realtime Rules Matched"
    with pytest.raises(Unmapped, match="Contact Lens"):
        ADAPTERS["amazon-connect"].to_events(request("amazon-connect", "", body=json.dumps(doc).encode()))


def test_withheld_caller_passes_through_as_is():
    """contact-events.html endpoint Address; withheld numbers arrive as words ("anonymous"): kept raw,
    normalization (not the adapter) decides what to do with them."""
    doc = json.loads((FIXTURES / "amazon-connect" / "initiated_voice.json").read_text())
    doc["detail"]["customerEndpoint"]["address"] = "anonymous"
    (event,) = ADAPTERS["amazon-connect"].to_events(request("amazon-connect", "", body=json.dumps(doc).encode()))
    assert event["data"]["customer"] == {"phone": "anonymous"}


# ---------------------------------------------------------------- Twilio

def test_twilio_voice_task_lifecycle():
    """TaskRouter Events reference: task.created, task-queue.entered, reservation.accepted, task.canceled
    (voice task; TaskAttributes from/to/direction/call_sid as a voice task carries them)."""
    created = one("twilio", "task_created_voice.form")
    assert created["type"] == "cx.contact.started"
    assert created["source"] == "twilio/WS0000000000000000000000000000001"
    assert created["id"] == "EV0000000000000000000000000000001"
    assert created["time"] == "2025-01-01T12:00:00.000Z"
    assert created["data"]["customer"] == {"phone": "+12025550143"}
    assert (created["data"]["channel"], created["data"]["contact_id"]) == ("voice", "WT0000000000000000000000000000001")
    assert one("twilio", "task_queue_entered_voice.form")["type"] == "cx.contact.queued"
    accepted = one("twilio", "reservation_accepted_voice.form")
    assert (accepted["type"], accepted["data"]["agent_id"]) == ("cx.contact.answered", "WK0000000000000000000000000000001")
    assert accepted["data"]["queue"] == "Everyone"
    canceled = one("twilio", "task_canceled_voice.form")
    assert canceled["type"] == "cx.contact.abandoned"
    assert canceled["data"]["attributes"]["canceled_reason"] == "hangup"


def test_twilio_messaging_tasks():
    """TaskRouter Events reference (task.completed, reservation.created); Flex messaging task attributes
    channelType/from ("whatsapp:+..."), and the Flex Insights customers object (external_id, account_number)."""
    done = one("twilio", "task_completed_whatsapp.form")
    assert done["type"] == "cx.contact.ended"
    assert done["data"]["channel"] == "whatsapp"
    assert done["data"]["customer"] == {"customer_id": "CRM-1042", "account_id": "A-1", "phone": "+442079460958"}
    assert done["data"]["attributes"]["resolution"] == "resolved"
    offered = one("twilio", "reservation_created_sms.form")
    assert (offered["type"], offered["data"]["channel"]) == ("cx.contact.assigned", "sms")
    assert offered["data"]["customer"] == {"phone": "+12025550188"}


def test_twilio_event_id_without_sid_is_deterministic():
    """TaskRouter Events reference lists no event sid among the callback parameters: the id is then a
    hash of the workspace, type, resource, task and timestamp, the same on every redelivery."""
    params = dict(parse_qsl((FIXTURES / "twilio" / "task_created_voice.form").read_text().strip()))
    del params["Sid"]
    body = urlencode(params).encode()
    first, = ADAPTERS["twilio"].to_events(request("twilio", "", body=body))
    again, = ADAPTERS["twilio"].to_events(request("twilio", "", body=body))
    assert first["id"] == again["id"] and len(first["id"]) == 32
    params["TimestampMs"] = str(int(params["TimestampMs"]) + 1)
    other, = ADAPTERS["twilio"].to_events(request("twilio", "", body=urlencode(params).encode()))
    assert other["id"] != first["id"]


def test_twilio_unmapped_event_type():
    """TaskRouter Events reference: worker.activity.update reaches the same callback."""
    with pytest.raises(Unmapped) as err:
        events("twilio", "worker_activity_update.form")
    assert (err.value.vendor, err.value.event_type) == ("twilio", "worker.activity.update")


def test_twilio_signature_published_example():
    """Twilio's own validator test vector (twilio/twilio-python tests/unit/test_request_validator.py, the
    example of "Secure webhooks"): auth token 12345, URL and parameters below -> RSOYDt4T1cUTdK1PDd93/VVr8B8=."""
    params = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
              "Caller": "+14158675309"}
    req = VendorRequest("https://mycompany.com/myapp.php?foo=1&bar=2",
                        {"x-twilio-signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, urlencode(params).encode())
    ADAPTERS["twilio"].verify(req, "12345")
    # the same with a port Twilio's validators ignore (their test_validation_removes_port_on_https)
    ADAPTERS["twilio"].verify(VendorRequest("https://mycompany.com:1234/myapp.php?foo=1&bar=2", req.headers, req.body), "12345")
    with pytest.raises(BadSignature):
        ADAPTERS["twilio"].verify(req, "54321")


def twilio_signed(body: bytes, token: str, url: str) -> VendorRequest:
    params = parse_qsl(body.decode(), keep_blank_values=True)
    payload = url + "".join(k + v for k, v in sorted(params))
    digest = base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()
    return VendorRequest(url, {"x-twilio-signature": digest}, body)


def test_twilio_signature_good_wrong_missing_changed():
    """Secure webhooks: base64(HMAC-SHA1(auth token, URL + sorted name/value pairs))."""
    url = URL.format("twilio")
    body = (FIXTURES / "twilio" / "task_created_voice.form").read_bytes()
    good = twilio_signed(body, "auth-token", url)
    ADAPTERS["twilio"].verify(good, "auth-token")
    for bad in (VendorRequest(url, {}, body),
                VendorRequest(url, {"x-twilio-signature": "AAAA"}, body),
                VendorRequest(url, good.headers, body.replace(b"task.created", b"task.canceled")),
                VendorRequest(url + "&x=1", good.headers, body)):
        with pytest.raises(BadSignature):
            ADAPTERS["twilio"].verify(bad, "auth-token")
    with pytest.raises(BadSignature):
        ADAPTERS["twilio"].verify(good, "other-token")


def test_twilio_repeated_parameters_sort_by_value():
    """twilio-python's duplicate-parameter vector: Digits=5678&Digits=1234 -> IK+Dwps556ElfBT0I3Rgjkr1wJU=."""
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    digest = twilio_adapter.signature("https://mycompany.com/myapp.php?foo=1&bar=2", params, "12345")
    assert base64.b64encode(digest).decode() == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


# ---------------------------------------------------------------- Genesys Cloud

def test_genesys_voice_conversation():
    """EventBridge integration envelope; CustomerStart/AcdStart/AcdEnd/CustomerEnd detail event models
    (eventTime epoch ms, ani "tel:+...", queueId, acdOutcome ANSWERED + answeredUserId, disconnectType)."""
    start = one("genesys-cloud", "customer_start_voice.json")
    assert start["type"] == "cx.contact.started"
    assert start["source"] == "genesys-cloud/a1b2c3d4-0000-4000-8000-00000000000a"
    assert start["id"] == "9f1c0000-0000-4000-8000-000000000001"
    assert start["time"] == "2025-12-12T15:02:30.107Z"
    assert start["data"]["customer"] == {"visitor_id": "genesys-cloud:contact:ec-5521", "phone": "+12025550199"}
    assert start["data"]["contact_id"] == "c0ffee00-1111-4111-8111-000000000001"
    queued = one("genesys-cloud", "acd_start_voice.json")
    assert (queued["type"], queued["data"]["queue"]) == ("cx.contact.queued", "q-billing")
    answered = one("genesys-cloud", "acd_end_answered_voice.json")
    assert (answered["type"], answered["data"]["agent_id"]) == ("cx.contact.answered", "u-agent-7")
    ended = one("genesys-cloud", "customer_end_voice.json")
    assert ended["type"] == "cx.contact.ended"
    assert ended["data"]["attributes"]["disconnect_type"] == "PEER"


def test_genesys_abandoned_message_and_batch():
    """AcdEnd model acdOutcome ABANDON on a MESSAGE/WHATSAPP conversation; an EMAIL conversation's
    customer.start and user.start delivered as one JSON array."""
    abandoned = one("genesys-cloud", "acd_end_abandon_whatsapp.json")
    assert (abandoned["type"], abandoned["data"]["channel"]) == ("cx.contact.abandoned", "whatsapp")
    assert abandoned["data"]["customer"] == {"phone": "+442079460958"}
    start, assigned = (valid(e) for e in events("genesys-cloud", "batch_email_start_and_agent.json"))
    assert (start["type"], assigned["type"]) == ("cx.contact.started", "cx.contact.assigned")
    assert start["data"]["customer"] == {"email": "Jane.Doe@Example.com"}
    assert assigned["data"]["agent_id"] == "u-agent-9"


def test_genesys_unmapped_topic_and_outcome():
    """Available topics: v2.detail.events.conversation.{id}.flow.start is not a contact lifecycle step."""
    with pytest.raises(Unmapped) as err:
        events("genesys-cloud", "flow_start_voice.json")
    assert (err.value.vendor, err.value.event_type) == ("genesys-cloud", "flow.start")
    doc = json.loads((FIXTURES / "genesys-cloud" / "acd_end_answered_voice.json").read_text())
    doc["detail"]["eventBody"]["acdOutcome"] = "UNKNOWN"
    with pytest.raises(Unmapped, match="acdOutcome UNKNOWN"):
        ADAPTERS["genesys-cloud"].to_events(request("genesys-cloud", "", body=json.dumps(doc).encode()))


def test_genesys_mixed_batch_is_all_or_nothing():
    """A batch with one unmapped event raises Unmapped for the whole request (dead-lettered whole, so
    nothing in it is dropped silently)."""
    batch = [json.loads((FIXTURES / "genesys-cloud" / f).read_text())
             for f in ("customer_start_voice.json", "flow_start_voice.json")]
    with pytest.raises(Unmapped):
        ADAPTERS["genesys-cloud"].to_events(request("genesys-cloud", "", body=json.dumps(batch).encode()))


# ---------------------------------------------------------------- Zendesk

def test_zendesk_ticket_lifecycle():
    """Ticket events: ticket.created, ticket.comment_added (author.is_staff), ticket.status_changed to SOLVED."""
    started, first = (valid(e) for e in events("zendesk", "ticket_created_email.json"))
    assert (started["type"], first["type"]) == ("cx.contact.started", "cx.contact.message")
    assert first["data"]["attributes"]["author"] == "customer"
    assert started["source"] == "zendesk/12514403"
    assert started["id"] == "cbe4028c-7239-495d-b020-f22348516046"
    assert started["data"]["customer"] == {"visitor_id": "zendesk:user:1500000000001"}
    assert (started["data"]["channel"], started["data"]["contact_id"]) == ("email", "4217")
    agent = one("zendesk", "comment_added_agent.json")
    assert (agent["data"]["attributes"]["author"], agent["data"]["agent_id"]) == ("agent", "1500000000099")
    assert one("zendesk", "comment_added_customer.json")["data"]["attributes"]["author"] == "customer"
    solved = one("zendesk", "status_changed_solved.json")
    assert (solved["type"], solved["data"]["attributes"]["resolution"]) == ("cx.contact.ended", "resolved")


def test_zendesk_notes_and_other_statuses_map_to_nothing():
    """Ticket events: an internal note (is_public false) and a change to PENDING are no contract event."""
    assert events("zendesk", "comment_added_internal_note.json") == []
    assert events("zendesk", "status_changed_pending.json") == []


def test_zendesk_user_created_links_identifiers():
    """Webhook event types (user events: detail.email, detail.external_id, role end-user)."""
    linked = one("zendesk", "user_created.json")
    assert linked["type"] == "cx.identity.linked"
    assert linked["data"]["customer"] == {"visitor_id": "zendesk:user:1500000000001",
                                          "email": "jane.doe@example.com", "customer_id": "CRM-1042"}


def test_zendesk_unmapped_event_type():
    """Ticket events: ticket.priority_changed."""
    with pytest.raises(Unmapped) as err:
        events("zendesk", "priority_changed.json")
    assert (err.value.vendor, err.value.event_type) == ("zendesk", "ticket.priority_changed")


def zendesk_signed(body: bytes, secret: str, timestamp: str = "2025-03-10T08:15:01Z") -> dict:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {"x-zendesk-webhook-signature": base64.b64encode(digest).decode(),
            "x-zendesk-webhook-signature-timestamp": timestamp}


def test_zendesk_signature_good_wrong_missing_changed():
    """Verifying webhook authenticity: base64(HMACSHA256(TIMESTAMP + BODY)); the page's test signing secret
    dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ== is the key here."""
    secret = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
    body = (FIXTURES / "zendesk" / "ticket_created_email.json").read_bytes()
    headers = zendesk_signed(body, secret)
    ADAPTERS["zendesk"].verify(request("zendesk", "", headers, body), secret)
    cases = [({}, body), ({**headers, "x-zendesk-webhook-signature": "bm9wZQ=="}, body),
             ({"x-zendesk-webhook-signature": headers["x-zendesk-webhook-signature"]}, body),
             ({**headers, "x-zendesk-webhook-signature-timestamp": "2025-03-10T08:15:02Z"}, body),
             (headers, body.replace(b"4217", b"4218"))]
    for bad_headers, bad_body in cases:
        with pytest.raises(BadSignature):
            ADAPTERS["zendesk"].verify(request("zendesk", "", bad_headers, bad_body), secret)
    with pytest.raises(BadSignature):
        ADAPTERS["zendesk"].verify(request("zendesk", "", headers, body), "another-secret")


# ---------------------------------------------------------------- bodies that cannot be parsed

@pytest.mark.parametrize("vendor", ["amazon-connect", "genesys-cloud", "zendesk"])
@pytest.mark.parametrize(("body", "reason"), [(b"{not json", Reason.INVALID_JSON), (b"\xff\xfe", Reason.INVALID_UTF8),
                                              (b'"a string"', Reason.NOT_AN_OBJECT), (b"[1]", Reason.NOT_AN_OBJECT)])
def test_unparseable_json_bodies_are_rejected(vendor, body, reason):
    with pytest.raises(Rejected) as err:
        ADAPTERS[vendor].to_events(request(vendor, "", body=body))
    assert err.value.reason == reason


def test_twilio_unparseable_bodies_are_rejected():
    cases = [(b"\xff", Reason.INVALID_UTF8), (b"AccountSid=AC1", Reason.MISSING_FIELD),
             (b"EventType=task.created&TaskSid=WT1&Timestamp=1&WorkspaceSid=WS1&TaskAttributes=%7Bnope",
              Reason.INVALID_JSON)]
    for body, reason in cases:
        with pytest.raises(Rejected) as err:
            ADAPTERS["twilio"].to_events(request("twilio", "", body=body))
        assert err.value.reason == reason


def test_missing_fields_are_rejected():
    doc = json.loads((FIXTURES / "amazon-connect" / "queued_voice.json").read_text())
    del doc["detail"]["contactId"]
    with pytest.raises(Rejected) as err:
        ADAPTERS["amazon-connect"].to_events(request("amazon-connect", "", body=json.dumps(doc).encode()))
    assert err.value.reason == Reason.MISSING_FIELD
    doc = json.loads((FIXTURES / "genesys-cloud" / "acd_start_voice.json").read_text())
    doc["detail"]["eventBody"] = "oops"
    with pytest.raises(Rejected) as err:
        ADAPTERS["genesys-cloud"].to_events(request("genesys-cloud", "", body=json.dumps(doc).encode()))
    assert err.value.reason == Reason.WRONG_TYPE


# ---------------------------------------------------------------- fuzz: only Rejected or Unmapped

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25)


def mutated(vendor: str) -> st.SearchStrategy[bytes]:
    """A fixture with one field of its payload (or of its detail / eventBody) replaced by any JSON value."""
    docs = [json.loads(f.read_text()) for f in sorted((FIXTURES / vendor).iterdir())]

    def mutate(doc, path_choice, index, value):
        doc = json.loads(json.dumps(doc))
        target = doc[0] if isinstance(doc, list) else doc
        for key in ("detail", "eventBody"):
            if path_choice and isinstance(target.get(key), dict):
                target = target[key]
        if target:
            target[sorted(target)[index % len(target)]] = value
        return json.dumps(doc).encode()

    return st.builds(mutate, st.sampled_from(docs), st.booleans(), st.integers(0, 99), json_values)


def only_rejected_or_unmapped(vendor: str, body: bytes) -> None:
    try:
        out = ADAPTERS[vendor].to_events(VendorRequest(URL.format(vendor), {}, body))
    except (Rejected, Unmapped):
        return
    assert isinstance(out, list) and all(isinstance(e, dict) for e in out)


@pytest.mark.parametrize("vendor", sorted(ADAPTERS))
@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(vendor, body):
    only_rejected_or_unmapped(vendor, body)


@pytest.mark.parametrize("vendor", sorted(ADAPTERS))
@settings(max_examples=150, deadline=None)
@given(doc=json_values)
def test_fuzz_arbitrary_json(vendor, doc):
    only_rejected_or_unmapped(vendor, json.dumps(doc).encode())


@pytest.mark.parametrize("vendor", ["amazon-connect", "genesys-cloud", "zendesk"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_fixtures_with_a_field_replaced(vendor, data):
    only_rejected_or_unmapped(vendor, data.draw(mutated(vendor)))


@settings(max_examples=300, deadline=None)
@given(params=st.dictionaries(st.sampled_from(["EventType", "TaskSid", "WorkspaceSid", "Timestamp", "TimestampMs",
                                               "TaskAttributes", "TaskChannelUniqueName", "Sid", "WorkerSid"]),
                              st.text(max_size=30) | json_values.map(json.dumps), max_size=9),
       event_type=st.sampled_from(sorted(twilio_adapter.TYPES)))
def test_fuzz_twilio_forms(params, event_type):
    params = {"EventType": event_type, **params}
    only_rejected_or_unmapped("twilio", urlencode(params).encode())


@pytest.mark.parametrize("vendor", ["twilio", "zendesk"])
@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=100), headers=st.dictionaries(
    st.sampled_from(["x-twilio-signature", "x-zendesk-webhook-signature", "x-zendesk-webhook-signature-timestamp"]),
    st.text(max_size=40)), url=st.text(max_size=40) | st.just("https://[::1/x"))
def test_fuzz_verify_raises_only_bad_signature(vendor, body, headers, url):
    with pytest.raises(BadSignature):
        ADAPTERS[vendor].verify(VendorRequest(url, headers, body), "secret")
