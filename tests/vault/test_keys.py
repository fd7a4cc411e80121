"""Master key: loading from the environment or a private file, refusals, rotation ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.vault import KeyConfigError, KeyRing, WrongKey, generate_key, load_key
from sitewatch.vault.keys import KEY_ENV


def test_generated_key_loads_from_env() -> None:
    ring = load_key(env={KEY_ENV: generate_key()})
    key_id, blob = ring.encrypt("s3cret", name="cam-1", field="password")
    assert key_id == ring.current_id
    assert ring.decrypt(blob, key_id=key_id, name="cam-1", field="password") == "s3cret"


def test_key_file_with_mode_600_loads(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    key = generate_key()
    path.write_text(key + "\n")
    path.chmod(0o600)
    assert load_key(env={}, key_file=path).current_id == load_key(env={KEY_ENV: key}).current_id


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "vault.key"
    path.write_text(generate_key())
    path.chmod(mode)
    with pytest.raises(KeyConfigError, match=r"group or others.*chmod 600"):
        load_key(env={}, key_file=path)


def test_missing_key_names_both_sources(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.key"
    with pytest.raises(KeyConfigError) as info:
        load_key(env={}, key_file=path)
    assert KEY_ENV in str(info.value) and str(path) in str(info.value)
    with pytest.raises(KeyConfigError, match=f"{KEY_ENV}.*key file"):
        load_key(env={})


def test_both_sources_refused(tmp_path: Path) -> None:
    path = tmp_path / "vault.key"
    path.write_text(generate_key())
    path.chmod(0o600)
    with pytest.raises(KeyConfigError, match="use one"):
        load_key(env={KEY_ENV: generate_key()}, key_file=path)


@pytest.mark.parametrize("text", ["", "  ", "not base64!", "c2hvcnQ="])
def test_malformed_key_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(KeyConfigError) as info:
        load_key(env={KEY_ENV: text})
    if text.strip():
        assert text not in str(info.value)


def test_key_ring_decrypts_with_old_key_and_seals_with_new() -> None:
    old, new = generate_key(), generate_key()
    old_ring = load_key(env={KEY_ENV: old})
    key_id, blob = old_ring.encrypt("pw", name="n", field="password")
    rotated = KeyRing.from_text(f"{new},{old}", source="test")
    assert rotated.key_ids == (rotated.current_id, old_ring.current_id)
    assert rotated.decrypt(blob, key_id=key_id, name="n", field="password") == "pw"
    assert rotated.encrypt("pw", name="n", field="password")[0] != key_id


def test_ciphertext_is_bound_to_name_and_field() -> None:
    ring = load_key(env={KEY_ENV: generate_key()})
    key_id, blob = ring.encrypt("pw", name="cam-1", field="password")
    with pytest.raises(WrongKey, match="altered or copied"):
        ring.decrypt(blob, key_id=key_id, name="cam-2", field="password")
    with pytest.raises(WrongKey):
        ring.decrypt(blob, key_id=key_id, name="cam-1", field="username")


def test_key_ring_repr_shows_ids_only() -> None:
    key = generate_key()
    ring = load_key(env={KEY_ENV: key})
    assert key not in repr(ring) and ring.current_id in repr(ring)
