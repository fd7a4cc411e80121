"""The Sitewatch service: command line, process wiring and the demo.

Sitewatch installs one top-level name, this package. The repo keeps the layout the customer
asked for, with api/, collector/, storage/, ... at its top; installed, each of those is a
subpackage (sitewatch.api, sitewatch.collector, ...: pyproject's package-dir). In a checkout,
run from its folder or installed editable, they are found beside this package, so every tree
(a second checkout, a `git archive` for a benchmark) imports its own code."""

from pathlib import Path

_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "collector" / "__init__.py").is_file():
    __path__.append(str(_checkout))
