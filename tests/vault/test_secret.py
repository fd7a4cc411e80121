"""Printing or formatting anything that holds a secret shows no secret."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sitewatch.vault import DeviceCredential, Secret
from sitewatch.vault.secret import mask_username

PASSWORD = "Hunter2-Pa55!"


def test_secret_repr_str_format_are_masked() -> None:
    secret = Secret(PASSWORD)
    for shown in (repr(secret), str(secret), f"{secret}", "%s" % secret, repr([secret])):
        assert PASSWORD not in shown
    assert secret.reveal() == PASSWORD


def test_secret_compares_by_value_and_is_not_hashable() -> None:
    assert Secret("a") == Secret("a") and Secret("a") != Secret("b")
    with pytest.raises(TypeError):
        hash(Secret("a"))


def test_device_credential_repr_masks_password_and_username() -> None:
    cred = DeviceCredential(
        name="cam-1", username="operator", password=Secret(PASSWORD), updated_at=datetime(2025, 1, 1, tzinfo=timezone.utc)
    )
    for shown in (repr(cred), str(cred), f"{cred}"):
        assert PASSWORD not in shown and "operator" not in shown and "op***" in shown


@pytest.mark.parametrize(("username", "masked"), [("admin", "ad***"), ("root", "***"), ("", "***")])
def test_mask_username(username: str, masked: str) -> None:
    assert mask_username(username) == masked
