"""Keyed pseudonyms of user ids (HMAC-SHA-256), applied where events enter the service.

With a key, the worker replaces every event's ``user_id`` by its pseudonym before
anything is read from or written to Redis or published, so Redis keys, histories,
recommendations, shifts and metrics only ever hold the pseudonym. Whoever knows
the key (the read client, ``interests user`` and ``interests forget``) hashes a
raw id the same way to find the user; without the key a pseudonym cannot be
turned back into the id, nor can an id be checked against it (unlike a plain
hash, which anyone can compute for a guessed id).

Without a key the id passes through unchanged (the default).
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

MIN_KEY_BYTES = 16
"""Shorter keys are refused: an HMAC key is as strong as it is long (128 bits at least)."""

PSEUDONYM_HEX = 32
"""Hex digits kept of the HMAC (128 bits): collisions are negligible below ~10^18 users,
and every Redis key and output message of a user carries it."""


class PseudonymKeyError(ValueError):
    """The key is missing, unreadable or too short; the message never contains it."""


class Pseudonyms:
    """Maps a raw user id to its pseudonym, or to itself when no key is set.

    >>> Pseudonyms(None)("u42")
    'u42'
    >>> Pseudonyms(b"0123456789abcdef")("u42")
    '6991c84fcc5c109a790d76af983074a4'
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) < MIN_KEY_BYTES:
            raise PseudonymKeyError(
                f"the user id key has {len(key)} bytes; at least {MIN_KEY_BYTES} are needed"
            )
        self._key = key

    @classmethod
    def from_secret(cls, key: str = "", key_file: str = "") -> Pseudonyms:
        """From a key given as text or as a file (its bytes, less one trailing newline);
        neither: ids pass through. Both at once is refused (which one would win?)."""
        if key and key_file:
            raise PseudonymKeyError("give the user id key as text or as a file, not both")
        if key_file:
            try:
                raw = Path(key_file).read_bytes()
            except OSError as exc:
                raise PseudonymKeyError(
                    f"cannot read the user id key file {key_file}: {exc.strerror}"
                ) from None
            return cls(raw.removesuffix(b"\n").removesuffix(b"\r"))
        return cls(key.encode() if key else None)

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def __call__(self, user_id: str) -> str:
        if self._key is None:
            return user_id
        digest = hmac.new(self._key, user_id.encode(), hashlib.sha256).hexdigest()
        return digest[:PSEUDONYM_HEX]

    def __repr__(self) -> str:  # never the key
        return f"Pseudonyms({'keyed' if self.enabled else 'off'})"
