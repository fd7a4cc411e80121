"""Property tests of configuration loading: TOML text or a parsed mapping gives a Config or a
ConfigError naming what is wrong, never anything else.

Inputs: any text; the shipped example with lines deleted, doubled or given another value;
the example's mapping with any key set to any TOML value (wrong types, NaN, infinities,
64-bit extremes, dates, nesting), removed, or joined by an unknown key.
"""

from __future__ import annotations

import copy
import math
import tomllib
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import tzdata
from hypothesis import example, given
from hypothesis import strategies as st

from sitewatch.config.load import ConfigError, config_from_dict, key_lines, parse_config
from sitewatch.config.models import Config
from tests.corpus import corpus_files, fuzz_settings

EXAMPLE_TEXT = (Path(__file__).parents[2] / "config" / "sitewatch.example.toml").read_text(encoding="utf-8")
EXAMPLE = tomllib.loads(EXAMPLE_TEXT)
I64 = 2**63 - 1

# Crashes once found here (each fixed, each kept): a time zone naming a folder of the tzdata
# package ("America": IsADirectoryError), TOML nested 2,000 deep (RecursionError out of tomllib
# and out of the secrets scan), a working calendar's start with an offset (TypeError), and NaN
# or an infinity accepted by some 80 settings.
ZONE_FOLDERS = sorted(p.name for p in Path(tzdata.__file__).parent.joinpath("zoneinfo").iterdir() if p.is_dir())


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list index of the example, tables and arrays included."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += paths(value, prefix + (index,))
    return found


PATHS = paths(EXAMPLE)

TOML_SCALARS = st.one_of(
    st.text(max_size=20), st.sampled_from(ZONE_FOLDERS),
    st.sampled_from(["", "UTC", "Asia/Shanghai", "../../etc/passwd", "posixrules", "zone.tab", "x" * 300, "\0",
                     "rs-north-01", "ring1", "citygas", "north", "state", "kPa"]),
    st.integers(-I64 - 1, I64), st.sampled_from([0, -1, 1, 65535, 65536, 2**31, I64, -I64 - 1]),
    st.floats(), st.booleans(),
    st.dates(), st.times(), st.datetimes(), st.datetimes(timezones=st.just(UTC)),
)
TOML_VALUES = st.recursive(TOML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=3)), max_leaves=6)


@st.composite
def mutations(draw: st.DrawFn) -> dict[str, Any]:
    raw = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent = raw
        try:
            for part in path[:-1]:
                parent = parent[part]
            last = path[-1]
            action = draw(st.sampled_from(["set", "set", "set", "delete", "unknown", "double"]))
            if action == "set":
                parent[last] = draw(TOML_VALUES)
            elif action == "delete":
                del parent[last]
            elif action == "unknown" and isinstance(parent[last], dict):
                parent[last][draw(st.text(max_size=12))] = draw(TOML_VALUES)
            elif action == "double" and isinstance(parent[last], list) and parent[last]:
                parent[last].append(copy.deepcopy(parent[last][0]))  # a duplicate id, or a second of one
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced what this path ran through
    return raw


def non_finite(node: Any, path: str = "") -> list[str]:
    """Keys of a loaded configuration that hold NaN or an infinity: no setting means one."""
    if isinstance(node, float):
        return [] if math.isfinite(node) else [f"{path} = {node}"]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in non_finite(value, f"{path}.{key}")]
    if isinstance(node, list | tuple):
        return [p for index, value in enumerate(node) for p in non_finite(value, f"{path}[{index}]")]
    return []


def check_mapping(raw: dict[str, Any], *, text: str = EXAMPLE_TEXT) -> None:
    try:
        config = config_from_dict(raw, text=text, source="fuzz.toml")
    except ConfigError as error:
        assert str(error).startswith("fuzz.toml: ")
        return
    assert isinstance(config, Config)


def check_text(text: str) -> None:
    try:
        config = parse_config(text, source="fuzz.toml")
    except ConfigError as error:
        assert str(error).startswith("fuzz.toml: ")
        return
    assert isinstance(config, Config)


@fuzz_settings(150)
@given(mutations())
def test_any_value_anywhere_in_the_example_is_a_config_or_a_config_error(raw: dict[str, Any]):
    check_mapping(raw)


TOML_LITERALS = st.one_of(
    st.sampled_from(['""', "nan", "-inf", "+inf", "9223372036854775807", "9223372036854775808", "1e400", "0x7FFF",
                     "true", "[]", "{}", "[[]]", '{ a = 1 }', "1979-05-27T07:32:00Z", "1979-05-27", "07:32:00",
                     '"\\u0000"', '"\\ud800"', "'''\n'''", '"America"', '"Etc"', "[" * 50 + "]" * 50]),
    st.text(max_size=12),
)


@st.composite
def edited_texts(draw: st.DrawFn) -> str:
    lines = EXAMPLE_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "value", "delete", "double"]))
        if action == "value" and "=" in lines[n]:
            literal = draw(TOML_LITERALS)
            lines[n] = lines[n].split("=", 1)[0] + "= " + literal
        elif action == "delete":
            del lines[n]
        elif action == "double":
            lines.insert(n, lines[n])
    return "\n".join(lines)


@fuzz_settings(150)
@given(st.one_of(edited_texts(), st.text(max_size=200)))
@example("x = " + "[" * 2000 + "]" * 2000)
@example("x = " + "{a=" * 2000 + "1" + "}" * 2000)
@example("a" + ".a" * 2000 + " = 1")
@example('[sla.calendars.office]\nstart = 08:30:00+08:00')
@example("")
@example("[storage\n")
def test_any_text_is_a_config_or_a_config_error(text: str):
    check_text(text)


@fuzz_settings(150)
@given(st.one_of(edited_texts(), st.text(max_size=300)))
def test_key_lines_reads_any_text(text: str):
    for path, line in key_lines(text).items():
        assert isinstance(path, tuple) and 1 <= line <= len(text.splitlines())


def _at(raw: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        raw = raw[part]
    return raw


NUMBER_PATHS = [p for p in PATHS if type(_at(EXAMPLE, p)) in (int, float)]


@fuzz_settings(150)
@given(st.sampled_from(NUMBER_PATHS), st.sampled_from([math.nan, math.inf, -math.inf]))
@example(("sla", "zones", "ring1", "hours"), math.inf)
@example(("modbus_profiles", 0, "registers", 2, "scale"), math.nan)
def test_no_setting_takes_nan_or_an_infinity(path: tuple[Any, ...], value: float):
    raw = copy.deepcopy(EXAMPLE)
    _at(raw, path[:-1])[path[-1]] = value
    try:
        config = config_from_dict(raw, text=EXAMPLE_TEXT)
    except ConfigError:
        return
    assert not (bad := non_finite(config.model_dump())), f"non-finite numbers accepted: {bad}"


def _kept(path: Path):
    marks = []
    if path.name.startswith("open-"):
        marks.append(pytest.mark.xfail(strict=True, reason=f"open bug kept in tests/corpus/config/{path.name}"))
    return pytest.param(path, marks=marks, id=path.name)


@pytest.mark.parametrize("path", [_kept(p) for p in corpus_files("config")])
def test_kept_configs(path: Path):
    check_text(path.read_text(encoding="utf-8"))


def test_the_example_loads_and_its_keys_are_found():
    """The properties start from a valid file: if it stopped loading, they would test nothing."""
    assert isinstance(parse_config(EXAMPLE_TEXT), Config)
    assert len(PATHS) > 100

