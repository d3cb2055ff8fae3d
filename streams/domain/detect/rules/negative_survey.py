"""A negative survey after a contact: CSAT at or below a floor, or NPS at or below a floor."""

from streams.domain.detect.finding import Finding

NAME = "negative_survey"
DEFAULTS = {"csat_at_most": 2.0, "nps_at_most": 6.0, "cooldown_seconds": 86400.0, "expire_seconds": 172800.0}


def findings(state, config):
    p = config.params(NAME, "", "")
    for s in state.surveys:
        bad_csat = s.csat is not None and s.csat <= p.csat_at_most
        bad_nps = s.nps is not None and s.nps <= p.nps_at_most
        if not (bad_csat or bad_nps):
            continue
        later = [c.answered for c in state.contacts.values() if c.answered is not None and c.answered > s.at]
        ends = min([s.at + p.expire_seconds, *later])
        contact = state.contacts.get(s.contact_id)
        score = " and ".join(x for x in (f"CSAT {s.csat}" if bad_csat else "", f"NPS {s.nps}" if bad_nps else "") if x)
        yield Finding(NAME, f"survey@{s.at:.3f}", s.at, s.at, ends, None,
                      channel=contact.channel if contact else "survey", contact_id=s.contact_id,
                      reason=f"answered a survey with {score}",
                      suggested_action="call to recover: apologise, fix, follow up",
                      ended_by="served" if later and min(later) <= ends else "expired",
                      weight=float(5 - (s.csat or 5)))
