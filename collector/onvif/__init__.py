"""ONVIF cameras: client.py is the only module that imports zeep (and onvif-zeep's WSDLs)."""
