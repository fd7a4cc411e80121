"""`python -m sitewatch.simulators.camera serve|inject|clear ...`; `main` is also importable from here."""

from sitewatch.simulators.camera.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
