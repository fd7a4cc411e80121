"""How answers map onto Unreachable / Rejected, and what an error says (and never says)."""

from __future__ import annotations

import json

import pytest

from sitewatch.paging.channels.errors import (
    Rejected,
    Unreachable,
    blank,
    excerpt,
    http_status_error,
    robot_receipt,
)


@pytest.mark.parametrize(("status", "error"), [
    (500, Unreachable), (502, Unreachable), (504, Unreachable), (408, Unreachable), (429, Unreachable),
    (400, Rejected), (401, Rejected), (403, Rejected), (404, Rejected), (413, Rejected), (301, Rejected),
])
def test_http_status(status: int, error: type) -> None:
    found = http_status_error("ch", status, b"why")
    assert type(found) is error and found.code == status, repr(found)
    assert str(found).startswith(f"ch: answered HTTP {status}") and str(found).endswith(": 'why'"), str(found)


def test_robot_errcodes() -> None:
    ok = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
    assert robot_receipt("ch", 200, ok, retry_later=frozenset({45009})) == "errcode 0"
    with pytest.raises(Unreachable):
        robot_receipt("ch", 200, b'{"errcode": 45009, "errmsg": "api freq out of limit"}',
                      retry_later=frozenset({45009}))
    with pytest.raises(Rejected, match="errcode 93000: 'invalid webhook url'"):
        robot_receipt("ch", 200, b'{"errcode": 93000, "errmsg": "invalid webhook url"}', retry_later=frozenset())
    with pytest.raises(Unreachable, match="without a JSON errcode"):
        robot_receipt("ch", 200, b'{"ok": true}', retry_later=frozenset())


def test_secrets_are_blanked_and_long_answers_cut() -> None:
    error = Rejected("ch", "key abc-123 refused", hide=("abc-123", ""))
    assert str(error) == "ch: key *** refused" and "abc-123" not in error.message
    assert blank("x", ["", "x"]) == "***"
    long = excerpt("说" * 500 + "\n")
    assert long.startswith("'说") and long.endswith("…'") and len(long) < 210
