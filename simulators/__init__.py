"""Real protocol servers standing in for field devices: each exposes build(config) and main(argv=None)."""
