"""Sends the planned messages: retried with back-off, in order per ticket and recipient,
within each channel's rate, dead-lettered after ``give_up_after_min``.

Never in the way of the rules or the ticket writer: it only reads and updates
``deliveries``, in its own loop. Each round claims what is due (a lease, so a second
sender process leaves it alone), starts one task per message and goes on; a slow receiver
holds up only its own messages.

Exactly once, as far as a network allows: a message is marked delivered in the same
breath as the receiver's answer is read. A process killed between the two sends it again
after its lease ends, with the same key (X-Sitewatch-Delivery, Message-ID, the SMS
template's ``{id}``), so a receiver that keeps keys sees it once. A refused connection, a
5xx or a timeout is only retried later: nothing is lost while a receiver is down.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased, sessionmaker

from sitewatch.domain.time import Clock
from sitewatch.paging.channels import Channel
from sitewatch.paging.channels.errors import ChannelError, Rejected
from sitewatch.paging.config import PagingSettings
from sitewatch.paging.models import Content, Outgoing
from sitewatch.storage.paging import DeliveryRow

log = logging.getLogger(__name__)

CLAIM_BATCH = 20  # rows looked at per claim: those of full or rate-limited channels are passed over
IN_FLIGHT_PER_CHANNEL = 4
_BLOCKING = ("pending", "waiting")  # an earlier message in these states holds back a later one


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: int
    delivered: bool
    give_up: bool  # Rejected: retrying cannot help
    text: str  # the receipt or the error


class TokenBucket:
    """``per_minute`` messages a minute, in bursts of at most that many."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self._rate_s = per_minute / 60.0
        self._capacity = float(per_minute)
        self._tokens = float(per_minute)
        self._clock = clock
        self._at = clock.monotonic()

    def take(self) -> bool:
        now = self._clock.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate_s)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Sender:
    def __init__(self, *, sessions: sessionmaker[Session], settings: PagingSettings, channels: dict[str, Channel],
                 clock: Clock) -> None:
        self._sessions = sessions
        self._settings = settings
        self._channels = channels
        self._clock = clock
        self._buckets = {name: TokenBucket(c.per_minute, clock) for name, c in settings.channels.items()}
        self._capacity = IN_FLIGHT_PER_CHANNEL * max(1, len(channels))
        self._in_flight: dict[int, asyncio.Task[None]] = {}  # delivery id -> its send, while it runs
        self._busy: Counter[str] = Counter()  # messages in flight per channel
        self.delivered = 0
        self.failed_attempts = 0
        self.dead = 0

    async def run(self, *, idle_s: float) -> None:
        """Send until cancelled. A slot freed by a message landing is filled at once; with
        nothing to start, wait for a landing or ``idle_s``. The database being down costs a
        wait, never the loop."""
        try:
            while True:
                try:
                    started = await self.round()
                except SQLAlchemyError as exc:
                    log.error("paging: database unavailable, sending again shortly: %s", exc)
                    started = 0
                if started and len(self._in_flight) < self._capacity:
                    continue  # more may be due: claim again before waiting
                if self._in_flight:
                    await asyncio.wait(list(self._in_flight.values()), timeout=idle_s,
                                       return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(idle_s)
        finally:
            await self.aclose()

    async def round(self) -> int:
        """Claim what is due and start sending it; returns how many were started."""
        if len(self._in_flight) >= self._capacity:
            return 0
        # The claim runs in a thread: it gets a copy of what is in flight, which the loop's
        # done-callbacks change meanwhile.
        claimed = await asyncio.to_thread(self._claim, self._clock.now(), frozenset(self._in_flight),
                                          Counter(self._busy))
        for row_id, channel, message in claimed:
            task = asyncio.create_task(self._send(row_id, channel, message), name=f"paging-send-{row_id}")
            self._in_flight[row_id] = task
            self._busy[channel] += 1
            task.add_done_callback(functools.partial(self._landed, row_id, channel))
        return len(claimed)

    def _landed(self, row_id: int, channel: str, _task: asyncio.Task[None]) -> None:
        del self._in_flight[row_id]
        self._busy[channel] -= 1

    async def drain(self) -> None:
        """Wait for the messages in flight (tests, shutdown)."""
        while self._in_flight:
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._in_flight.values()):
            task.cancel()
        await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def _claim(self, now: datetime, flying: frozenset[int], busy: Counter[str]) -> list[tuple[int, str, Outgoing]]:
        earlier = aliased(DeliveryRow)
        held_back = exists().where(and_(
            earlier.recipient == DeliveryRow.recipient, earlier.ticket_id == DeliveryRow.ticket_id,
            earlier.id < DeliveryRow.id, earlier.state.in_(_BLOCKING),
        ))
        with self._sessions() as session:
            rows = session.scalars(
                select(DeliveryRow).where(
                    DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now,
                    (DeliveryRow.lease_until.is_(None)) | (DeliveryRow.lease_until <= now),
                    ~held_back,
                ).order_by(DeliveryRow.id).limit(CLAIM_BATCH).with_for_update(skip_locked=True)
            ).all()
            claimed: list[tuple[int, str, Outgoing]] = []
            for row in rows:
                if row.id in flying:
                    continue
                settings = self._settings.channels.get(row.channel)
                if settings is None or row.channel not in self._channels:
                    self._dead(row, now, f"channel {row.channel!r} is no longer configured")
                    continue
                if busy[row.channel] >= IN_FLIGHT_PER_CHANNEL or not self._buckets[row.channel].take():
                    continue  # the channel's rate: it waits, it is not dropped
                busy[row.channel] += 1
                row.attempts += 1
                # timeout_s bounds each phase (connect, write, read): the longest a send can take.
                row.lease_until = now + timedelta(seconds=3 * settings.timeout_s + 1)
                message = Outgoing(key=row.key, content=Content.from_json(row.content), address=row.address,
                                   mentions=tuple(row.mentions or ()))
                claimed.append((row.id, row.channel, message))
            session.commit()
        return claimed

    async def _send(self, row_id: int, channel_name: str, message: Outgoing) -> None:
        channel = self._channels[channel_name]
        try:
            receipt = await channel.send(message)
        except Rejected as exc:
            outcome = Outcome(row_id, delivered=False, give_up=True, text=str(exc))
        except ChannelError as exc:
            outcome = Outcome(row_id, delivered=False, give_up=False, text=str(exc))
        except Exception as exc:
            log.exception("paging: channel %s failed on delivery %d", channel_name, row_id)
            outcome = Outcome(row_id, delivered=False, give_up=False, text=f"internal error: {exc!r}")
        else:
            outcome = Outcome(row_id, delivered=True, give_up=False, text=receipt)
        await asyncio.to_thread(self._record, outcome)

    def _record(self, outcome: Outcome) -> None:
        now = self._clock.now()
        with self._sessions() as session:
            row = session.get(DeliveryRow, outcome.delivery_id)
            if row is None or row.state != "pending":
                return
            row.lease_until = None
            if outcome.delivered:
                row.state, row.delivered_at, row.receipt = "delivered", now, outcome.text[:2000]
                self.delivered += 1
            elif outcome.give_up or now - (row.retried_at or row.created_at) >= timedelta(
                    minutes=self._settings.give_up_after_min):  # a retried dead letter gets the full time again
                self._dead(row, now, outcome.text)
            else:
                self.failed_attempts += 1
                row.last_error = outcome.text[:2000]
                row.next_attempt_at = now + timedelta(seconds=self._backoff_s(row.attempts))
                log.warning("paging: delivery %d (%s to %s) failed, attempt %d, next at %s: %s", row.id, row.kind,
                            row.recipient, row.attempts, row.next_attempt_at.isoformat(), outcome.text)
            session.commit()

    def _dead(self, row: DeliveryRow, now: datetime, error: str) -> None:
        row.state, row.dead_at, row.last_error, row.lease_until = "dead", now, error[:2000], None
        self.dead += 1
        log.error("paging: delivery %d (%s to %s over %s) given up after %d attempt(s): %s", row.id, row.kind,
                  row.recipient, row.channel, row.attempts, error)

    def _backoff_s(self, attempts: int) -> float:
        base = min(self._settings.retry_max_s, self._settings.retry_first_s * 2 ** max(0, attempts - 1))
        return base * (1 + random.random() * 0.1)
