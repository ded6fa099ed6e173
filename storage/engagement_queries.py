"""How the customers of a batch engaged, per channel: what they did, and at what local hour.

One query over `events` for all the customers of a batch (index on customer and time),
bounded by a look-back. Actions (opens, clicks, button presses, replies) are counted by
kind and by the customer's local hour; a payment recorded within two days after a
message was sent counts for that message's channel.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Event

# Audit kinds written by dispatch and by payment imports.
MESSAGE_SENT = "message_sent"
PAYMENT_RECORDED = "payment_recorded"
PAID_AFTER_MESSAGE = "paid_after_message"
PAYMENT_WINDOW = timedelta(days=2)
CUSTOMER_CHANNELS = ("email", "telegram")


@dataclass
class ChannelEngagement:
    """One customer's engagement on one channel: counts by kind, actions by local hour."""

    counts: Counter[str] = field(default_factory=Counter)
    hours: Counter[int] = field(default_factory=Counter)


Engagement = dict[int, dict[str, ChannelEngagement]]  # customer id -> channel -> engagement


async def engagement_by_channel(
    conn: AsyncConnection,
    zones: Mapping[int, str],
    *,
    actions: Mapping[str, str],
    since: datetime,
    now: datetime,
) -> Engagement:
    """Engagement of the customers in `zones` (id -> IANA zone) in (since, now].

    `actions` maps each event kind that is a customer's action to the channel it
    counts for when its event does not name one (`data.channel`).
    """
    if not zones:
        return {}
    ev = Event.__table__
    channel = ev.c.data["channel"].as_string()
    rows = await conn.execute(
        select(ev.c.customer_id, ev.c.kind, ev.c.at, channel)
        .where(
            ev.c.customer_id.in_(list(zones)),
            ev.c.kind.in_([*actions, MESSAGE_SENT, PAYMENT_RECORDED]),
            ev.c.at > since,
            ev.c.at <= now,
        )
        .order_by(ev.c.customer_id, ev.c.at)
    )
    found: Engagement = defaultdict(lambda: defaultdict(ChannelEngagement))
    sent: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    payments: dict[int, list[datetime]] = defaultdict(list)
    tz = {cid: _zone(name) for cid, name in zones.items()}
    for customer_id, kind, at, named in rows:
        if kind == MESSAGE_SENT:
            if named in CUSTOMER_CHANNELS:
                sent[customer_id].append((at, named))
        elif kind == PAYMENT_RECORDED:
            payments[customer_id].append(at)
        else:
            place = found[customer_id][named or actions[kind]]
            place.counts[kind] += 1
            place.hours[at.astimezone(tz[customer_id]).hour] += 1
    for customer_id, paid in payments.items():
        messages = sent.get(customer_id, [])
        times = [at for at, _ in messages]
        for at in paid:
            # The latest message sent at or before the payment, if it is recent enough.
            index = bisect.bisect_right(times, at) - 1
            if index >= 0 and at - times[index] <= PAYMENT_WINDOW:
                found[customer_id][messages[index][1]].counts[PAID_AFTER_MESSAGE] += 1
    return {cid: dict(channels) for cid, channels in found.items()}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        # A bad zone is the planner's error to report; learning counts in UTC meanwhile.
        return ZoneInfo("UTC")
