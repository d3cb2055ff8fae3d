"""The CloudEvents HTTP binding as the gateway reads it, and back as the demo's channel systems post it."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.rejections import Reason, Rejected
from streams.gateway.http_binding import (
    BATCH_CONTENT_TYPE,
    UnsupportedMediaType,
    from_kafka,
    to_kafka,
)

attribute_names = st.sampled_from(["id", "source", "type", "time", "subject", "specversion", "xtenant"])


@given(attributes=st.dictionaries(attribute_names, st.text(min_size=1, max_size=30), min_size=1),
       body=st.binary(max_size=50))
def test_binary_mode_survives_http_and_back(attributes, body):
    """Any attribute value, however odd (quotes, %, spaces, emoji), comes through percent-encoding unchanged."""
    kafka_headers = [("ce_specversion", b"1.0")] + [("ce_" + k, v.encode()) for k, v in attributes.items()] + \
                    [("content-type", b"application/json")]
    http_headers, http_body = from_kafka(body, kafka_headers)
    assert all(value.isascii() and " " not in value and '"' not in value for value in http_headers.values())
    [message] = to_kafka(http_headers, http_body, max_batch_events=10)
    assert sorted(message.headers) == sorted(dict(kafka_headers).items())
    assert message.value == body


def test_structured_mode_is_forwarded_byte_for_byte():
    body = b'{"specversion": "1.0", "id": "1"}'
    headers, _ = from_kafka(body, [])
    assert headers == {"content-type": "application/cloudevents+json"}
    assert [m.value for m in to_kafka({"content-type": "application/cloudevents+json; charset=utf-8"}, body,
                                      max_batch_events=1)] == [body]


def test_a_batch_becomes_one_structured_message_per_event():
    events = [{"id": str(i)} for i in range(3)]
    messages = to_kafka({"content-type": BATCH_CONTENT_TYPE}, orjson.dumps(events), max_batch_events=3)
    assert [orjson.loads(m.value) for m in messages] == events and all(m.headers == [] for m in messages)


@pytest.mark.parametrize("body, limit, reason", [
    (b"[", 5, Reason.INVALID_JSON), (b'{"id": 1}', 5, Reason.NOT_AN_OBJECT), (b"[1, 2, 3]", 2, Reason.TOO_LARGE)])
def test_a_bad_batch_is_refused_with_the_dead_letter_reason(body, limit, reason):
    with pytest.raises(Rejected) as refused:
        to_kafka({"content-type": BATCH_CONTENT_TYPE}, body, max_batch_events=limit)
    assert refused.value.reason == reason


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
def test_anything_else_is_not_a_cloudevent(content_type):
    with pytest.raises(UnsupportedMediaType, match="ce-\\* headers"):
        to_kafka({"content-type": content_type}, b"{}", max_batch_events=1)
