"""A customer's email / social / SMS / WhatsApp message with no agent reply within its SLA.

The SLA clock runs in business hours when a calendar is configured (it pauses outside them).
"""

from streams.domain.channels import MESSAGING
from streams.domain.detect.finding import Finding

NAME = "unanswered_message"
DEFAULTS = {"open_seconds": 3600.0, "escalate_seconds": 14400.0, "cooldown_seconds": 3600.0, "business_hours": 1.0}


def findings(state, config):
    for cid, c in state.contacts.items():
        if c.channel not in MESSAGING:
            continue
        since = c.waiting_since
        if since is None:
            # answered: the last wait (if any) ended with the agent's reply
            replied = [(t, next((a for a in c.agent_messages if a > t), None)) for t in c.customer_messages]
            since, ended = next(((t, a) for t, a in reversed(replied) if a is not None), (None, None))
            if since is None:
                continue
        else:
            ended = c.ended
        p = config.params(NAME, c.channel, c.queue)
        clock = config.calendar if p.business_hours else None
        fires = clock.add(since, p.open_seconds) if clock else since + p.open_seconds
        escalates = clock.add(since, p.escalate_seconds) if clock else since + p.escalate_seconds
        yield Finding(NAME, cid, since, fires, ended, escalates, channel=c.channel, contact_id=cid,
                      reason=f"{c.channel} message unanswered for over {p.open_seconds / 60:.0f} min"
                             + (" of service hours" if clock else ""),
                      suggested_action=f"reply on {c.channel} now, or call the customer",
                      weight=p.open_seconds)
