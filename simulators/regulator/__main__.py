"""`python -m simulators.regulator serve|inject|clear ...`; `main` is also importable from here."""

from simulators.regulator.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
