"""Paging people: notifications, on-call rotas, escalation; delivered exactly once from an outbox."""
