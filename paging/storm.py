"""A storm — a site going dark, hundreds of tickets in a minute — told in a few messages.

Per channel, recipient and site, the first ``per_site_burst`` messages within ``window_s``
go out as they are; later ones in that window wait (state ``waiting``) until the window
ends and then go out as one summary. Nothing is dropped: each waiting message is kept,
marked ``folded`` with the id of the summary that carried it, so a ticket still shows what
was said about it and where. A window that ends with a single waiting message sends that
message itself. The channel's own rate limit (paging/sender.py) comes on top of this.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sitewatch.paging.config import StormSettings
from sitewatch.paging.models import NoticeKind
from sitewatch.storage.paging import DeliveryRow

PENDING, WAITING, FOLDED = "pending", "waiting", "folded"
_TOLD = ("pending", "delivered", "dead")  # went (or goes) out as itself


class Storm:
    def __init__(self, settings: StormSettings) -> None:
        self._window = timedelta(seconds=settings.window_s)
        self._burst = settings.per_site_burst

    def place(self, session: Session, *, channel: str, recipient: str, site_id: str | None,
              now: datetime) -> tuple[str, datetime | None]:
        """(state, window_end) for a new message to ``recipient`` about ``site_id``."""
        if site_id is None:
            return PENDING, None
        same = (DeliveryRow.channel == channel, DeliveryRow.recipient == recipient, DeliveryRow.site_id == site_id)
        open_window = session.scalar(select(func.min(DeliveryRow.window_end)).where(*same, DeliveryRow.state == WAITING))
        if open_window is not None:
            return WAITING, open_window
        recent = session.scalar(
            select(func.count()).select_from(DeliveryRow).where(
                *same, DeliveryRow.state.in_(_TOLD), DeliveryRow.kind != NoticeKind.SUMMARY.value,
                DeliveryRow.created_at > now - self._window,
            )
        )
        if recent < self._burst:
            return PENDING, None
        return WAITING, now + self._window

    def ended(self, session: Session, *, now: datetime) -> dict[tuple[str, str, str], list[DeliveryRow]]:
        """The waiting messages whose window has ended, by (channel, recipient, site), oldest first."""
        rows = session.scalars(
            select(DeliveryRow).where(DeliveryRow.state == WAITING, DeliveryRow.window_end <= now)
            .order_by(DeliveryRow.id)
        ).all()
        groups: dict[tuple[str, str, str], list[DeliveryRow]] = {}
        for row in rows:
            groups.setdefault((row.channel, row.recipient, row.site_id or ""), []).append(row)
        return groups

    @staticmethod
    def fold(rows: list[DeliveryRow], summary_for: Callable[[list[DeliveryRow]], DeliveryRow], *,
             now: datetime) -> DeliveryRow | None:
        """Send a lone message as itself; fold several into the summary ``summary_for`` makes
        (added and flushed by it, so it has an id). Returns the summary, if one was made."""
        if len(rows) == 1:
            rows[0].state, rows[0].window_end, rows[0].next_attempt_at = PENDING, None, now
            return None
        summary = summary_for(rows)
        for row in rows:
            row.state, row.summary_id = FOLDED, summary.id
        return summary
