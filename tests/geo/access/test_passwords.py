"""The password policy (等保2.0 level 2) and the Argon2 hashes."""

from __future__ import annotations

import pytest

from geo.access.passwords import check_password_policy, hash_password, verify_password
from geo.access.users import temporary_password
from geo.errors import InputError


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Ab1!", "too short"),
        ("abcdefgh12", "too simple"),  # two kinds
        ("ABCDEFGH!!", "too simple"),
        ("Zhang.Wei2027", "must not contain the username"),
        ("x" * 129, "too long"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password, reason):
    with pytest.raises(InputError, match=reason):
        check_password_policy("zhang.wei", password)


@pytest.mark.parametrize("password", ["Grid-Walk-2027", "网格巡查Abc1", "abcdef1!", "ABCDEF1!"])
def test_three_kinds_of_eight_characters_pass(password):
    check_password_policy("worker", password)


def test_hashes_are_argon2_salted_and_verified():
    first, second = hash_password("Grid-Walk-2027"), hash_password("Grid-Walk-2027")
    assert first.startswith("$argon2id$") and first != second  # salted
    assert verify_password("Grid-Walk-2027", first)
    assert not verify_password("Grid-Walk-2028", first)
    assert not verify_password("Grid-Walk-2027", None)  # a token-only user has no password


def test_temporary_passwords_meet_the_policy():
    for _ in range(20):
        check_password_policy("worker", temporary_password())
