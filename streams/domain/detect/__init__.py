"""Proactive outreach: per-customer state, detection rules, and the alert lifecycle.

`state` folds a customer's events into what the rules need (order-independent where the rules
depend on it); each module under `rules/` turns that state into findings with the event times at
which they open, escalate and expire; `lifecycle` turns findings and a watermark into alert
changes; `stage` runs it all as a Faust agent with event-time timers.
"""
