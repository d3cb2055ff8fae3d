"""Customer stories as small generators of steps: (delay in simulated seconds, type, data).

Each story is what a channel system would report about one customer doing one thing; the
cross-channel ones (checkout failure -> chat -> call -> login) are why cxpulse exists.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import cache
from typing import Callable, Iterator

from streams.config import SimulatorSettings

Step = tuple[float, str, dict]

QUEUES = {
    "voice": ["billing", "tech_support", "sales", "retention"],
    "chat": ["billing", "tech_support", "sales"],
    "email": ["billing", "claims", "general"],
    "sms": ["delivery", "general"],
    "whatsapp": ["delivery", "tech_support"],
    "social": ["social_care"],
}
SOURCES = {
    "voice": "/cx/voice/acd-1", "chat": "/cx/chat/livechat", "email": "/cx/email/helpdesk",
    "sms": "/cx/sms/gateway", "whatsapp": "/cx/whatsapp/business-api", "social": "/cx/social/listening",
    "web": "/cx/web/site", "app": "/cx/app/mobile", "self_service": "/cx/selfservice/helpcenter",
    "survey": "/cx/survey/post-contact",
}
FIRST = ["dana", "lee", "sam", "alex", "kim", "noor", "jo", "mia", "omar", "ines", "yuki", "ravi", "eva", "tom"]
LAST = ["reyes", "nguyen", "smith", "okafor", "muller", "rossi", "tanaka", "khan", "silva", "novak"]
DOMAINS = ["example.com", "mail.example.org", "example.net"]
PAGES = ["/", "/plans", "/pricing", "/help/billing", "/account", "/cart", "/checkout", "/orders"]
ARTICLES = ["reset-password", "refund-policy", "track-order", "change-plan", "roaming", "invoice-copy"]
RESOLUTIONS = ["resolved", "resolved", "resolved", "unresolved", "escalated", "follow_up"]


@dataclass
class Customer:
    ids: dict[str, str]
    phone: Callable[[], str] | None = None  # their number, given out when a story first uses it

    def some(self, *kinds: str) -> dict[str, str]:
        if "phone" in kinds and "phone" not in self.ids and self.phone is not None:
            self.ids["phone"] = self.phone()
        return {k: self.ids[k] for k in kinds if k in self.ids}


SHARED_PHONE_FRACTION = SimulatorSettings().shared_phone_fraction  # customers calling from a switchboard
SWITCHBOARDS = 4              # how many switchboard numbers those customers share


@cache
def _area_codes() -> tuple[int, ...]:
    """US area codes whose 555-0100..0199 numbers phonenumbers accepts (valid, fictional): 381 of them."""
    import phonenumbers

    return tuple(a for a in range(201, 990) if phonenumbers.is_valid_number(n := phonenumbers.parse(f"+1{a}5550100"))
                 and phonenumbers.region_code_for_number(n) == "US")


def phone_of(n: int, switchboard: int | None = None) -> tuple[int, int]:
    """(area code, last two digits) of own number n, or of switchboard number k.

    Switchboards take the first area codes' 555-0100; customers the rest, 37,700 numbers, one
    each (given out in the order stories first use a phone, see new_customer)."""
    areas = _area_codes()
    if switchboard is not None:
        return areas[switchboard], 0
    own = areas[SWITCHBOARDS:]
    return own[(n // 100) % len(own)], n % 100


def new_customer(rng: random.Random, n: int, shared_phone_fraction: float = SHARED_PHONE_FRACTION,
                 numbers: Iterator[int] | None = None) -> Customer:
    """Customer n. numbers: the own-number sequence shared by a stream's customers. A number is
    drawn from it only when a story first uses the phone: two thirds of customers never call or
    text, and a demo's warm-up starts some 80,000 customers, so numbering them all would repeat
    numbers within one run."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    switchboard = rng.randrange(SWITCHBOARDS) if rng.random() < shared_phone_fraction else None
    # 555-01xx numbers are valid and fictional; written in a mix of formats
    written = rng.choice(["+1 {a} 555 01{b:02d}", "({a}) 555-01{b:02d}", "+1{a}55501{b:02d}"])
    numbers = numbers if numbers is not None else itertools.count(n)

    def phone() -> str:
        area, line = phone_of(0, switchboard) if switchboard is not None else phone_of(next(numbers))
        return written.format(a=area, b=line)

    ids = {
        "email": f"{first.title()}.{last.title()}{n}@{rng.choice(DOMAINS)}",
        "visitor_id": f"v-{rng.getrandbits(48):012x}",
        "device_id": f"d-{rng.getrandbits(48):012x}",
        "account_id": f"acct-{100000 + n}",
    }
    if rng.random() < 0.5:
        ids["customer_id"] = f"cust-{n}"
    if rng.random() < 0.3:
        ids["social"] = f"{rng.choice(['x', 'instagram', 'facebook'])}:@{first}{last}{n}"
    return Customer(ids, phone)


