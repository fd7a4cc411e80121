"""`python -m simulators.camera serve|inject|clear ...`; `main` is also importable from here."""

from simulators.camera.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
