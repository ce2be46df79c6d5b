"""`ledger users` and `ledger tokens`, run as an operator would, on SQLite and PostgreSQL.

Each command is driven through click's CliRunner against a fresh migrated
database; the tests check what it prints, what the database holds afterwards
and the audit event written in the same transaction. Passwords are hashed at a
low Argon2 cost here (restored afterwards).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.core.service import Ledger
from ledger.people.models import ApiToken, Person, User, UserRole
from ledger.people.service import authenticate, find_user_by_email, user_for_token
from tests.integration.conftest import HOST, PASSWORD, audit_log

pytestmark = pytest.mark.usefixtures("cheap_hashing")


def counts(book: Ledger) -> dict[str, int]:
    def read(session: Session) -> dict[str, int]:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Person, User, UserRole, ApiToken, AuditEvent)
        }

    return book.read(read)


NOTHING = {"persons": 0, "users": 0, "user_roles": 0, "api_tokens": 0, "audit_events": 0}


def signs_in(book: Ledger, email: str, password: str) -> int | None:
    def work(session: Session) -> int | None:
        user = authenticate(session, email, password)
        return None if user is None else user.id

    return book.run(work)


def user_fields(book: Ledger, email: str) -> dict:
    def read(session: Session) -> dict:
        user = find_user_by_email(session, email)
        assert user is not None
        return {
            "id": user.id,
            "name": user.person.full_name,
            "cf": user.person.codice_fiscale,
            "roles": sorted(user.roles),
            "has_password": user.password_hash is not None,
            "active": user.active,
        }

    return book.read(read)


def create_anna(run, *roles: str) -> Result:  # type: ignore[no-untyped-def]
    role_args = [arg for role in roles or ("treasurer",) for arg in ("--role", role)]
    result = run(
        "users", "create", "Anna.Rossi@example.it", *role_args, "--password-stdin", input=PASSWORD
    )
    assert result.exit_code == 0, result.output
    return result


def token_of(result: Result) -> str:
    return result.stdout.splitlines()[-1]


# --------------------------------------------------------------------------- users create
def test_a_user_created_with_a_password_on_stdin_can_sign_in_and_the_password_is_never_printed(
    run, book
):
    result = run(
        "users",
        "create",
        "Anna.Rossi@Example.it",
        "--role",
        "treasurer",
        "--role",
        "admin",
        "--name",
        "Anna Rossi",
        "--codice-fiscale",
        "rss mra 85t10 a562s",
        "--password-stdin",
        input=PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "created user 1 (anna.rossi@example.it) with roles: admin, treasurer"
    ]
    assert PASSWORD not in result.output
    assert signs_in(book, "anna.rossi@example.it", PASSWORD) == 1
    assert signs_in(book, "anna.rossi@example.it", PASSWORD + "\n") is None
    assert user_fields(book, "anna.rossi@example.it") == {
        "id": 1,
        "name": "Anna Rossi",
        "cf": "RSSMRA85T10A562S",
        "roles": ["admin", "treasurer"],
        "has_password": True,
        "active": True,
    }
    assert audit_log(book) == [
        {
            "action": "user.create",
            "channel": "cli",
            "actor": None,
            "source": HOST,
            "subject": ("user", "1"),
            "details": {"roles": ["admin", "treasurer"], "password_set": True},
        }
    ]


def test_only_the_trailing_newline_is_taken_off_the_password_read_from_stdin(run, book):
    spaced = "  spazi  attorno  "
    result = run(
        "users",
        "create",
        "anna@example.it",
        "--role",
        "donor",
        "--password-stdin",
        input=spaced + "\n" + "second line is ignored\n",
    )
    assert result.exit_code == 0, result.output
    assert signs_in(book, "anna@example.it", spaced) == 1
    assert signs_in(book, "anna@example.it", spaced.strip()) is None


def test_a_windows_line_ending_after_the_password_is_taken_off_too(run, book):
    result = run(
        "users",
        "create",
        "anna@example.it",
        "--role",
        "donor",
        "--password-stdin",
        input=PASSWORD + "\r\n",
    )
    assert result.exit_code == 0, result.output
    assert signs_in(book, "anna@example.it", PASSWORD) == 1


def test_without_password_stdin_the_user_has_no_password_and_the_name_is_the_local_part(run, book):
    result = run("users", "create", "mario.bianchi@example.it", "--role", "donor")
    assert result.exit_code == 0, result.output
    assert "no password yet" in result.stdout
    assert user_fields(book, "mario.bianchi@example.it") == {
        "id": 1,
        "name": "mario.bianchi",
        "cf": None,
        "roles": ["donor"],
        "has_password": False,
        "active": True,
    }
    assert audit_log(book)[0]["details"] == {"roles": ["donor"], "password_set": False}


def test_an_unknown_role_is_refused_and_nothing_is_written(run, book):
    result = run(
        "users",
        "create",
        "anna@example.it",
        "--role",
        "donor",
        "--role",
        "superuser",
        "--password-stdin",
        input=PASSWORD,
    )
    assert result.exit_code != 0
    assert "superuser" in result.stderr and "Traceback" not in result.output
    assert counts(book) == NOTHING


@pytest.mark.parametrize(
    ("args", "stdin", "code"),
    [
        (["--role", "donor", "--password-stdin"], "short\n", "weak_password"),
        (["--role", "donor", "--password-stdin"], "", "weak_password"),
        (["--role", "donor", "--codice-fiscale", "RSSMRA85T10A562T"], None, "invalid_person"),
        (["--role", "donor", "--name", "   "], None, "invalid_person"),
    ],
    ids=["short-password", "empty-stdin", "codice-fiscale", "blank-name"],
)
def test_a_refused_user_exits_1_with_a_stable_code_and_writes_nothing(run, book, args, stdin, code):
    result = run("users", "create", "anna@example.it", *args, input=stdin)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {code}: ")
    assert counts(book) == NOTHING


def test_an_invalid_email_is_refused_with_a_stable_code(run, book):
    result = run("users", "create", "anna-at-example.it", "--role", "donor")
    assert result.exit_code == 1 and "invalid_person" in result.stderr
    assert counts(book) == NOTHING


def test_a_second_user_with_the_same_email_in_another_case_is_refused(run, book):
    create_anna(run)
    before = counts(book)
    result = run("users", "create", "ANNA.ROSSI@EXAMPLE.IT", "--role", "donor")
    assert result.exit_code == 1 and "email_taken" in result.stderr
    assert counts(book) == before


def test_a_role_is_required(run, book):
    result = run("users", "create", "anna@example.it")
    assert result.exit_code == 2 and "--role" in result.stderr
    assert counts(book) == NOTHING


# --------------------------------------------------------------------------- users list, roles
def test_users_list_shows_roles_two_factor_and_whether_active(run, book):
    assert "no users yet" in run("users", "list").stdout
    create_anna(run, "admin", "treasurer")
    run("users", "create", "bruno@example.it", "--role", "donor")
    run("users", "deactivate", "bruno@example.it")

    table = run("users", "list")
    assert table.exit_code == 0
    header, anna, bruno = table.stdout.splitlines()
    assert header.split() == ["id", "email", "roles", "2fa", "active"]
    assert anna.split() == ["1", "anna.rossi@example.it", "admin,", "treasurer", "no", "yes"]
    assert bruno.split() == ["2", "bruno@example.it", "donor", "no", "no"]
    assert json.loads(run("users", "list", "--format", "json").stdout) == [
        {
            "id": 1,
            "email": "anna.rossi@example.it",
            "roles": ["admin", "treasurer"],
            "totp_enrolled": False,
            "active": True,
        },
        {
            "id": 2,
            "email": "bruno@example.it",
            "roles": ["donor"],
            "totp_enrolled": False,
            "active": False,
        },
    ]


def test_roles_are_added_and_removed_with_an_audit_event(run, book):
    create_anna(run, "donor", "reviewer")
    result = run(
        "users", "roles", "anna.rossi@example.it", "--add", "treasurer", "--remove", "donor"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "user 1 now has roles: reviewer, treasurer"
    assert user_fields(book, "anna.rossi@example.it")["roles"] == ["reviewer", "treasurer"]
    assert audit_log(book)[-1] == {
        "action": "user.roles",
        "channel": "cli",
        "actor": None,
        "source": HOST,
        "subject": ("user", "1"),
        "details": {
            "added": ["treasurer"],
            "removed": ["donor"],
            "roles": ["reviewer", "treasurer"],
        },
    }


def test_a_roles_change_that_changes_nothing_writes_no_audit_event(run, book):
    create_anna(run, "donor")
    shown = run("users", "roles", "anna.rossi@example.it")
    assert shown.stdout.strip() == "user 1 has roles: donor"
    same = run("users", "roles", "anna.rossi@example.it", "--add", "donor")
    assert same.exit_code == 0 and "nothing changed" in same.stdout
    assert [e["action"] for e in audit_log(book)] == ["user.create"]


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["--remove", "donor"], 1, "invalid_person"),
        (["--add", "donor", "--remove", "donor"], 1, "invalid_person"),
        (["--add", "root"], 2, "root"),
    ],
    ids=["last-role", "add-and-remove", "unknown-role"],
)
def test_a_refused_roles_change_leaves_the_roles_as_they_were(run, book, args, exit_code, message):
    create_anna(run, "donor")
    result = run("users", "roles", "anna.rossi@example.it", *args)
    assert result.exit_code == exit_code and message in result.stderr
    assert user_fields(book, "anna.rossi@example.it")["roles"] == ["donor"]
    assert [e["action"] for e in audit_log(book)] == ["user.create"]


@pytest.mark.parametrize(
    "args",
    [
        ["users", "roles", "nobody@example.it", "--add", "donor"],
        ["users", "deactivate", "nobody@example.it"],
        ["tokens", "create", "nobody@example.it"],
        ["tokens", "list", "nobody@example.it"],
    ],
    ids=["roles", "deactivate", "tokens-create", "tokens-list"],
)
def test_an_unknown_email_exits_1_with_user_not_found(run, book, args):
    result = run(*args)
    assert result.exit_code == 1 and "user_not_found" in result.stderr
    assert counts(book) == NOTHING


# --------------------------------------------------------------------------- deactivate
def test_a_deactivated_user_cannot_sign_in_and_deactivating_twice_changes_nothing(run, book):
    create_anna(run)
    result = run("users", "deactivate", "ANNA.ROSSI@example.it")
    assert result.exit_code == 0 and "deactivated user 1" in result.stdout
    assert signs_in(book, "anna.rossi@example.it", PASSWORD) is None
    assert user_fields(book, "anna.rossi@example.it")["active"] is False

    again = run("users", "deactivate", "anna.rossi@example.it")
    assert again.exit_code == 0 and "already inactive" in again.stdout
    assert [(e["action"], e["subject"]) for e in audit_log(book)] == [
        ("user.create", ("user", "1")),
        ("user.deactivate", ("user", "1")),
    ]


# --------------------------------------------------------------------------- tokens
def test_tokens_create_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(run, book):
    create_anna(run)
    result = run("tokens", "create", "anna.rossi@example.it", "--name", "nightly export")
    assert result.exit_code == 0, result.output

    token = token_of(result)
    assert token == token.strip() and " " not in token and token.startswith("clt_")
    assert result.stdout.count(token) == 1 and token not in result.stderr
    assert result.stdout.splitlines()[0] == 'created API token 1 "nightly export" for user 1'

    def stored(session: Session) -> tuple[str, str, str]:
        row = session.get(ApiToken, 1)
        assert row is not None
        return row.token_hash, row.prefix, row.name

    assert book.read(stored) == (
        hashlib.sha256(token.encode()).hexdigest(),
        token[:12],
        "nightly export",
    )

    def holder(session: Session) -> tuple[int, int] | None:
        found = user_for_token(session, token, now=book.clock.now())
        return None if found is None else (found[0].id, found[1].id)

    assert book.read(holder) == (1, 1)
    expires_at = book.read(lambda s: s.get(ApiToken, 1).expires_at)
    assert audit_log(book)[-1] == {
        "action": "token.create",
        "channel": "cli",
        "actor": None,
        "source": HOST,
        "subject": ("api_token", "1"),
        "details": {"user_id": 1, "scopes": ["read"], "expires_at": expires_at.isoformat()},
    }


def test_tokens_create_gives_read_only_for_90_days_unless_told_scopes_and_days(
    run, book, monkeypatch
):
    create_anna(run)
    plain = run("tokens", "create", "anna.rossi@example.it")
    both = run(
        "tokens",
        "create",
        "anna.rossi@example.it",
        "--scope",
        "money",
        "--scope",
        "read",
        "--days",
        "30",
    )
    monkeypatch.setenv("LEDGER_API_TOKEN_DAYS", "7")
    from_env = run("tokens", "create", "anna.rossi@example.it", "--scope", "money")
    too_long = run("tokens", "create", "anna.rossi@example.it", "--days", "367")
    unknown = run("tokens", "create", "anna.rossi@example.it", "--scope", "admin")

    def stored(session: Session) -> list[tuple[str, int]]:
        return [
            (row.scopes, (row.expires_at - row.created_at).days)
            for row in session.scalars(select(ApiToken).order_by(ApiToken.id))
        ]

    assert book.read(stored) == [("read", 90), ("money read", 30), ("money", 7)]
    assert plain.stdout.splitlines()[1].startswith("scopes: read; expires ")
    assert both.stdout.splitlines()[1].startswith("scopes: money, read; expires ")
    assert from_env.exit_code == 0
    assert too_long.exit_code == 2 and unknown.exit_code == 2
    listed = json.loads(run("tokens", "list", "--format", "json").stdout)
    assert [t["scopes"] for t in listed] == [["read"], ["money", "read"], ["money"]]
    assert {(t["expired"], t["last_used_at"], t["last_used_from"]) for t in listed} == {
        (False, None, None)
    }


def test_the_token_is_in_no_audit_event_and_in_no_listing(run, book):
    create_anna(run)
    token = token_of(run("tokens", "create", "anna.rossi@example.it"))
    assert token not in json.dumps(audit_log(book))
    listed = run("tokens", "list")
    as_json = run("tokens", "list", "--format", "json")
    assert token not in listed.stdout and token not in as_json.stdout
    assert token[:12] in listed.stdout


def test_tokens_list_shows_id_prefix_name_user_created_and_revoked(run, book):
    assert run("tokens", "list").stdout.strip() == "no API tokens"
    create_anna(run)
    run("users", "create", "bruno@example.it", "--role", "donor")
    first = token_of(run("tokens", "create", "anna.rossi@example.it", "--name", "export"))
    token_of(run("tokens", "create", "bruno@example.it"))
    run("tokens", "revoke", "1")

    listed = json.loads(run("tokens", "list", "--format", "json").stdout)
    assert [(t["id"], t["name"], t["user_id"], t["email"]) for t in listed] == [
        (1, "export", 1, "anna.rossi@example.it"),
        (2, "token", 2, "bruno@example.it"),
    ]
    assert listed[0]["prefix"] == first[:12]
    assert listed[0]["revoked_at"] is not None and listed[1]["revoked_at"] is None
    assert listed[0]["created_at"].endswith("+00:00")

    only_bruno = json.loads(run("tokens", "list", "bruno@example.it", "--format", "json").stdout)
    assert [t["id"] for t in only_bruno] == [2]
    table = run("tokens", "list").stdout.splitlines()
    assert "revoked" in table[1] and "live" in table[2]


def test_a_revoked_token_no_longer_works_and_the_revocation_is_audited_once(run, book):
    create_anna(run)
    token = token_of(run("tokens", "create", "anna.rossi@example.it"))
    other = token_of(run("tokens", "create", "anna.rossi@example.it", "--name", "other"))

    result = run("tokens", "revoke", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"revoked API token 1 ({token[:12]}...)"
    assert book.read(lambda s: user_for_token(s, token, now=book.clock.now())) is None
    assert book.read(lambda s: user_for_token(s, other, now=book.clock.now()) is not None)

    again = run("tokens", "revoke", "1")
    assert again.exit_code == 0 and "already revoked" in again.stdout
    revocations = [e for e in audit_log(book) if e["action"] == "token.revoke"]
    assert revocations == [
        {
            "action": "token.revoke",
            "channel": "cli",
            "actor": None,
            "source": HOST,
            "subject": ("api_token", "1"),
            "details": {"user_id": 1},
        }
    ]


def test_revoking_an_unknown_token_exits_1_with_token_not_found(run, book):
    result = run("tokens", "revoke", "42")
    assert result.exit_code == 1 and "token_not_found" in result.stderr
    assert run("tokens", "revoke", "0").exit_code == 2
    assert counts(book) == NOTHING


def test_no_token_is_issued_to_a_deactivated_user(run, book):
    create_anna(run)
    run("users", "deactivate", "anna.rossi@example.it")
    result = run("tokens", "create", "anna.rossi@example.it")
    assert result.exit_code == 1 and "user_inactive" in result.stderr
    assert counts(book)["api_tokens"] == 0
    assert [e["action"] for e in audit_log(book)] == ["user.create", "user.deactivate"]


def test_deactivating_a_user_stops_their_tokens_working(run, book):
    create_anna(run)
    token = token_of(run("tokens", "create", "anna.rossi@example.it"))
    run("users", "deactivate", "anna.rossi@example.it")
    assert book.read(lambda s: user_for_token(s, token, now=book.clock.now())) is None


def test_every_state_change_of_a_session_leaves_one_audit_event_in_order(run, book):
    create_anna(run, "donor")
    run("users", "roles", "anna.rossi@example.it", "--add", "reviewer")
    run("tokens", "create", "anna.rossi@example.it")
    run("tokens", "revoke", "1")
    run("users", "deactivate", "anna.rossi@example.it")
    run("users", "list")
    run("tokens", "list")
    assert [(e["action"], e["subject"]) for e in audit_log(book)] == [
        ("user.create", ("user", "1")),
        ("user.roles", ("user", "1")),
        ("token.create", ("api_token", "1")),
        ("token.revoke", ("api_token", "1")),
        ("user.deactivate", ("user", "1")),
    ]
    assert {e["channel"] for e in audit_log(book)} == {"cli"}


# --------------------------------------------------------------------------- users identity
def test_users_identity_corrects_a_persons_name_once_with_an_audit_event(run, book):
    create_anna(run, "donor")
    result = run(
        "users",
        "identity",
        "ANNA.ROSSI@example.it",
        "--name",
        "Anna Maria Rossi",
        "--codice-fiscale",
        "RSSMRA85T10A562S",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("corrected person 1")
    fields = user_fields(book, "anna.rossi@example.it")
    assert (fields["name"], fields["cf"]) == ("Anna Maria Rossi", "RSSMRA85T10A562S")
    assert [e["action"] for e in audit_log(book)][-1] == "person.correct"

    again = run(
        "users",
        "identity",
        "anna.rossi@example.it",
        "--name",
        "Anna Maria Rossi",
        "--codice-fiscale",
        "RSSMRA85T10A562S",
    )
    assert again.exit_code == 0 and "nothing changed" in again.stdout
    unknown = run("users", "identity", "nobody@example.it", "--name", "Nessuno")
    assert unknown.exit_code == 1 and "person_not_found" in unknown.stderr
