"""Keyed user id pseudonyms (state/pseudonym.py)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from state.pseudonym import MIN_KEY_BYTES, PSEUDONYM_HEX, PseudonymKeyError, Pseudonyms

KEY = b"a-key-of-enough-bytes"


def test_without_a_key_ids_pass_through() -> None:
    off = Pseudonyms.from_secret()
    assert not off.enabled and off("u42") == "u42"


@given(st.text(min_size=1, max_size=256))
def test_a_pseudonym_is_the_truncated_hmac_sha256_of_the_id(user_id: str) -> None:
    expected = hmac.new(KEY, user_id.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
    keyed = Pseudonyms(KEY)
    assert keyed(user_id) == expected and keyed(user_id) == keyed(user_id)


def test_another_key_gives_other_pseudonyms() -> None:
    assert Pseudonyms(KEY)("u1") != Pseudonyms(KEY + b"!")("u1")
    assert Pseudonyms(KEY)("u1") != Pseudonyms(KEY)("u2")


def test_a_key_file_is_its_bytes_less_one_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_bytes(KEY + b"\n")
    assert Pseudonyms.from_secret(key_file=str(path))("u1") == Pseudonyms(KEY)("u1")
    assert Pseudonyms.from_secret(key=KEY.decode())("u1") == Pseudonyms(KEY)("u1")


def test_short_missing_or_doubled_keys_are_refused_without_showing_them(tmp_path: Path) -> None:
    short = "s3cr3t"
    with pytest.raises(PseudonymKeyError, match=f"at least {MIN_KEY_BYTES}") as refused:
        Pseudonyms.from_secret(key=short)
    assert short not in str(refused.value)
    with pytest.raises(PseudonymKeyError, match="not both"):
        Pseudonyms.from_secret(key=KEY.decode(), key_file=str(tmp_path / "key"))
    with pytest.raises(PseudonymKeyError, match="cannot read"):
        Pseudonyms.from_secret(key_file=str(tmp_path / "missing"))


def test_the_key_never_shows_in_its_repr() -> None:
    assert KEY.decode() not in repr(Pseudonyms(KEY)) and "keyed" in repr(Pseudonyms(KEY))
