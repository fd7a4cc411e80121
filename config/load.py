"""Load and validate the TOML file; every error names the key and its line. A file other users
can write, or one holding a secret, is refused (config/secrets.py)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sitewatch.config.models import Config
from sitewatch.config.secrets import mode_problem, plain_secrets, readable_by_others, refusal


class ConfigError(Exception):
    """The configuration is unusable; the message says where and why."""


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        problem = mode_problem(path)
        disclosed = readable_by_others(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    if problem is not None:
        raise ConfigError(f"{path}: {problem}")
    return _validated(_toml(text, str(path)), text=text, source=str(path), disclosed=disclosed)


def parse_config(text: str, *, source: str = "<config>") -> Config:
    return _validated(_toml(text, source), text=text, source=source, disclosed=False)


def config_from_dict(raw: dict[str, Any], *, text: str = "", source: str = "<config>") -> Config:
    return _validated(raw, text=text, source=source, disclosed=False)


def _toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    except RecursionError:  # tomllib parses nesting by recursion: [[[[... 2,000 deep
        raise ConfigError(f"{source}: not valid TOML: arrays, tables or dotted keys nested too deep") from None


def _validated(raw: dict[str, Any], *, text: str, source: str, disclosed: bool) -> Config:
    """``disclosed``: the file is readable by other users, so a secret found in it has leaked."""
    try:
        secrets = plain_secrets(raw)
    except RecursionError:  # a.a.a.a... 2,000 keys deep: no configuration of ours nests so
        raise ConfigError(f"{source}: keys nested too deep to be a Sitewatch configuration") from None
    if secrets:
        lines = key_lines(text)
        found = [(_dotted(loc), _find_line(loc, lines), advice) for loc, advice in secrets]
        raise ConfigError(f"{source}: " + refusal(found, disclosed=disclosed))
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        lines = key_lines(text)
        problems = []
        for err in exc.errors(include_url=False):
            key = _dotted(err["loc"])
            line = _find_line(err["loc"], lines)
            where = f"line {line}, " if line else ""
            problems.append(f"  {where}key {key or '(top level)'}: {err['msg']}")
        raise ConfigError(f"{source}: invalid configuration\n" + "\n".join(problems)) from None


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")
_INLINE_KEY = re.compile(r"([A-Za-z0-9_\-]+)\s*=")


def key_lines(text: str) -> dict[tuple[Any, ...], int]:
    """Map each key path (array-of-table indices included) to the line that sets it.

    TOML's parser keeps no positions, so this follows headers and ``key =`` lines; it is
    only used to point at a line in an error message.
    """
    found: dict[tuple[Any, ...], int] = {}
    counters: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            names = tuple(p.strip().strip("\"'") for p in header.group(2).split("."))
            table = _resolve(names, counters)
            if header.group(1) == "[[":
                counters[names] = counters.get(names, -1) + 1
                table = _resolve(names, counters)
            found.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            path = table + tuple(p.strip("\"'") for p in key.group(1).split("."))
            found.setdefault(path, number)
            rest = line[key.end():]
            if rest.lstrip().startswith("{"):
                for inner in _INLINE_KEY.finditer(rest):
                    found.setdefault(path + (inner.group(1),), number)
    return found


def _resolve(names: tuple[str, ...], counters: dict[tuple[Any, ...], int]) -> tuple[Any, ...]:
    path: tuple[Any, ...] = ()
    for i, name in enumerate(names):
        path += (name,)
        if names[: i + 1] in counters:
            path += (counters[names[: i + 1]],)
    return path


def _find_line(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    # Discriminated unions put the variant's tag into the path ("rules", 0, "threshold", ...):
    # also try without each string part, then fall back to the nearest enclosing key.
    candidates = [loc] + [loc[:i] + loc[i + 1:] for i in range(len(loc)) if isinstance(loc[i], str)]
    for size in range(len(loc), 0, -1):
        for candidate in candidates:
            if candidate[:size] in lines:
                return lines[candidate[:size]]
    return None
