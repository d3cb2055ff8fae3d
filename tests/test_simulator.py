"""The simulator: deterministic, all ten channels, and every event labelled with what ingest will do."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import Counter, defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.config import IngestSettings
from streams.domain.channels import CHANNELS
from streams.domain.rejections import Rejected
from streams.simulator import generate
from streams.stages.ingest import parse

START = dt.datetime(2026, 11, 24, 12, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def emissions():
    return list(itertools.islice(generate(seed=5, start=START, rate=500, bad_fraction=0.05), 10_000))


def test_same_seed_same_bytes_other_seed_other_bytes(emissions):
    again = list(itertools.islice(generate(seed=5, start=START, rate=500, bad_fraction=0.05), 2_000))
    other = list(itertools.islice(generate(seed=6, start=START, rate=500, bad_fraction=0.05), 2_000))
    assert again == emissions[:2_000]
    assert [e.value for e in other] != [e.value for e in again]


def test_all_ten_channels_and_both_binding_modes(emissions):
    assert {e.channel for e in emissions if e.expect == "valid"} == set(CHANNELS)
    modes = Counter("binary" if any(n == "ce_specversion" for n, _ in e.headers) else "structured" for e in emissions)
    assert modes["binary"] > 1000 and modes["structured"] > 1000


def test_every_emission_gets_exactly_its_label_from_ingest(emissions):
    seen = {}
    for e in emissions:
        try:
            parse(e.value, e.headers, origin="t:0:0", received_at=0.0, settings=IngestSettings(),
                  now=START + dt.timedelta(seconds=e.at))
            got = "valid"
        except Rejected as refused:
            got = str(refused.reason)
        if e.expect == "duplicate":  # parse accepts it; the dedup stage refuses it
            assert got == "valid" and seen[(e.source, e.id)] == e.value
        else:
            assert got == e.expect
            if got == "valid":
                seen[(e.source, e.id)] = e.value


def test_unusable_phones_are_stored_with_their_issue_not_refused(emissions):
    """The simulator's bad caller IDs (withheld, impossible) are valid events, alone or beside other identifiers."""
    reasons, anonymous = Counter(), 0
    for e in emissions:
        if e.expect == "valid":
            parsed = parse(e.value, e.headers, origin="t:0:0", received_at=0.0, settings=IngestSettings(),
                           now=START + dt.timedelta(seconds=e.at))
            reasons.update(i.reason for i in parsed.identifier_issues)
            anonymous += bool(parsed.identifier_issues) and not parsed.customer
    assert reasons["withheld"] > 5 and reasons["invalid"] > 5 and anonymous > 5


def test_bad_fraction_and_rate(emissions):
    bad = sum(e.expect != "valid" for e in emissions)
    assert 0.04 < bad / len(emissions) < 0.06
    times = [e.at for e in emissions]
    assert times == sorted(times)
    assert 0.8 < len(emissions) / (times[-1] - times[0]) / 500 < 1.2


def test_customers_move_across_channels(emissions):
    import orjson

    channels = defaultdict(set)
    for e in emissions:
        if e.expect != "valid":
            continue
        data = orjson.loads(e.value)
        data = data.get("data", data)
        for kind, value in data["customer"].items():
            channels[(kind, value)].add(e.channel)
    assert max(len(c) for c in channels.values()) >= 3


def test_generated_ahead_is_the_same_stream_starting_when_publishing_will():
    from streams.simulator.publish import generate_ahead

    before = dt.datetime.now(dt.UTC)
    start, ahead = generate_ahead(seed=5, rate=500, bad_fraction=0.0, max_event_bytes=65536, count=None,
                                  duration=4.0, progress=False)
    live = list(itertools.takewhile(lambda e: e.at <= 4.0, generate(seed=5, start=start, rate=500, bad_fraction=0.0)))
    assert ahead == live and 1500 < len(ahead) < 2600  # ~500/s for 4 s, the story mix decides the rest
    first = parse(ahead[0].value, ahead[0].headers, origin="t:0:0", received_at=0.0, settings=IngestSettings(),
                  now=start)
    assert start <= first.time <= start + dt.timedelta(seconds=1) and before < start


