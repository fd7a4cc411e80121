"""Regulator-station simulator: Modbus TCP servers over a deterministic physical model.

Modules: `model` (pure physics), `faults`, `registers` (the regulator-v1 map),
`fleet` (build / RegulatorFleet), `control` (HTTP API), `cli` (main).
"""
