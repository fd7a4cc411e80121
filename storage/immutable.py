"""Records that must not change once written (or once signed): refused at the ORM, whatever
code path tries it. DOMAIN.md: the record is the basis for pay and penalties."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect


def before_flush(row: Any, attribute: str) -> Any:
    """The attribute's value as the database holds it, before this flush's changes."""
    history = getattr(inspect(row).attrs, attribute).history
    values = history.deleted if history.has_changes() else history.unchanged
    return values[0] if values else None


def freeze(model: type, *, frozen: Callable[[Any], str | None], error: type[Exception]) -> None:
    """Refuse to update or delete a ``model`` row while ``frozen(row)`` gives a reason (the
    sentence that opens the refusal); ``error`` is raised with it."""

    @event.listens_for(model, "before_update")
    def _refuse_change(_mapper, _connection, target) -> None:  # noqa: ANN001
        reason = frozen(target)
        if reason is not None:
            changed = sorted(a.key for a in inspect(target).attrs if a.history.has_changes())
            raise error(f"{reason}; refused change to {', '.join(changed)}")

    @event.listens_for(model, "before_delete")
    def _refuse_delete(_mapper, _connection, target) -> None:  # noqa: ANN001
        reason = frozen(target)
        if reason is not None:
            raise error(f"{reason}; refused deleting it")
