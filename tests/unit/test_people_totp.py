"""Two-factor codes (RFC 6238): the window, single use, and the enrolment flow.

Users here are unsaved `User` objects: the TOTP services only read and set
their attributes, and the caller's unit of work saves them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.people import totp
from ledger.people.errors import InvalidTotpCodeError
from ledger.people.models import User
from ledger.people.service import begin_totp_enrolment, confirm_totp_enrolment, verify_totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# The middle of a 30-second step, so "30 seconds earlier" is exactly one step back.
NOW = datetime(2026, 6, 15, 12, 0, 15, tzinfo=UTC)
STEP = timedelta(seconds=totp.STEP_SECONDS)


def enrolled() -> User:
    return User(totp_secret=SECRET, totp_enrolled_at=NOW - timedelta(days=30), totp_last_step=None)


def code(offset_steps: int) -> str:
    return totp.code_at(SECRET, NOW + offset_steps * STEP)


def test_the_code_of_the_current_step_is_accepted_and_its_step_is_remembered():
    user = enrolled()
    assert verify_totp(user, code(0), now=NOW) is True
    assert user.totp_last_step == int(NOW.timestamp()) // totp.STEP_SECONDS


@pytest.mark.parametrize("offset", [-1, 1], ids=["one-step-early", "one-step-late"])
def test_a_code_one_step_either_side_is_accepted_for_clock_drift(offset):
    assert verify_totp(enrolled(), code(offset), now=NOW) is True


@pytest.mark.parametrize("offset", [-2, 2], ids=["two-steps-early", "two-steps-late"])
def test_a_code_two_steps_away_is_refused(offset):
    user = enrolled()
    assert code(offset) not in {code(-1), code(0), code(1)}
    assert verify_totp(user, code(offset), now=NOW) is False
    assert user.totp_last_step is None


def test_a_code_accepted_once_is_refused_the_second_time():
    user = enrolled()
    assert verify_totp(user, code(0), now=NOW) is True
    assert verify_totp(user, code(0), now=NOW) is False
    assert verify_totp(user, code(0), now=NOW + timedelta(seconds=10)) is False


def test_after_a_code_is_used_an_earlier_steps_code_is_refused_but_the_next_one_works():
    user = enrolled()
    assert verify_totp(user, code(0), now=NOW) is True
    assert verify_totp(user, code(-1), now=NOW) is False
    assert verify_totp(user, code(1), now=NOW + STEP) is True


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_a_code_that_is_not_six_digits_is_refused(typed):
    assert verify_totp(enrolled(), typed, now=NOW) is False


def test_spaces_inside_a_typed_code_are_ignored():
    spaced = code(0)[:3] + " " + code(0)[3:]
    assert verify_totp(enrolled(), spaced, now=NOW) is True


def test_a_user_who_never_enrolled_is_never_verified_even_with_a_pending_secret():
    user = User(totp_secret=SECRET, totp_enrolled_at=None)
    assert verify_totp(user, code(0), now=NOW) is False


def test_enrolment_activates_the_pending_secret_only_with_a_right_code():
    user = User(totp_secret=None, totp_enrolled_at=None, totp_last_step=None)
    secret = begin_totp_enrolment(user)
    assert user.totp_secret == secret and len(secret) == 32
    assert not user.totp_enrolled

    wrong = "000000" if totp.code_at(secret, NOW) != "000000" else "111111"
    with pytest.raises(InvalidTotpCodeError) as caught:
        confirm_totp_enrolment(user, wrong, now=NOW)
    assert caught.value.code == "invalid_totp_code"
    assert not user.totp_enrolled

    right = totp.code_at(secret, NOW)
    confirm_totp_enrolment(user, right, now=NOW)
    assert user.totp_enrolled and user.totp_enrolled_at == NOW
    # The code that confirmed enrolment cannot be replayed to sign in.
    assert verify_totp(user, right, now=NOW) is False
    assert verify_totp(user, totp.code_at(secret, NOW + STEP), now=NOW + STEP) is True


def test_starting_enrolment_again_replaces_a_pending_secret():
    user = User(totp_secret=None, totp_enrolled_at=None)
    first = begin_totp_enrolment(user)
    second = begin_totp_enrolment(user)
    assert first != second and user.totp_secret == second
    with pytest.raises(InvalidTotpCodeError):
        confirm_totp_enrolment(user, totp.code_at(first, NOW), now=NOW)


def test_an_enrolled_user_cannot_restart_or_reconfirm_enrolment():
    user = enrolled()
    with pytest.raises(InvalidTotpCodeError):
        begin_totp_enrolment(user)
    with pytest.raises(InvalidTotpCodeError):
        confirm_totp_enrolment(user, code(0), now=NOW)
    assert user.totp_secret == SECRET


def test_confirming_without_a_pending_secret_is_refused():
    with pytest.raises(InvalidTotpCodeError):
        confirm_totp_enrolment(User(totp_secret=None, totp_enrolled_at=None), "123456", now=NOW)


def test_the_provisioning_uri_names_the_issuer_and_the_account():
    uri = totp.provisioning_uri(SECRET, "anna@example.it")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={SECRET}" in uri and "anna%40example.it" in uri
    assert "issuer=Registro%20comunitario" in uri
