"""Alarm-host simulator: many MQTT alarm hosts in one process, driven by an HTTP control API.

Modules: `spec` (config), `host` (one paho client and its state), `fleet` (build /
AlarmHostFleet), `control` (HTTP API), `cli` (main).
"""
