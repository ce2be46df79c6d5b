"""People, users and API tokens stored and read back on SQLite and PostgreSQL.

Passwords are hashed at a low Argon2 cost here (restored afterwards); the
default cost is checked in tests/unit/test_people_passwords.py.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.core.migrate import downgrade, upgrade
from ledger.core.service import Ledger
from ledger.core.storage import make_engine
from ledger.people.errors import (
    EmailTakenError,
    InvalidPersonError,
    TokenNotFoundError,
    WeakPasswordError,
)
from ledger.people.models import ApiToken, Person, User, UserRole
from ledger.people.service import (
    TOKEN_PREFIX,
    NewPerson,
    authenticate,
    create_user,
    deactivate_user,
    find_user_by_email,
    issue_token,
    list_tokens,
    revoke_token,
    set_roles,
    user_for_token,
)
from tests.integration.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def counts(ledger: Ledger) -> dict[str, int]:
    def read(session: Session) -> dict[str, int]:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Person, User, UserRole, ApiToken)
        }

    return ledger.read(read)


def add_user(
    ledger: Ledger,
    email: str = "Anna.Rossi@Example.it",
    *,
    roles: tuple[str, ...] = ("treasurer", "admin"),
    password: str | None = PASSWORD,
    codice_fiscale: str | None = "rss mra 85t10 a562s",
) -> int:
    person = NewPerson(email, "  Anna   Rossi ", codice_fiscale, address=" Via Roma 1, Torino ")
    return ledger.run(
        lambda s: create_user(s, person, roles=roles, password=password, now=ledger.clock.now()).id
    )


# --------------------------------------------------------------------------- users
def test_a_user_is_stored_with_a_normalised_person_roles_and_an_argon2id_hash(ledger, clock):
    user_id = add_user(ledger)

    def read(session: Session) -> dict:
        user = session.get(User, user_id)
        assert user is not None
        return {
            "email": user.email,
            "name": user.person.full_name,
            "cf": user.person.codice_fiscale,
            "address": user.person.address,
            "roles": user.roles,
            "hash": user.password_hash,
            "changed": user.password_changed_at,
            "active": user.active,
            "locale": user.locale,
            "totp": user.totp_enrolled,
            "created": user.created_at,
        }

    stored = ledger.read(read)
    assert stored["hash"].startswith("$argon2id$")
    assert PASSWORD not in stored["hash"]
    del stored["hash"]
    assert stored == {
        "email": "anna.rossi@example.it",
        "name": "Anna Rossi",
        "cf": "RSSMRA85T10A562S",
        "address": "Via Roma 1, Torino",
        "roles": frozenset({"admin", "treasurer"}),
        "changed": clock.now(),
        "active": True,
        "locale": "it",
        "totp": False,
        "created": clock.now(),
    }
    assert counts(ledger) == {"persons": 1, "users": 1, "user_roles": 2, "api_tokens": 0}


def test_the_right_password_signs_in_with_any_case_of_the_email_and_a_wrong_one_does_not(ledger):
    user_id = add_user(ledger)

    def signs_in(email: str, password: str) -> int | None:
        def work(session: Session) -> int | None:
            user = authenticate(session, email, password)
            return None if user is None else user.id

        return ledger.run(work)

    assert signs_in("anna.rossi@example.it", PASSWORD) == user_id
    assert signs_in("  ANNA.ROSSI@EXAMPLE.IT ", PASSWORD) == user_id
    assert signs_in("anna.rossi@example.it", PASSWORD.upper()) is None
    assert signs_in("nobody@example.it", PASSWORD) is None


def test_a_user_created_without_a_password_cannot_sign_in_yet(ledger):
    add_user(ledger, password=None)
    assert ledger.run(lambda s: authenticate(s, "anna.rossi@example.it", "")) is None
    assert ledger.run(lambda s: authenticate(s, "anna.rossi@example.it", PASSWORD)) is None


@pytest.mark.parametrize(
    "other_case", ["anna.rossi@example.it", "ANNA.ROSSI@EXAMPLE.IT", " Anna.Rossi@example.IT "]
)
def test_a_second_user_with_the_same_email_in_any_case_is_refused_and_nothing_is_written(
    ledger, other_case
):
    add_user(ledger)
    before = counts(ledger)
    with pytest.raises(EmailTakenError) as caught:
        add_user(ledger, other_case, roles=("donor",), codice_fiscale=None)
    assert caught.value.code == "email_taken" and caught.value.http_status == 409
    assert counts(ledger) == before


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"email": "not-an-address"}, InvalidPersonError),
        ({"codice_fiscale": "RSSMRA85T10A562T"}, InvalidPersonError),
        ({"roles": ("donor", "root")}, InvalidPersonError),
        ({"roles": ()}, InvalidPersonError),
        ({"password": "short"}, WeakPasswordError),
    ],
    ids=["email", "codice-fiscale", "unknown-role", "no-role", "weak-password"],
)
def test_a_refused_user_leaves_no_trace(ledger, change, error):
    with pytest.raises(error):
        add_user(ledger, **change)
    assert counts(ledger) == {"persons": 0, "users": 0, "user_roles": 0, "api_tokens": 0}


def test_the_database_itself_refuses_a_second_person_with_the_same_email(ledger):
    add_user(ledger)
    with pytest.raises(IntegrityError), ledger.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO persons (full_name, email, created_at) "
                "VALUES ('Altra Anna', 'anna.rossi@example.it', CURRENT_TIMESTAMP)"
            )
        )
    assert counts(ledger)["persons"] == 1


def test_roles_are_replaced_keeping_those_that_stay(ledger):
    user_id = add_user(ledger, roles=("donor", "reviewer"))

    def change(session: Session) -> frozenset[str]:
        user = session.get(User, user_id)
        assert user is not None
        return set_roles(user, ["reviewer", "treasurer"])

    assert ledger.run(change) == frozenset({"reviewer", "treasurer"})
    stored = ledger.read(lambda s: sorted(s.scalars(select(UserRole.role))))
    assert stored == ["reviewer", "treasurer"]


def test_a_deactivated_user_can_no_longer_sign_in_nor_use_a_token(ledger):
    user_id = add_user(ledger)
    token = ledger.run(
        lambda s: issue_token(s, s.get(User, user_id), "ci", now=ledger.clock.now())[0]
    )

    def deactivate(session: Session) -> int | None:
        user = session.get(User, user_id)
        assert user is not None
        return deactivate_user(session, user, now=ledger.clock.now())

    assert ledger.run(deactivate) == 1
    assert ledger.run(deactivate) is None
    assert ledger.run(lambda s: authenticate(s, "anna.rossi@example.it", PASSWORD)) is None
    assert ledger.read(lambda s: user_for_token(s, token, now=ledger.clock.now())) is None


# --------------------------------------------------------------------------- tokens
def issue(ledger: Ledger, user_id: int, name: str = "ci") -> tuple[str, int]:
    def work(session: Session) -> tuple[str, int]:
        user = session.get(User, user_id)
        assert user is not None
        token, row = issue_token(session, user, name, now=ledger.clock.now())
        return token, row.id

    return ledger.run(work)


def token_row(ledger: Ledger, token_id: int) -> dict:
    def read(session: Session) -> dict:
        row = session.get(ApiToken, token_id)
        assert row is not None
        return {c.name: getattr(row, c.key) for c in ApiToken.__table__.columns}

    return ledger.read(read)


def test_a_token_is_stored_as_its_sha256_hash_and_never_in_clear(ledger, clock):
    user_id = add_user(ledger)
    token, token_id = issue(ledger, user_id, "  contabilità   notturna ")

    row = token_row(ledger, token_id)
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40
    assert row == {
        "id": token_id,
        "user_id": user_id,
        "name": "contabilità notturna",
        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
        "prefix": token[:12],
        "created_at": clock.now(),
        "revoked_at": None,
        "scopes": "read",
        "expires_at": clock.now() + timedelta(days=90),
        "last_used_at": None,
        "last_used_from": None,
    }
    assert all(token not in str(value) for value in row.values())


def test_a_live_token_finds_its_user_and_anything_else_finds_nobody(ledger):
    user_id = add_user(ledger)
    token, token_id = issue(ledger, user_id)

    def who(candidate: str) -> tuple[int, int] | None:
        def read(session: Session) -> tuple[int, int] | None:
            found = user_for_token(session, candidate, now=ledger.clock.now())
            return None if found is None else (found[0].id, found[1].id)

        return ledger.read(read)

    assert who(token) == (user_id, token_id)
    assert who(token[:-1]) is None
    assert who(token + "x") is None
    assert who(token[len(TOKEN_PREFIX) :]) is None
    assert who(hashlib.sha256(token.encode()).hexdigest()) is None
    assert who(TOKEN_PREFIX + "x" * 300) is None


def test_tokens_are_distinct_and_listed_per_user(ledger):
    anna = add_user(ledger)
    bruno = add_user(ledger, "bruno@example.it", roles=("donor",), codice_fiscale=None)
    first, _ = issue(ledger, anna, "one")
    second, _ = issue(ledger, anna, "two")
    issue(ledger, bruno, "three")
    assert first != second

    def names(owner_email: str | None) -> list[str]:
        def read(session: Session) -> list[str]:
            owner = find_user_by_email(session, owner_email) if owner_email else None
            return [t.name for t in list_tokens(session, owner)]

        return ledger.read(read)

    assert names("anna.rossi@example.it") == ["one", "two"]
    assert names("bruno@example.it") == ["three"]
    assert names(None) == ["one", "two", "three"]


def test_a_revoked_token_no_longer_works_and_revoking_again_keeps_the_first_time(ledger, clock):
    user_id = add_user(ledger)
    token, token_id = issue(ledger, user_id)
    other, _ = issue(ledger, user_id, "other")
    revoked_at = clock.now()

    ledger.run(lambda s: revoke_token(s, token_id, now=revoked_at))
    clock.instant += timedelta(hours=1)
    ledger.run(lambda s: revoke_token(s, token_id, now=clock.now()))

    assert token_row(ledger, token_id)["revoked_at"] == revoked_at
    assert ledger.read(lambda s: user_for_token(s, token, now=ledger.clock.now())) is None
    assert ledger.read(lambda s: user_for_token(s, other, now=ledger.clock.now())) is not None


def test_revoking_a_token_that_does_not_exist_is_refused(ledger):
    with pytest.raises(TokenNotFoundError) as caught:
        ledger.run(lambda s: revoke_token(s, 404, now=ledger.clock.now()))
    assert caught.value.code == "token_not_found" and caught.value.http_status == 404


def test_a_token_name_longer_than_100_characters_is_refused(ledger):
    user_id = add_user(ledger)
    with pytest.raises(InvalidPersonError):
        issue(ledger, user_id, "x" * 101)
    assert counts(ledger)["api_tokens"] == 0


def test_a_token_finds_nobody_from_the_instant_it_expires(ledger, clock):
    user_id = add_user(ledger)

    def work(session: Session) -> str:
        user = session.get(User, user_id)
        return issue_token(session, user, "breve", now=clock.now(), days=1)[0]

    token = ledger.run(work)
    end = clock.now() + timedelta(days=1)
    at = lambda when: ledger.read(lambda s: user_for_token(s, token, now=when))  # noqa: E731
    assert at(end - timedelta(microseconds=1)) is not None
    assert at(end) is None


@pytest.mark.parametrize(
    ("scopes", "days"), [((), 90), (("write",), 90), (("read",), 0), (("read",), 367)]
)
def test_a_token_without_a_known_scope_or_with_a_lifetime_out_of_bounds_is_refused(
    ledger, scopes, days
):
    user_id = add_user(ledger)

    def work(session: Session) -> None:
        user = session.get(User, user_id)
        issue_token(session, user, "x", now=ledger.clock.now(), scopes=scopes, days=days)

    with pytest.raises(InvalidPersonError):
        ledger.run(work)
    assert counts(ledger)["api_tokens"] == 0


def test_tokens_issued_before_scopes_existed_keep_working_with_both_scopes_for_90_days(db_url):
    downgrade(db_url, "0007_command_requests")
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO persons (id, full_name, email, created_at) "
                    "VALUES (1, 'Anna Rossi', 'anna@example.it', :now)"
                ),
                {"now": "2026-01-05 10:00:00"},
            )
            connection.execute(
                text(
                    "INSERT INTO users (id, person_id, active, locale, session_epoch, created_at) "
                    "VALUES (1, 1, true, 'it', 0, :now)"
                ),
                {"now": "2026-01-05 10:00:00"},
            )
            connection.execute(
                text(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at) "
                    "VALUES (1, 1, 'vecchio', :hash, 'clt_vecchio', :now)"
                ),
                {"hash": "0" * 64, "now": "2026-01-05 10:00:00"},
            )
        before = datetime.now(UTC)
        upgrade(db_url)
        after = datetime.now(UTC)
    finally:
        engine.dispose()

    book = Ledger.from_url(db_url)
    try:
        row = token_row(book, 1)
        assert row["scopes"] == "money read"
        assert before + timedelta(days=90) - timedelta(seconds=1) <= row["expires_at"]
        assert row["expires_at"] <= after + timedelta(days=90)
        assert (row["last_used_at"], row["last_used_from"]) == (None, None)
    finally:
        book.engine.dispose()
