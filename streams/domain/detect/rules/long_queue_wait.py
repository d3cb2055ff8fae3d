"""A customer queued on a live channel, neither answered nor abandoned after N seconds."""

from streams.domain.channels import LIVE
from streams.domain.detect.finding import Finding

NAME = "long_queue_wait"
DEFAULTS = {"open_seconds": 120.0, "escalate_seconds": 300.0, "cooldown_seconds": 600.0}


def findings(state, config):
    for cid, c in state.contacts.items():
        if c.channel not in LIVE or c.queued is None:
            continue
        p = config.params(NAME, c.channel, c.queue)
        served = min((t for t in (c.answered, c.abandoned, c.ended) if t is not None), default=None)
        yield Finding(NAME, cid, c.queued, c.queued + p.open_seconds, served, c.queued + p.escalate_seconds,
                      channel=c.channel, contact_id=cid,
                      reason=f"waiting in the {c.queue or 'default'} {c.channel} queue for over {p.open_seconds:.0f} s",
                      suggested_action="offer a callback or move the contact to a less busy queue",
                      weight=p.open_seconds)
