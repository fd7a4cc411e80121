"""`sitewatch vault` commands: passwords from stdin or a prompt only, never printed."""

from __future__ import annotations

import io
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.vault import KeyRing, Vault, generate_key, load_key
from sitewatch.vault.cli import main
from sitewatch.vault.keys import KEY_ENV

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
PASSWORD = "Cli-Pa55word!42"


class FixedClock:
    def now(self) -> datetime:
        return T0

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture
def key() -> KeyRing:
    return load_key(env={KEY_ENV: generate_key()})


def _run(argv: list[str], sessions: sessionmaker[Session], key: KeyRing, **kwargs: object) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, sessions=sessions, key=key, stdout=out, clock=FixedClock(), **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue()


def test_set_from_stdin_then_list_and_delete(
    db_session_factory: sessionmaker[Session], key: KeyRing, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _run(
        ["--actor", "alice", "set", "cam-1", "--username", "operator", "--password-stdin"],
        db_session_factory, key, stdin=io.StringIO(PASSWORD + "\n"),
    )
    assert code == 0 and key.current_id in out
    cred = Vault(db_session_factory, key).get("cam-1", purpose="test", actor="t", now=T0)
    assert (cred.username, cred.password.reveal()) == ("operator", PASSWORD)

    code, out = _run(["list"], db_session_factory, key)
    assert code == 0 and "cam-1" in out and "op***" in out and "operator" not in out and PASSWORD not in out

    assert _run(["--actor", "alice", "delete", "cam-1"], db_session_factory, key)[0] == 0
    assert _run(["delete", "cam-1"], db_session_factory, key)[0] == 1
    assert "no credential named 'cam-1'" in capsys.readouterr().err


def test_set_by_prompt_asks_twice(db_session_factory: sessionmaker[Session], key: KeyRing) -> None:
    answers = iter([PASSWORD, PASSWORD])
    code, _ = _run(["--actor", "a", "set", "plc-1", "--username", "admin"], db_session_factory, key,
                   prompt=lambda _label: next(answers))
    assert code == 0
    assert Vault(db_session_factory, key).describe("plc-1").username_masked == "ad***"


def test_prompt_mismatch_stores_nothing(db_session_factory: sessionmaker[Session], key: KeyRing) -> None:
    answers = iter([PASSWORD, "typo"])
    code, _ = _run(["--actor", "a", "set", "plc-1", "--username", "admin"], db_session_factory, key,
                   prompt=lambda _label: next(answers))
    assert code == 1 and Vault(db_session_factory, key).list() == []


def test_password_on_the_command_line_is_refused(db_session_factory: sessionmaker[Session], key: KeyRing) -> None:
    with pytest.raises(SystemExit) as info:
        _run(["set", "cam-1", "--username", "u", "--password", PASSWORD], db_session_factory, key)
    assert info.value.code == 2
