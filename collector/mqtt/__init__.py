"""MQTT alarm hosts: topic scheme, payload schema, client and consumer (see README.md)."""
