"""The daily look at plans and contracts: contract reminders become tickets, and the
overdue inspections are logged per site. Idempotent, so running it hourly is harmless."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from sitewatch.config.models import Config
from sitewatch.inspections.contracts import check_contracts
from sitewatch.inspections.due import due_list
from sitewatch.inspections.plans import Status

log = logging.getLogger(__name__)

CHECK_EVERY_S = 3600.0  # reminders are due by the day: hourly catches each one on its day


class DailyChecks:
    def __init__(self, *, sessions: sessionmaker[Session], config: Config) -> None:
        self._sessions = sessions
        self._config = config

    def run(self, *, now: datetime) -> dict[str, int]:
        """Returns {"reminders": opened, "overdue": overdue inspections}."""
        with self._sessions() as session:
            opened = check_contracts(session, self._config, now=now)
            session.commit()
            overdue = [i for i in due_list(session, self._config, now=now) if i.due.status is Status.OVERDUE]
        for site_id, count in sorted(Counter(i.site_id for i in overdue).items()):
            log.warning("inspections: %d overdue at site %s", count, site_id)
        return {"reminders": len(opened), "overdue": len(overdue)}
