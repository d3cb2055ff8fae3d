"""A journey step entered or failed with no progress in N seconds, or K failures of one step."""

from streams.domain.detect.finding import Finding

NAME = "stuck_journey"
DEFAULTS = {"open_seconds": 900.0, "escalate_seconds": 3600.0, "cooldown_seconds": 3600.0, "max_failures": 3.0}


def findings(state, config):
    for key, s in state.steps.items():
        p = config.params(NAME, s.channel, "")
        begun = [t for t in (s.entered, *s.failures) if t is not None]
        if not begun:
            continue
        since = min(begun)
        fires = since + p.open_seconds
        k = int(p.max_failures)
        if len(s.failures) >= k:
            fires = min(fires, s.failures[k - 1])
        done = s.completed if s.completed is not None and s.completed >= since else None
        yield Finding(NAME, key, since, fires, done, since + p.escalate_seconds, channel=s.channel,
                      reason=(f"failed {s.step} in {s.journey} {len(s.failures)} times" if len(s.failures) >= k
                              else f"stuck at {s.step} in {s.journey} for over {p.open_seconds / 60:.0f} min"),
                      suggested_action=f"reach out to help complete {s.journey}", weight=len(s.failures))
