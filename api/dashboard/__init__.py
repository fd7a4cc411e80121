"""The control room's state: what it shows (state.py), how each asset's status and each
alert's sound are judged (status.py), how a change is noticed cheaply (signature.py) and
how one producer per process serves every open dashboard (hub.py)."""
