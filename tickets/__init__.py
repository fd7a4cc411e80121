"""Maintenance tickets: SLA, workflow, the one writer."""
