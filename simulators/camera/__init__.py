"""ONVIF camera simulator: device, media and events services, snapshots, injectable faults."""
