"""Small immutable models shared by collector, rules, storage and API.

Units live in field and channel names (``outlet_kpa``, ``arrive_by``); every
timestamp is timezone-aware UTC.
"""
