"""Two-factor codes (RFC 6238): the window, single use, the enrolment flow, and the
secret kept sealed under the keys of a `SecretBox`.

Users here are unsaved `User` objects: the TOTP services only read and set
their attributes, and the caller's unit of work saves them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.core.errors import SecretKeyError
from ledger.core.sealing import SecretBox, new_key
from ledger.people import totp
from ledger.people.errors import InvalidTotpCodeError
from ledger.people.models import User
from ledger.people.service import begin_totp_enrolment, confirm_totp_enrolment, verify_totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
KEY = new_key()
BOX = SecretBox([KEY])
# The middle of a 30-second step, so "30 seconds earlier" is exactly one step back.
NOW = datetime(2026, 6, 15, 12, 0, 15, tzinfo=UTC)
STEP = timedelta(seconds=totp.STEP_SECONDS)


def enrolled(box: SecretBox = BOX) -> User:
    return User(
        totp_secret_sealed=box.seal(SECRET),
        totp_enrolled_at=NOW - timedelta(days=30),
        totp_last_step=None,
    )


def code(offset_steps: int) -> str:
    return totp.code_at(SECRET, NOW + offset_steps * STEP)


def test_the_code_of_the_current_step_is_accepted_and_its_step_is_remembered():
    user = enrolled()
    assert verify_totp(user, code(0), now=NOW, box=BOX) is True
    assert user.totp_last_step == int(NOW.timestamp()) // totp.STEP_SECONDS


@pytest.mark.parametrize("offset", [-1, 1], ids=["one-step-early", "one-step-late"])
def test_a_code_one_step_either_side_is_accepted_for_clock_drift(offset):
    assert verify_totp(enrolled(), code(offset), now=NOW, box=BOX) is True


@pytest.mark.parametrize("offset", [-2, 2], ids=["two-steps-early", "two-steps-late"])
def test_a_code_two_steps_away_is_refused(offset):
    user = enrolled()
    assert code(offset) not in {code(-1), code(0), code(1)}
    assert verify_totp(user, code(offset), now=NOW, box=BOX) is False
    assert user.totp_last_step is None


def test_a_code_accepted_once_is_refused_the_second_time():
    user = enrolled()
    assert verify_totp(user, code(0), now=NOW, box=BOX) is True
    assert verify_totp(user, code(0), now=NOW, box=BOX) is False
    assert verify_totp(user, code(0), now=NOW + timedelta(seconds=10), box=BOX) is False


def test_after_a_code_is_used_an_earlier_steps_code_is_refused_but_the_next_one_works():
    user = enrolled()
    assert verify_totp(user, code(0), now=NOW, box=BOX) is True
    assert verify_totp(user, code(-1), now=NOW, box=BOX) is False
    assert verify_totp(user, code(1), now=NOW + STEP, box=BOX) is True


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "12 34 5x"])
def test_a_code_that_is_not_six_digits_is_refused(typed):
    assert verify_totp(enrolled(), typed, now=NOW, box=BOX) is False


def test_spaces_inside_a_typed_code_are_ignored():
    spaced = code(0)[:3] + " " + code(0)[3:]
    assert verify_totp(enrolled(), spaced, now=NOW, box=BOX) is True


def test_a_user_who_never_enrolled_is_never_verified_even_with_a_pending_secret():
    user = User(totp_secret_sealed=BOX.seal(SECRET), totp_enrolled_at=None)
    assert verify_totp(user, code(0), now=NOW, box=BOX) is False


def test_enrolment_activates_the_pending_secret_only_with_a_right_code():
    user = User(totp_secret_sealed=None, totp_enrolled_at=None, totp_last_step=None)
    secret = begin_totp_enrolment(user, BOX)
    assert len(secret) == 32 and user.totp_secret_sealed is not None
    assert secret not in user.totp_secret_sealed and BOX.open(user.totp_secret_sealed) == secret
    assert not user.totp_enrolled

    wrong = "000000" if totp.code_at(secret, NOW) != "000000" else "111111"
    with pytest.raises(InvalidTotpCodeError) as caught:
        confirm_totp_enrolment(user, wrong, now=NOW, box=BOX)
    assert caught.value.code == "invalid_totp_code"
    assert not user.totp_enrolled

    right = totp.code_at(secret, NOW)
    confirm_totp_enrolment(user, right, now=NOW, box=BOX)
    assert user.totp_enrolled and user.totp_enrolled_at == NOW
    # The code that confirmed enrolment cannot be replayed to sign in.
    assert verify_totp(user, right, now=NOW, box=BOX) is False
    assert verify_totp(user, totp.code_at(secret, NOW + STEP), now=NOW + STEP, box=BOX) is True


def test_starting_enrolment_again_replaces_a_pending_secret():
    user = User(totp_secret_sealed=None, totp_enrolled_at=None)
    first = begin_totp_enrolment(user, BOX)
    second = begin_totp_enrolment(user, BOX)
    assert first != second and BOX.open(user.totp_secret_sealed or "") == second
    with pytest.raises(InvalidTotpCodeError):
        confirm_totp_enrolment(user, totp.code_at(first, NOW), now=NOW, box=BOX)


def test_an_enrolled_user_cannot_restart_or_reconfirm_enrolment():
    user = enrolled()
    with pytest.raises(InvalidTotpCodeError):
        begin_totp_enrolment(user, BOX)
    with pytest.raises(InvalidTotpCodeError):
        confirm_totp_enrolment(user, code(0), now=NOW, box=BOX)
    assert BOX.open(user.totp_secret_sealed or "") == SECRET


def test_confirming_without_a_pending_secret_is_refused():
    with pytest.raises(InvalidTotpCodeError):
        confirm_totp_enrolment(
            User(totp_secret_sealed=None, totp_enrolled_at=None), "123456", now=NOW, box=BOX
        )


def test_the_provisioning_uri_names_the_issuer_and_the_account():
    uri = totp.provisioning_uri(SECRET, "anna@example.it")
    assert uri.startswith("otpauth://totp/")
    assert f"secret={SECRET}" in uri and "anna%40example.it" in uri
    assert "issuer=Registro%20comunitario" in uri


# ------------------------------------------------------------------ the secret at rest
def test_the_same_secret_sealed_twice_gives_two_tokens_neither_holding_it():
    first, second = BOX.seal(SECRET), BOX.seal(SECRET)
    assert first != second
    assert SECRET not in first and SECRET not in second
    assert BOX.open(first) == BOX.open(second) == SECRET


def test_a_box_with_other_keys_cannot_open_a_secret_so_cannot_verify_its_codes():
    user = enrolled()
    stranger = SecretBox([new_key()])
    with pytest.raises(SecretKeyError) as refused:
        verify_totp(user, code(0), now=NOW, box=stranger)
    assert refused.value.code == "secret_key_mismatch"
    assert user.totp_last_step is None  # nothing used up


def test_a_secret_under_the_second_key_verifies_and_is_sealed_again_under_the_first():
    user = enrolled(SecretBox([KEY]))
    rotated = SecretBox([new_key(), KEY])
    assert not rotated.is_current(user.totp_secret_sealed or "")
    assert verify_totp(user, code(0), now=NOW, box=rotated) is True
    assert rotated.is_current(user.totp_secret_sealed or "")
    with pytest.raises(SecretKeyError):  # the old key alone no longer opens it
        BOX.open(user.totp_secret_sealed or "")


def test_a_secret_left_in_clear_by_the_migration_verifies_and_is_sealed_at_that_use():
    user = User(
        totp_secret_clear=SECRET, totp_enrolled_at=NOW - timedelta(days=30), totp_last_step=None
    )
    assert verify_totp(user, code(0), now=NOW, box=BOX) is True
    assert user.totp_secret_clear is None
    assert BOX.open(user.totp_secret_sealed or "") == SECRET


@pytest.mark.parametrize(
    "keys",
    ["", " , ", "not-a-key", f"{KEY},short", KEY[:-2]],
    # Named by position: KEY is random per process, and xdist workers must collect one list.
    ids=["empty", "commas", "not-a-key", "a-key-and-a-short-one", "a-truncated-key"],
)
def test_a_setting_that_is_not_a_list_of_keys_is_refused_without_echoing_it(keys):
    with pytest.raises(ValueError) as refused:
        SecretBox.from_setting(keys)
    assert "not-a-key" not in str(refused.value) and KEY not in str(refused.value)
