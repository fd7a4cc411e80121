"""Rules are data (models.py) evaluated by one pure engine (engine.py); each kind's state and
judgement lives in its own module (threshold.py, trend.py, baseline.py, composite.py) on the
shared state machine of slots.py. reference.py states the per-sample kinds plainly."""
