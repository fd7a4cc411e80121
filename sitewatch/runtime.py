"""Where the process's wiring used to live, before it was split by stage: the components in
sitewatch/components.py, the stages in sitewatch/stages/, their composition in
sitewatch/pipeline.py. The old names stay importable from here while api/, the tests and the
benches move to the new modules.
"""

from __future__ import annotations

from sitewatch.components import (
    Components,
    asset_channels,
    build_components,
    tune_garbage_collector,
)
from sitewatch.pipeline import Pipeline
from sitewatch.stages.rules import (
    RULES,
    RULES_STATE_KEY,
    SLA_CHECK_EVERY_TICKS,
    SNAPSHOT_EVERY_TICKS,
)
from sitewatch.stages.store import STORE

__all__ = [
    "RULES", "RULES_STATE_KEY", "SLA_CHECK_EVERY_TICKS", "SNAPSHOT_EVERY_TICKS", "STORE",
    "Components", "Pipeline", "asset_channels", "build_components", "tune_garbage_collector",
]
