"""`python -m simulators.inbox serve ...`; `main` is also importable from here."""

from simulators.inbox.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
