"""Passwords: the policy they must meet and their Argon2 hashes (pwdlib).

The policy follows 等保2.0 (GB/T 22239) level 2: at least 8 characters of at least 3 kinds
(lower case, upper case, digits, other characters), and not containing the username.
"""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from geo.errors import InputError

MIN_LENGTH = 8
MAX_LENGTH = 128  # Argon2 takes any length; this bounds the work a request can ask for
MIN_KINDS = 3


@lru_cache
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


def _kinds(password: str) -> int:
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def check_password_policy(username: str, password: str) -> None:
    """Raise :class:`InputError` saying what to change when ``password`` is too weak."""
    if len(password) < MIN_LENGTH:
        raise InputError(f"The password is too short: use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InputError(f"The password is too long: use at most {MAX_LENGTH} characters")
    if _kinds(password) < MIN_KINDS:
        raise InputError(
            "The password is too simple: mix at least 3 of lower-case letters, upper-case letters, digits and symbols"
        )
    if username and username.lower() in password.lower():
        raise InputError("The password must not contain the username")


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches; no hash (a token-only user) never matches."""
    if password_hash is None or len(password) > MAX_LENGTH:
        return False
    return _hasher().verify(password, password_hash)


def dummy_verify() -> None:
    """Spend the time a real check takes, so an unknown username answers no faster than a
    wrong password (no account enumeration by timing)."""
    _hasher().verify("x", _dummy_hash())


@lru_cache
def _dummy_hash() -> str:
    return hash_password("wangge-no-such-user")
