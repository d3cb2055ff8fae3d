"""A live contact on hold too long, or transferred too many times."""

from streams.domain.channels import LIVE
from streams.domain.detect.finding import Finding

NAME = "long_hold"
DEFAULTS = {"open_seconds": 180.0, "escalate_seconds": 420.0, "cooldown_seconds": 600.0, "max_transfers": 3.0}


def findings(state, config):
    for cid, c in state.contacts.items():
        if c.channel not in LIVE:
            continue
        p = config.params(NAME, c.channel, c.queue)
        for i, held in enumerate(c.holds):
            resumed = c.resumes[i] if i < len(c.resumes) else None
            end = min((t for t in (resumed, c.ended, c.abandoned) if t is not None), default=None)
            yield Finding(NAME, f"{cid}/hold{i}", held, held + p.open_seconds, end, held + p.escalate_seconds,
                          channel=c.channel, contact_id=cid,
                          reason=f"on hold on {c.channel} for over {p.open_seconds / 60:.0f} min",
                          suggested_action="ask the agent to resume or hand over", weight=p.open_seconds)
        k = int(p.max_transfers)
        if len(c.transfers) >= k:
            end = min((t for t in (c.ended, c.abandoned) if t is not None), default=None)
            yield Finding(NAME, f"{cid}/transfers", c.started, c.transfers[k - 1], end, None,
                          channel=c.channel, contact_id=cid,
                          reason=f"transferred {len(c.transfers)} times on one {c.channel} contact",
                          suggested_action="a supervisor takes the contact over", weight=len(c.transfers))