def _contact(rng: random.Random, channel: str) -> dict:
    return {"contact_id": f"{channel}-{rng.getrandbits(40):010x}", "queue": rng.choice(QUEUES[channel])}


def survey(rng: random.Random, who: dict, contact_id: str) -> Iterator[Step]:
    attributes: dict = {"contact_id": contact_id}
    happy = rng.random() < 0.75
    if rng.random() < 0.8:
        attributes["csat"] = rng.randint(4, 5) if happy else rng.randint(1, 3)
    if "csat" not in attributes or rng.random() < 0.5:
        attributes["nps"] = rng.randint(8, 10) if happy else rng.randint(0, 6)
    if not happy and rng.random() < 0.5:
        attributes["comment"] = rng.choice(["waited too long", "had to repeat myself", "still not fixed"])
    yield rng.uniform(30, 300), "cx.survey.responded", {"channel": "survey", "customer": who,
                                                        "attributes": attributes}


def live_contact(rng: random.Random, channel: str, who: dict) -> Iterator[Step]:
    """A chat or call: queue, maybe abandon (and ask for a callback), else talk, hold, transfer, end."""
    c = _contact(rng, channel)
    base = {"channel": channel, "customer": who, "direction": "inbound", **c}
    yield 0, "cx.contact.started", base
    yield rng.uniform(2, 20), "cx.contact.queued", base
    if rng.random() < 0.15:  # gives up in the queue
        yield rng.uniform(30, 300), "cx.contact.abandoned", base
        if channel == "voice" and rng.random() < 0.5:
            yield rng.uniform(1, 10), "cx.callback.requested", {**base, "direction": "outbound"}
            yield rng.uniform(60, 900), "cx.callback.completed", {**base, "direction": "outbound"}
        return
    agent = f"agent-{rng.randint(1, 60):03d}"
    served = {**base, "agent_id": agent}
    yield rng.expovariate(1 / 40), "cx.contact.assigned", served
    yield rng.uniform(1, 8), "cx.contact.answered", served
    if channel == "chat":
        for turn in range(rng.randint(2, 8)):
            author = "customer" if turn % 2 == 0 else rng.choice(["agent", "agent", "bot"])
            yield rng.uniform(5, 60), "cx.contact.message", {**served, "attributes": {"author": author}}
    else:
        if rng.random() < 0.3:
            yield rng.uniform(30, 180), "cx.contact.hold", served
            yield rng.uniform(20, 240), "cx.contact.resumed", served
        if rng.random() < 0.15:
            agent = f"agent-{rng.randint(1, 60):03d}"
            served = {**served, "agent_id": agent, "queue": rng.choice(QUEUES[channel])}
            yield rng.uniform(30, 200), "cx.contact.transferred", served
    yield rng.uniform(60, 600), "cx.contact.ended", {**served, "attributes": {"resolution": rng.choice(RESOLUTIONS)}}
    if rng.random() < 0.35:
        yield from survey(rng, who, c["contact_id"])


def async_contact(rng: random.Random, channel: str, who: dict) -> Iterator[Step]:
    """Email, SMS, WhatsApp or a social post: a customer message, then a reply (or none)."""
    c = _contact(rng, channel)
    base = {"channel": channel, "customer": who, "direction": "inbound", **c}
    yield 0, "cx.contact.started", base
    yield rng.uniform(0, 2), "cx.contact.message", {**base, "attributes": {"author": "customer"}}
    if rng.random() < 0.3:  # nobody answers: the unanswered messages cxpulse exists to catch
        return
    reply_after = {"email": (300, 14400), "social": (60, 3600)}.get(channel, (20, 900))
    served = {**base, "agent_id": f"agent-{rng.randint(1, 60):03d}"}
    yield rng.uniform(*reply_after), "cx.contact.message", {**served, "attributes": {"author": "agent"}}
    if rng.random() < 0.5:
        yield rng.uniform(30, 900), "cx.contact.message", {**served, "attributes": {"author": "customer"}}
    yield rng.uniform(60, 900), "cx.contact.ended", {**served, "attributes": {"resolution": rng.choice(RESOLUTIONS)}}


