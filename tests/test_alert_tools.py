"""The alert board's bookkeeping, the replay file reader and webhook signatures, without Kafka."""

from __future__ import annotations

import io

import pytest

from streams.cli.alerts_view import Board
from streams.cli.replay import read
from streams.stages.delivery import sign, verify


def alert(alert_id: str, version: int, state: str, priority: float) -> dict:
    return {"alert_id": alert_id, "version": version, "state": state, "priority": priority,
            "threshold_at": f"2026-01-01T00:00:0{version}Z"}


def test_board_keeps_the_newest_version_whatever_the_order():
    board = Board()
    board.add([alert("a", 2, "escalated", 5), alert("a", 1, "open", 1), alert("b", 1, "open", 9),
               alert("c", 1, "open", 3), alert("c", 2, "resolved", 3)])
    assert [(a["alert_id"], a["state"]) for a in board.open()] == [("b", "open"), ("a", "escalated")]


def test_replay_reads_events_in_time_order_and_names_a_bad_line():
    text = (b'{"time": "2026-01-01T00:00:05Z", "data": {"contact_id": "k"}}\n\n'
            b'{"time": "2026-01-01T00:00:01+00:00", "data": {}}\n')
    records = read(io.BytesIO(text))
    assert [r.at for r in records] == sorted(r.at for r in records) and records[-1].key == b"k"
    with pytest.raises(ValueError, match="line 2"):
        read(io.BytesIO(b'{"time": "2026-01-01T00:00:05Z"}\n{"id": "no time"}\n'))


def test_webhook_signatures_check_key_body_and_freshness():
    body, stamp = b'{"alert_id": "al_1"}', "1767225600"
    signature = sign(b"k", stamp, body)
    assert verify(b"k", stamp, body, signature, now=1767225600 + 10)
    assert not verify(b"other", stamp, body, signature, now=1767225600)
    assert not verify(b"k", stamp, body + b" ", signature, now=1767225600)
    assert not verify(b"k", stamp, body, signature, now=1767225600 + 3600)  # replayed an hour later
    assert not verify(b"k", "soon", body, signature)
