"""Modbus TCP: client.py is the only module that imports pymodbus."""
