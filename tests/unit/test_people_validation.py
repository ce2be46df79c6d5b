"""What people may type: e-mail addresses, codici fiscali, passwords and roles.

These are the checks `create_user` runs before anything is written, tested on
their own (no database).
"""

from __future__ import annotations

import pytest

from ledger.people import passwords
from ledger.people.errors import InvalidPersonError, WeakPasswordError
from ledger.people.models import ROLES, User, UserRole
from ledger.people.service import (
    check_password,
    check_roles,
    normalise_codice_fiscale,
    normalise_email,
    set_roles,
)


# --------------------------------------------------------------------------- codice fiscale
def test_a_valid_codice_fiscale_is_accepted_as_it_is():
    assert normalise_codice_fiscale("RSSMRA85T10A562S") == "RSSMRA85T10A562S"


def test_a_codice_fiscale_typed_in_lower_case_with_spaces_is_stored_compact_and_upper_case():
    assert normalise_codice_fiscale("  rss mra 85t10 a562s ") == "RSSMRA85T10A562S"


@pytest.mark.parametrize(
    "value",
    ["RSSMRA85T10A562T", "RSSMRA85T10A562", "RSSMRA85T10A562SX", "1234567890123456"],
    ids=["wrong-check-character", "too-short", "too-long", "digits"],
)
def test_a_codice_fiscale_with_a_wrong_check_character_or_shape_is_refused(value):
    with pytest.raises(InvalidPersonError) as caught:
        normalise_codice_fiscale(value)
    assert caught.value.code == "invalid_person"
    assert caught.value.details == {"field": "codice_fiscale"}


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_blank_codice_fiscale_means_none_was_given(blank):
    assert normalise_codice_fiscale(blank) is None


# --------------------------------------------------------------------------- e-mail
@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("anna.rossi@example.it", "anna.rossi@example.it"),
        ("  Anna.Rossi@Example.IT ", "anna.rossi@example.it"),
        ("MARIO+welfare@comune.torino.it", "mario+welfare@comune.torino.it"),
    ],
)
def test_an_email_address_is_trimmed_and_lower_cased(typed, stored):
    assert normalise_email(typed) == stored


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "anna",
        "anna@",
        "@example.it",
        "anna@example",
        "anna rossi@example.it",
        "anna@@example.it",
        "a" * 65 + "@example.it",
        "anna@" + "d" * 250 + ".it",
    ],
)
def test_what_is_not_shaped_like_an_email_address_is_refused(typed):
    with pytest.raises(InvalidPersonError) as caught:
        normalise_email(typed)
    assert caught.value.details["field"] == "email"


# --------------------------------------------------------------------------- passwords
def test_a_password_of_exactly_the_minimum_length_is_accepted():
    check_password("x" * passwords.MIN_PASSWORD_LENGTH)


def test_a_password_one_character_short_is_refused_naming_the_minimum():
    with pytest.raises(WeakPasswordError) as caught:
        check_password("x" * (passwords.MIN_PASSWORD_LENGTH - 1))
    assert caught.value.code == "weak_password"
    assert caught.value.details["min_length"] == passwords.MIN_PASSWORD_LENGTH == 10


def test_a_password_of_the_maximum_length_is_accepted_and_one_more_character_is_refused():
    check_password("x" * passwords.MAX_PASSWORD_LENGTH)
    with pytest.raises(WeakPasswordError):
        check_password("x" * (passwords.MAX_PASSWORD_LENGTH + 1))


def test_length_counts_characters_not_bytes():
    check_password("àèìòù€ßçñø")


# --------------------------------------------------------------------------- roles
def test_known_roles_are_accepted_as_a_set():
    assert check_roles(["treasurer", "admin", "admin"]) == frozenset({"treasurer", "admin"})
    assert check_roles(ROLES) == frozenset(ROLES)


def test_an_unknown_role_is_refused_and_named():
    with pytest.raises(InvalidPersonError) as caught:
        check_roles(["donor", "superuser", "Admin"])
    assert caught.value.details == {"field": "roles", "unknown": ["Admin", "superuser"]}


def test_a_user_needs_at_least_one_role():
    with pytest.raises(InvalidPersonError) as caught:
        check_roles([])
    assert caught.value.details == {"field": "roles"}


def test_set_roles_keeps_the_rows_of_roles_that_stay_and_adds_the_new_ones():
    user = User(role_rows=[UserRole(role="donor"), UserRole(role="reviewer")])
    donor_row = user.role_rows[0]
    assert set_roles(user, ["donor", "treasurer"]) == frozenset({"donor", "treasurer"})
    assert user.roles == frozenset({"donor", "treasurer"})
    assert donor_row in user.role_rows


def test_set_roles_refuses_an_empty_or_unknown_set_and_changes_nothing():
    user = User(role_rows=[UserRole(role="donor")])
    with pytest.raises(InvalidPersonError):
        set_roles(user, [])
    with pytest.raises(InvalidPersonError):
        set_roles(user, ["root"])
    assert user.roles == frozenset({"donor"})
