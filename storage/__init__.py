"""Storage behind narrow interfaces: time series (timeseries.py) and records (tables.py)."""
