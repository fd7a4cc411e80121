"""Rules are data (models.py) evaluated by one pure engine (engine.py)."""
