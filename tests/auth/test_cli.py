"""`sitewatch user`: add, passwd, disable, enable, role, list against a database; the
password from a hidden prompt (typed twice) or stdin, never argv; one-line refusals with
exit status 2; every change audited as cli:<login name>."""

from __future__ import annotations

import getpass
import io
import subprocess

import pytest
from sqlalchemy import select

from sitewatch.auth.cli import main
from sitewatch.auth.users import LoginRefused, get_user, log_in
from sitewatch.storage.tables import AuditRow
from tests.auth.conftest import NOW
from tests.serving import FixedClock
from tests.sitewatch.test_cli import EXAMPLE, SITEWATCH

CUSTOMERS = {"citygas", "harbour"}
ME = f"cli:{getpass.getuser()}"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(sessions, *argv: str, stdin: str = "", prompt=None, terminal: bool = False) -> tuple[int, str, str]:  # noqa: ANN001
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), sessions=sessions, customers=CUSTOMERS, stdin=(Terminal if terminal else io.StringIO)(stdin),
                stdout=out, stderr=err, prompt=prompt, clock=FixedClock(NOW))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def sessions(db_session_factory, monkeypatch):
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    return db_session_factory


def test_add_from_stdin_then_list_role_disable_enable_and_passwd(sessions):
    code, out, _ = run(sessions, "add", "li.wei", "--role", "dispatcher", "--customer", "harbour", "--name", "Li Wei",
                       "--password-stdin", stdin="first long password\n")
    assert (code, out) == (0, "li.wei: added as dispatcher for harbour\n")
    with sessions() as s:
        row = get_user(s, "li.wei")
        assert (row.role, row.customers, row.display_name) == ("dispatcher", ["harbour"], "Li Wei")
        assert "first long password" not in row.password_hash
    assert run(sessions, "role", "li.wei", "--role", "manager", "--customer", "citygas", "--customer", "harbour")[0] == 0
    assert run(sessions, "disable", "li.wei")[1] == "li.wei: disabled\n"
    _, listed, _ = run(sessions, "list")
    header, line = listed.splitlines()
    assert header.split() == ["USERNAME", "ROLE", "CUSTOMERS", "STATE", "CREATED", "NAME"]
    assert line.split() == ["li.wei", "manager", "citygas,harbour", "disabled", NOW.isoformat(), "Li", "Wei"]
    assert run(sessions, "enable", "li.wei")[0] == 0
    assert run(sessions, "passwd", "li.wei", stdin="second long password\n")[0] == 0, "stdin not a terminal: read it"
    with sessions() as s:
        with pytest.raises(LoginRefused):
            log_in(s, "li.wei", "first long password", remote="-", at=NOW)
        assert log_in(s, "li.wei", "second long password", remote="-", at=NOW).principal.role.value == "manager"
        audit = [(a.actor, a.action) for a in s.scalars(select(AuditRow).where(AuditRow.entity_id == "li.wei")
                                                         .order_by(AuditRow.id)) if a.action != "login_failed"]
    assert audit[:5] == [(ME, "created"), (ME, "role_changed"), (ME, "disabled"), (ME, "enabled"),
                         (ME, "password_changed")]


def test_at_a_terminal_the_password_is_asked_twice_and_must_match(sessions):
    asked = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "typed long password"

    assert run(sessions, "add", "zhao", "--role", "technician", prompt=prompt, terminal=True)[0] == 0
    assert asked == ["Password: ", "Password again: "]
    answers = iter(["typed long password", "a typo in it"])
    code, _, err = run(sessions, "passwd", "zhao", prompt=lambda _text: next(answers), terminal=True)
    assert (code, err) == (2, "error: The two passwords differ; nothing was changed.\n")


@pytest.mark.parametrize("argv, stdin, message", [
    (("add", "x1", "--role", "viewer"), "short\n", "error: A password needs at least 10 characters.\n"),
    (("add", "x1", "--role", "viewer", "--customer", "nobody"), "long password\n",
     "error: Unknown customer(s): nobody.\n"),
    (("passwd", "ghost"), "long password\n", "error: No user 'ghost'.\n"),
    (("disable", "ghost"), "", "error: No user 'ghost'.\n"),
    (("role", "ghost", "--role", "viewer"), "", "error: No user 'ghost'.\n"),
    (("role", "x1"), "", "error: Name the new role (--role), the customers (--customer), or both.\n"),
    (("add", "x1", "--role", "boss"), "", None),
    (("add", "x1", "--password", "secret"), "", None),
])
def test_a_refusal_is_one_line_and_exit_status_2(sessions, argv, stdin, message):
    code, out, err = run(sessions, *argv, stdin=stdin)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: ")
    if message:
        assert err == message
    with sessions() as s:
        assert get_user(s, "x1") is None


def test_the_console_script_adds_a_user_to_the_configured_database(tmp_path):
    config = tmp_path / "sitewatch.toml"
    config.write_text(EXAMPLE.read_text().replace('data_dir = "var"', f'data_dir = "{tmp_path / "data"}"'))
    base = [SITEWATCH, "user", "--config", str(config)]
    env = {"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
    added = subprocess.run([*base, "add", "wang", "--role", "viewer"], input="a long password\n",
                           capture_output=True, text=True, timeout=60, env=env)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([*base, "list"], capture_output=True, text=True, timeout=60, env=env)
    assert "wang" in listed.stdout and "viewer" in listed.stdout
    again = subprocess.run([*base, "add", "wang", "--role", "viewer"], input="a long password\n",
                           capture_output=True, text=True, timeout=60, env=env)
    assert (again.returncode, again.stderr) == (2, "error: User 'wang' exists already.\n")
