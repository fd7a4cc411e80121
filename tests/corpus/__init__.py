"""Inputs the property tests (tests/**/test_*_fuzz.py) once found failing, kept so every run
replays them, and the settings those tests share.

One folder per target with inputs of that kind (``mqtt/``, ``config/``, ``lineproto/``), one
file per input, named after what it broke; a file holds the input as the decoder receives it
(payload bytes, TOML text), or JSON where the input is structured. Each target's fuzz module
replays its folder through the same checks as its properties; a file named ``open-*`` is a
bug in a file this suite does not own, replayed as a strict xfail until it is fixed. Short
inputs (URLs, Modbus frames, event messages) are kept as ``@example`` on their property.

Settings are per module, not a profile in tests/conftest.py: reproducible (``derandomize``,
no example database) and quick, a few hundred examples a property. ``SITEWATCH_FUZZ_EXAMPLES``
raises the count for a longer local search, e.g. ``SITEWATCH_FUZZ_EXAMPLES=10000``.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

CORPUS = Path(__file__).parent


def fuzz_settings(examples: int = 300) -> settings:
    """Settings for one property: ``examples`` by default, the environment's count if given."""
    return settings(
        max_examples=int(os.environ.get("SITEWATCH_FUZZ_EXAMPLES", examples)),
        deadline=None,  # a loaded CI machine is no reason to fail; a slow decoder is its own test
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def corpus_files(target: str) -> list[Path]:
    """The kept inputs of one target, by name (an empty folder is an error: it was kept for a reason)."""
    files = sorted(p for p in (CORPUS / target).iterdir() if p.is_file())
    assert files, f"tests/corpus/{target}/ holds no input"
    return files
