"""Contacts on 3 or more channels within a window without a resolution."""

from streams.domain.detect.finding import Finding

NAME = "channel_hopping"
DEFAULTS = {"channels": 3.0, "window_seconds": 86400.0, "cooldown_seconds": 86400.0, "expire_seconds": 86400.0}


def findings(state, config):
    p = config.params(NAME, "", "")
    starts = sorted((c.started, c.channel, cid) for cid, c in state.contacts.items())
    for i, (at, _, cid) in enumerate(starts):
        window = [s for s in starts[: i + 1] if s[0] >= at - p.window_seconds]
        channels = sorted({ch for _, ch, _ in window})
        if len(channels) < int(p.channels):
            continue
        resolved = [c.ended for c in state.contacts.values()
                    if c.resolution == "resolved" and c.ended is not None and c.ended >= window[0][0]]
        ends = min([at + p.expire_seconds, *[t for t in resolved if t >= at]])
        if any(t < at for t in resolved):
            continue
        yield Finding(NAME, "customer", window[0][0], at, ends, None, channel=state.contacts[cid].channel,
                      contact_id=cid, reason=f"tried {', '.join(channels)} within {p.window_seconds / 3600:.0f} h without a resolution",
                      suggested_action="contact the customer on their latest channel with everything they tried",
                      weight=len(channels))
        return
