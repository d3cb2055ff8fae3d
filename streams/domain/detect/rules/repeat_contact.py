"""The customer's Nth contact within the window: the first contact did not resolve it."""

from streams.domain.detect.finding import Finding

NAME = "repeat_contact"
DEFAULTS = {"contacts": 3.0, "window_seconds": 7 * 86400.0, "cooldown_seconds": 86400.0, "expire_seconds": 86400.0}


def findings(state, config):
    starts = sorted((c.started, cid, c) for cid, c in state.contacts.items())
    p = config.params(NAME, "", "")
    n = int(p.contacts)
    for i in range(n - 1, len(starts)):
        first, _, _ = starts[i - n + 1]
        at, cid, c = starts[i]
        if at - first > p.window_seconds:
            continue
        done = c.ended if c.resolution == "resolved" else None
        ends = min(t for t in (done, at + p.expire_seconds) if t is not None)
        yield Finding(NAME, cid, first, at, ends, None, channel=c.channel, contact_id=cid,
                      reason=f"contact number {n} in {p.window_seconds / 86400:.0f} days: earlier contacts did not resolve it",
                      suggested_action="assign one owner and call the customer with the full history",
                      ended_by="served" if done is not None and done <= ends else "expired", weight=n)
        return
