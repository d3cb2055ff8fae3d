"""An abandoned call or chat with no callback and no new contact within N seconds."""

from streams.domain.channels import LIVE
from streams.domain.detect.finding import Finding

NAME = "abandoned_without_callback"
DEFAULTS = {"open_seconds": 600.0, "escalate_seconds": 3600.0, "cooldown_seconds": 3600.0}


def findings(state, config):
    for cid, c in state.contacts.items():
        if c.channel not in LIVE or c.abandoned is None or c.answered is not None:
            continue
        p = config.params(NAME, c.channel, c.queue)
        later = [o.started for k, o in state.contacts.items() if k != cid and o.started > c.abandoned]
        ends = [t for t in (c.callback_completed, c.callback_requested, min(later, default=None)) if t is not None]
        yield Finding(NAME, cid, c.abandoned, c.abandoned + p.open_seconds, min(ends, default=None),
                      c.abandoned + p.escalate_seconds, channel=c.channel, contact_id=cid,
                      reason=f"gave up waiting on {c.channel} and nobody called back within {p.open_seconds / 60:.0f} min",
                      suggested_action="call the customer back", weight=p.open_seconds)
