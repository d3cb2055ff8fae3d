"""The detection stage's record of what is on cx.alerts / cx.work_items: each change is sent once."""

from streams.stages.detect_outbox import Published


def test_a_change_is_claimed_for_sending_once():
    published = Published()
    assert published.claim(("a1", 1))
    assert not published.claim(("a1", 1))  # a recovery's resend, or the agent's own send, finds it claimed
    assert published.claim(("a1", 2))


def test_changes_read_back_from_the_topic_are_not_sent_again():
    published = Published()
    published.update({("a1", 1), ("w1", 3)})
    assert not published.claim(("a1", 1)) and not published.claim(("w1", 3))
    assert published.claim(("w1", 4))
