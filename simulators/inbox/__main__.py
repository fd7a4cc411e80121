"""`python -m sitewatch.simulators.inbox serve ...`; `main` is also importable from here."""

from sitewatch.simulators.inbox.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
