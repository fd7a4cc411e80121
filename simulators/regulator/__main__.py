"""`python -m sitewatch.simulators.regulator serve|inject|clear ...`; `main` is also importable from here."""

from sitewatch.simulators.regulator.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
