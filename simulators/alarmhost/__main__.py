"""`python -m simulators.alarmhost serve|act ...`; `main` is also importable from here."""

from simulators.alarmhost.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
