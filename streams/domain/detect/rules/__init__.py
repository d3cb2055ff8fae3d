"""Detection rules: one module each, with its defaults; `RULES` is the registry.

A rule reads a customer's state and returns findings with event times only (when the threshold
is crossed, when it escalates, when it ends), never "now": the lifecycle compares them with the
watermark, so the same events give the same alerts whatever the speed they are replayed at.
"""

from __future__ import annotations

from types import ModuleType

from streams.domain.detect.finding import Finding  # noqa: F401  (re-exported: the rules' result type)
from streams.domain.detect.rules import (
    abandoned_without_callback,
    channel_hopping,
    long_hold,
    long_queue_wait,
    negative_survey,
    repeat_contact,
    stuck_journey,
    unanswered_message,
)

MODULES: tuple[ModuleType, ...] = (long_queue_wait, unanswered_message, abandoned_without_callback, stuck_journey,
                                   repeat_contact, channel_hopping, negative_survey, long_hold)
RULES = {m.NAME: m for m in MODULES}
