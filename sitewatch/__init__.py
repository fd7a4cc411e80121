"""The Sitewatch service: command line, process wiring and the demo."""
