"""Password hashing: Argon2id at argon2-cffi's default (RFC 9106 low-memory) cost.

Only the first test runs at the default cost; the others lower it through
`passwords.configure` and restore the module's hasher afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from ledger.people import passwords


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hash at a low cost for this test; the default hasher is put back afterwards."""
    monkeypatch.setattr(passwords, "_hasher", passwords._hasher)
    monkeypatch.setattr(passwords, "_dummy_hash", passwords._dummy_hash)
    passwords.configure(memory_cost=1024, time_cost=1)
    yield


def test_the_default_hasher_is_argon2id_with_64_mib_three_passes_and_four_lanes():
    hashed = passwords.hash_password("correct horse battery")
    assert re.fullmatch(
        r"\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}", hashed
    )
    assert not passwords.needs_rehash(hashed)


def test_two_hashes_of_one_password_differ_because_each_has_its_own_salt(cheap_hashing):
    first = passwords.hash_password("correct horse battery")
    second = passwords.hash_password("correct horse battery")
    assert first != second
    assert passwords.verify_password(first, "correct horse battery")
    assert passwords.verify_password(second, "correct horse battery")


def test_verify_password_is_true_for_the_password_and_false_for_any_other(cheap_hashing):
    hashed = passwords.hash_password("correct horse battery")
    assert passwords.verify_password(hashed, "correct horse battery") is True
    assert passwords.verify_password(hashed, "correct horse batterY") is False
    assert passwords.verify_password(hashed, "correct horse battery ") is False
    assert passwords.verify_password(hashed, "") is False


def test_a_missing_hash_never_verifies_not_even_the_dummy_password(cheap_hashing):
    assert passwords.verify_password(None, "correct horse battery") is False
    assert passwords.verify_password(None, "not a password of anyone") is False
    assert passwords.verify_password("", "not a password of anyone") is False


def test_a_damaged_hash_does_not_verify_and_does_not_raise(cheap_hashing):
    hashed = passwords.hash_password("correct horse battery")
    assert passwords.verify_password(hashed[:-4], "correct horse battery") is False
    assert passwords.verify_password("plain text", "plain text") is False


def test_a_hash_made_at_another_cost_still_verifies_and_asks_to_be_rehashed(cheap_hashing):
    cheap = passwords.hash_password("correct horse battery")
    assert "m=1024,t=1,p=1" in cheap
    passwords.configure(memory_cost=2048, time_cost=1)
    assert passwords.verify_password(cheap, "correct horse battery")
    assert passwords.needs_rehash(cheap)