def browse(rng: random.Random, channel: str, who: dict) -> Iterator[Step]:
    for _ in range(rng.randint(1, 5)):
        yield rng.uniform(3, 40), "cx.page.viewed", {"channel": channel, "customer": who,
                                                     "attributes": {"url": rng.choice(PAGES)}}


def journey(rng: random.Random, channel: str, who: dict, name: str, steps: list[str], fail_at: str | None) -> Iterator[Step]:
    for step in steps:
        data = {"channel": channel, "customer": who}
        yield rng.uniform(5, 60), "cx.journey.step", {**data, "attributes": {"journey": name, "step": step, "status": "entered"}}
        status = "failed" if step == fail_at else "completed"
        yield rng.uniform(5, 90), "cx.journey.step", {**data, "attributes": {"journey": name, "step": step, "status": status}}
        if status == "failed":
            return


def checkout_trouble(rng: random.Random, c: Customer) -> Iterator[Step]:
    """Fails at payment on the web, opens a chat, then calls, then logs in: one problem, four channels."""
    visitor = c.some("visitor_id")
    yield from browse(rng, "web", visitor)
    yield from journey(rng, "web", visitor, "checkout", ["cart", "shipping", "payment"], fail_at="payment")
    yield from live_contact(rng, "chat", c.some("visitor_id", "email"))
    if rng.random() < 0.6:
        yield from live_contact(rng, "voice", c.some("phone"))
    yield rng.uniform(60, 600), "cx.identity.linked", {"channel": "app", "customer": c.some("email", "phone", "account_id")}


def web_visit(rng: random.Random, c: Customer) -> Iterator[Step]:
    visitor = c.some("visitor_id")
    yield from browse(rng, "web", visitor)
    if rng.random() < 0.4:
        yield from journey(rng, "web", visitor, "checkout", ["cart", "shipping", "payment"],
                           fail_at="payment" if rng.random() < 0.2 else None)


def app_session(rng: random.Random, c: Customer) -> Iterator[Step]:
    device = c.some("device_id", "account_id")
    yield from journey(rng, "app", device, "login", ["credentials", "mfa"], fail_at="mfa" if rng.random() < 0.15 else None)
    yield from browse(rng, "app", device)


def self_service(rng: random.Random, c: Customer) -> Iterator[Step]:
    visitor = c.some("visitor_id")
    for _ in range(rng.randint(1, 3)):
        yield rng.uniform(5, 60), "cx.selfservice.searched", {"channel": "self_service", "customer": visitor,
                                                              "attributes": {"query": rng.choice(ARTICLES).replace("-", " ")}}
        yield rng.uniform(3, 30), "cx.selfservice.viewed", {"channel": "self_service", "customer": visitor,
                                                            "attributes": {"article": rng.choice(ARTICLES)}}
    if rng.random() < 0.25:  # the article did not help
        yield from live_contact(rng, "chat", c.some("visitor_id", "email"))


def call(rng: random.Random, c: Customer) -> Iterator[Step]:
    yield from live_contact(rng, "voice", c.some("phone", "customer_id"))
    if rng.random() < 0.1:  # calls again: a repeat contact
        yield from live_contact(rng, "voice", c.some("phone"))


def chat(rng: random.Random, c: Customer) -> Iterator[Step]:
    yield from live_contact(rng, "chat", c.some("email", "customer_id"))


def email(rng: random.Random, c: Customer) -> Iterator[Step]:
    yield from async_contact(rng, "email", c.some("email"))


def sms(rng: random.Random, c: Customer) -> Iterator[Step]:
    yield from async_contact(rng, "sms", c.some("phone"))


def whatsapp(rng: random.Random, c: Customer) -> Iterator[Step]:
    yield from async_contact(rng, "whatsapp", c.some("phone", "account_id"))


def social(rng: random.Random, c: Customer) -> Iterator[Step]:
    who = c.some("social") or {"social": f"x:@{c.ids['account_id']}"}
    yield from async_contact(rng, "social", who)


def hop_after_abandon(rng: random.Random, c: Customer) -> Iterator[Step]:
    """Waits on the phone, gives up, writes an email instead."""
    yield from live_contact(rng, "voice", c.some("phone"))
    yield from async_contact(rng, "email", c.some("email", "phone"))


STORIES = [(web_visit, 22), (app_session, 12), (self_service, 8), (call, 14), (chat, 12), (email, 8),
           (sms, 5), (whatsapp, 5), (social, 5), (checkout_trouble, 5), (hop_after_abandon, 4)]