def _phones_by_customer(fraction: float, customers: int) -> dict[int, str]:

    from streams.domain.normalize import phone_e164
    from streams.simulator.scenarios import new_customer

    rng = random.Random(11)
    return {n: phone_e164(new_customer(rng, n, fraction).some("phone")["phone"], "US") for n in range(1, customers + 1)}


def test_by_default_most_customers_have_their_own_number_and_a_few_share_a_switchboard():
    from streams.simulator.scenarios import SHARED_PHONE_FRACTION, SWITCHBOARDS

    phones = _phones_by_customer(SHARED_PHONE_FRACTION, 20_000)
    assert None not in phones.values()  # every number valid (E.164)
    holders = Counter(phones.values())
    shared = {p for p, n in holders.items() if n > 1}
    assert len(shared) == SWITCHBOARDS and all(holders[p] > 50 for p in shared)
    assert 0.02 < sum(holders[p] for p in shared) / len(phones) < 0.04


def test_own_numbers_are_one_per_customer_and_never_a_switchboard():
    from streams.simulator.scenarios import SWITCHBOARDS, phone_of

    own = {phone_of(n) for n in range(37_700)}
    assert len(own) == 37_700 and not own & {phone_of(0, k) for k in range(SWITCHBOARDS)}


@given(st.floats(0, 1), st.integers(1, 400), st.integers(0, 2**32))
def test_shared_phone_fraction_is_the_share_of_customers_on_a_switchboard(fraction, customers, seed):
    import math

    from streams.simulator.scenarios import SWITCHBOARDS, new_customer, phone_of

    rng = random.Random(seed)
    switchboards = {f"+1{a}55501{b:02d}" for a, b in (phone_of(0, k) for k in range(SWITCHBOARDS))}
    phones = [new_customer(rng, n, fraction).some("phone")["phone"] for n in range(customers)]
    digits = ["+1" + "".join(c for c in p if c.isdigit()).removeprefix("1") for p in phones]
    shared = [d for d in digits if d in switchboards]
    own = [d for d in digits if d not in switchboards]
    assert len(set(own)) == len(own)  # the others: a number each
    assert (fraction > 0 or not shared) and (fraction < 1 or not own)
    assert abs(len(shared) - customers * fraction) <= 6 * math.sqrt(customers * fraction * (1 - fraction)) + 1


def test_the_knob_reaches_the_generated_stream():
    import orjson

    from streams.domain.normalize import phone_e164

    def phones(fraction: float) -> Counter:
        seen = Counter()
        for e in itertools.islice(generate(seed=5, start=START, rate=50, shared_phone_fraction=fraction), 2_000):
            data = orjson.loads(e.value)
            data = data.get("data", data)
            if "phone" in data["customer"] and e.type == "cx.contact.started":
                seen[phone_e164(data["customer"]["phone"], "US")] += 1
        return seen

    assert max(phones(0.0).values()) <= 3 and len(phones(1.0)) <= 4  # a customer's few contacts; 4 switchboards


def test_a_stream_gives_own_numbers_only_to_customers_who_use_a_phone():
    """A 60 s demo's stream starts ~80,000 customers (most in the warm-up): numbering them all repeated
    numbers within the run, gluing two strangers; only the third who call or text draw one."""
    from streams.simulator.scenarios import new_customer

    rng, numbers = random.Random(1), itertools.count()
    people = [new_customer(rng, n, 0.0, numbers) for n in range(80_000)]
    callers = [c.some("phone")["phone"] for c in people[::3]]
    assert len(set(callers)) == len(callers) and all("phone" not in c.ids for c in people[1::3])
