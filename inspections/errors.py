"""What the inspection records refuse, as typed errors the API turns into 404 and 409."""

from __future__ import annotations


class InspectionNotFound(LookupError):
    pass


class InspectionRefused(ValueError):
    pass
