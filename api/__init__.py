"""HTTP API and web pages. ``create_app(components)``; nothing is built at import time."""
