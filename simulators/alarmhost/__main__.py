"""`python -m sitewatch.simulators.alarmhost serve|act ...`; `main` is also importable from here."""

from sitewatch.simulators.alarmhost.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
