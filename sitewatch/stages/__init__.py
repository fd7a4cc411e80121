"""The stages of a Sitewatch process, one module each: collect (polls and alarm-host events onto
the bus), store (the bus into the time-series store), rules (the bus into alerts and tickets),
chores (daily logs, inspections, store maintenance, paging). sitewatch/pipeline.py composes the
ones a process's roles ask for; sitewatch/stages/roles.py says which roles exist.
"""
