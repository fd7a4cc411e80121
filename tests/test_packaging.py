"""The distribution as an operator installs it: a plain `pip install` into a fresh venv (no
checkout on the path) claims one top-level name, carries every file the service reads, and
runs the demo, cameras included (zeep's async transport once failed there on a missing
`packaging`)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from tests.serving import bearer

TOP = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((TOP / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
# The repo's folders as the customer asked for them, installed as sitewatch.<folder>.
FOLDERS = {name.removeprefix("sitewatch."): Path(folder) for name, folder in SETUPTOOLS["package-dir"].items()}
# What a user might also have installed under these generic names: none of them is ours.
GENERIC = ["api", "auth", "backup", "collector", "config", "domain", "i18n", "inspections", "paging", "reports",
           "review", "rules", "simulators", "storage", "tickets", "vault", "tests", "bench"]
# Files in the package folders that are documentation for people, not read by the service.
NOT_INSTALLED = re.compile(r"(^|/)README\.md$|^collector/mqtt/schema\.json$")
KINDS = {"regulator_station", "modbus_gateway", "camera", "alarm_host"}


def _packages_on_disk() -> set[str]:
    found: set[str] = set()
    for top, prefix in [*((folder, f"sitewatch.{name}") for name, folder in FOLDERS.items()),
                        (Path("sitewatch"), "sitewatch")]:
        for init in (TOP / top).rglob("__init__.py"):
            relative = init.parent.relative_to(TOP / top)
            found.add(".".join([prefix, *relative.parts]))
    return found


def test_the_package_list_names_every_folder_with_code():
    assert sorted(FOLDERS) == sorted(p.name for p in TOP.iterdir() if (p / "__init__.py").is_file()
                                     and p.name not in {"sitewatch", "tests", "bench"}), \
        "every top-level package folder is mapped under sitewatch. in [tool.setuptools.package-dir]"
    listed = set(SETUPTOOLS["packages"])
    on_disk = _packages_on_disk()
    assert not on_disk - listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
    assert not listed - on_disk, f"listed but not on disk: {sorted(listed - on_disk)}"


def _tracked_data_files() -> list[str]:
    """Files the service reads at run time, as paths inside the installed sitewatch package."""
    done = subprocess.run(["git", "-C", TOP, "ls-files", *FOLDERS, "sitewatch"], capture_output=True, text=True,
                          check=True)
    wanted = [f for f in done.stdout.split() if not f.endswith(".py") and not NOT_INSTALLED.search(f)]
    wanted += ["api/static/vendor/echarts.min.js"]  # made by `make` from the npm registry, not tracked
    return [f.removeprefix("sitewatch/") for f in wanted]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A new venv with the distribution installed from a copy of what it is made of."""
    where = tmp_path_factory.mktemp("install")
    source = where / "source"
    source.mkdir()
    for name in ["pyproject.toml", "README.md"]:
        shutil.copy(TOP / name, source)
    for folder in [*FOLDERS.values(), Path("sitewatch")]:
        shutil.copytree(TOP / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=120)
    done = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-cache-dir", source],
                          check=False, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"
    shutil.rmtree(source)  # nothing may come from the copy once installed
    return venv


def _site_packages(venv: Path) -> Path:
    [found] = (venv / "lib").glob("python3.*/site-packages")
    return found


def test_the_distribution_claims_one_top_level_name(fresh_venv, tmp_path):
    [dist] = _site_packages(fresh_venv).glob("sitewatch-*.dist-info")
    assert (dist / "top_level.txt").read_text().split() == ["sitewatch"]
    installed = {line.split(",")[0].split("/")[0] for line in (dist / "RECORD").read_text().splitlines()}
    assert installed == {"sitewatch", dist.name, ".."}, f"files outside sitewatch/: {sorted(installed)}"  # ..: bin/
    probe = "import importlib.util, json, sys; print(json.dumps([n for n in sys.argv[1:] if importlib.util.find_spec(n)]))"
    done = subprocess.run([fresh_venv / "bin" / "python", "-c", probe, *GENERIC], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [], "a generic top-level name is importable from the installed distribution"


def test_every_file_the_service_reads_is_installed(fresh_venv):
    package = _site_packages(fresh_venv) / "sitewatch"
    missing = [f for f in _tracked_data_files() if not (package / f).is_file()]
    assert not missing, f"not in the installed package (add to [tool.setuptools.package-data]): {missing}"


def test_the_installed_demo_polls_every_kind_of_device_and_stops_on_ctrl_c(fresh_venv, tmp_path):
    proc = subprocess.Popen([fresh_venv / "bin" / "sitewatch", "demo", "--port", "0", "--stations", "2",
                             "--gateway-stations", "1", "--cameras", "1", "--alarm-hosts", "1", "--no-schedule",
                             "--no-history", "--poll-interval-s", "0.5", "--data-dir", tmp_path / "data"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        url = _printed(proc, r"(http://127\.0\.0\.1:\d+)/", lines)
        auth = bearer(_printed(proc, r"write token[^:]*: (\S+)", lines))
        with httpx.Client(base_url=url, headers=auth, timeout=10) as client:
            polled = _wait_for_polls(client, KINDS)
            assert polled == KINDS, f"polled only {sorted(polled)} of {sorted(KINDS)}"
            assert client.get("/static/vendor/echarts.min.js").status_code == 200, "the charts library is served"
            page = client.get("/login", headers={"Accept-Language": "zh-CN"})
            assert page.status_code == 200 and "登录" in page.text, "the Chinese catalogue is installed"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    output = "".join(lines) + out
    assert proc.returncode == 0, output
    assert "Traceback" not in output, output


def _printed(proc: subprocess.Popen, pattern: str, lines: list[str]) -> str:
    for line in proc.stdout:  # blocks until the demo prints it
        lines.append(line)
        if found := re.search(pattern, line):
            return found.group(1)
    raise AssertionError(f"the demo exited before printing {pattern!r}:\n" + "".join(lines))


def _wait_for_polls(client: httpx.Client, kinds: set[str]) -> set[str]:
    """The kinds of device with a successful poll or a value, once all of ``kinds`` have one or
    after 60 s (a first camera poll waits for the demo's start-up work)."""
    deadline = time.monotonic() + 60
    while True:
        assets = client.get("/api/assets").raise_for_status().json()
        polled = {a["kind"] for a in assets if a["values"] or (a["health"] or {}).get("polls_ok")}
        if polled >= kinds or time.monotonic() > deadline:
            return polled
        time.sleep(0.2)
