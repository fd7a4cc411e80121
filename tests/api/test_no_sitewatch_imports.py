"""The API reads the running process only through its own interface (api/context.py): no
module under api/ imports the process's own modules (the sitewatch/ folder: sitewatch.cli,
sitewatch.components, sitewatch.stages, ...), and the process's ``Components`` still fits that
interface, member by member and method signature by method signature."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import sitewatch
from sitewatch import api
from sitewatch.api.context import (
    ApiContext,
    BufferView,
    DeviceHealthReader,
    LoopView,
    SampleReader,
    ServiceHealthReader,
)
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.supervise import BufferState, LoopHealth

API_ROOT = Path(api.__file__).parent


# The modules of the sitewatch/ folder. The repo's other folders are installed under the same
# name (sitewatch.api, sitewatch.storage, ...: pyproject's package-dir) and stay allowed.
PROCESS = frozenset(p.stem for p in Path(sitewatch.__file__).parent.iterdir()
                    if p.stem != "__init__" and (p.suffix == ".py" or (p / "__init__.py").is_file()))


def _is_sitewatch(module: str | None) -> bool:
    parts = (module or "").split(".")
    return parts[0] == "sitewatch" and (len(parts) == 1 or parts[1] in PROCESS)


def sitewatch_imports(root: Path) -> list[str]:
    """``file:line`` of every import of the process's modules under ``root``, TYPE_CHECKING
    blocks, function bodies and ``importlib.import_module("sitewatch...")`` included."""
    found: list[tuple[str, int]] = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                hit = any(_is_sitewatch(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                hit = node.level == 0 and (
                    _is_sitewatch(node.module) if node.module != "sitewatch"
                    else any(_is_sitewatch(f"sitewatch.{alias.name}") for alias in node.names))
            elif isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                first = node.args[0] if node.args else None
                hit = (name in {"import_module", "__import__"} and isinstance(first, ast.Constant)
                       and isinstance(first.value, str) and _is_sitewatch(first.value))
            else:
                continue
            if hit:
                found.append((path.relative_to(root.parent).as_posix(), node.lineno))
    return [f"{file}:{line}" for file, line in sorted(found)]


def test_no_module_under_api_imports_sitewatch():
    found = sitewatch_imports(API_ROOT)
    assert not found, f"api/ must read the process through api/context.py, not import its modules: {found}"


def test_the_check_finds_every_form_of_import(tmp_path):
    root = tmp_path / "api"
    (root / "pages").mkdir(parents=True)
    (root / "ok.py").write_text("from sitewatch.api.context import ApiContext\nimport sitewatchers\nfrom .sitewatch import x\n"
                                "from sitewatch import i18n\nimport sitewatch.storage.tables as t\n")
    (root / "pages" / "bad.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from sitewatch.components import Components\n"
        "def f():\n"
        "    import sitewatch.supervise as s\n"
        "    return importlib.import_module('sitewatch.demo')\n"
        "from sitewatch import i18n, serve\n"
        "import sitewatch\n"
        "from sitewatch.stages.rules import RulesStage\n"
    )
    assert sitewatch_imports(root) == ["api/pages/bad.py:3", "api/pages/bad.py:5", "api/pages/bad.py:6",
                                       "api/pages/bad.py:7", "api/pages/bad.py:8", "api/pages/bad.py:9"]


def _members(protocol: type) -> list[str]:
    return [name for name in vars(protocol) if not name.startswith("_")]


def _same_calls(protocol: type, thing: object) -> list[str]:
    """Protocol methods whose parameters ``thing`` does not take the same way (name, kind,
    default); isinstance on a runtime-checkable protocol checks only that the names exist."""
    wrong = []
    for name in _members(protocol):
        wanted = getattr(protocol, name)
        if isinstance(wanted, property):
            continue
        wanted_params = list(inspect.signature(wanted).parameters.values())[1:]  # without self
        have = inspect.signature(getattr(thing, name)).parameters
        for p in wanted_params:
            q = have.get(p.name)
            if q is None or q.kind != p.kind or q.default != p.default:
                wrong.append(f"{type(thing).__name__}.{name}({p.name}): {q} where the API calls with {p}")
    return wrong


@pytest.fixture
def components(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    parts = build_components(config_from_dict(raw))
    yield parts
    parts.close()


def test_components_satisfies_the_api_context(components):
    readers = {"store": SampleReader, "health": DeviceHealthReader, "service": ServiceHealthReader}
    assert isinstance(components, ApiContext), \
        f"Components lacks {[m for m in _members(ApiContext) if not hasattr(components, m)]}"
    assert set(readers) <= set(_members(ApiContext))
    for attribute, protocol in readers.items():
        reader = getattr(components, attribute)
        assert isinstance(reader, protocol), \
            f"Components.{attribute} lacks {[m for m in _members(protocol) if not hasattr(reader, m)]}"
        assert _same_calls(protocol, reader) == []


def test_loop_and_buffer_records_show_what_healthz_reads():
    loop = LoopHealth(name="rules")
    buffer = BufferState(samples=1, max_samples=10, warn_at=8, spooled=1, replayed=0, dropped=0)
    for record, view in ((loop, LoopView), (buffer, BufferView)):
        missing = [m for m in _members(view) if not hasattr(record, m)]
        assert not missing, f"{type(record).__name__} lacks {missing}, which {view.__name__} promises the API"
