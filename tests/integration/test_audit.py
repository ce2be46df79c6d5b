"""The audit log: written in the transaction of the change, and append-only.

UPDATE and DELETE by raw SQL are refused by triggers on both backends (TRUNCATE
as well on PostgreSQL), the way `test_database_guards.py` tries the journal.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.audit.service import Origin, list_events, record
from ledger.core.errors import PersonalDataError
from ledger.core.service import Ledger
from ledger.people.service import NewPerson, create_user

CLI = Origin(channel="cli", source="ops-host")
WEB = Origin(channel="web", user_id=None, source="203.0.113.9", user_agent="Firefox/140")

RESTRICT_VIOLATION = "23001"


def events(ledger: Ledger) -> list[tuple]:
    def read(session: Session) -> list[tuple]:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [
            (e.channel, e.action, e.subject_type, e.subject_id, e.source, e.details) for e in rows
        ]

    return ledger.read(read)


def write_three_events(ledger: Ledger) -> Ledger:
    """Three events: two from the CLI, one from the web (after a user exists)."""

    def work(session: Session) -> None:
        now = ledger.clock.now()
        user = create_user(
            session, NewPerson("anna@example.it", "Anna"), roles=["admin"], password=None, now=now
        )
        record(session, CLI, "user.create", now=now, subject_type="user", subject_id=user.id)
        record(session, CLI, "token.create", now=now, subject_type="api_token", subject_id=1)
        record(
            session,
            WEB,
            "user.login",
            now=now + timedelta(seconds=1),
            user_id=user.id,
            details={"two_factor": False},
        )

    ledger.run(work)
    return ledger


@pytest.fixture
def logged(ledger: Ledger) -> Ledger:
    return write_three_events(ledger)


def refused(ledger: Ledger, sql: str) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught, ledger.engine.begin() as conn:
        conn.execute(text(sql))
    return caught.value


def test_an_event_is_recorded_with_its_channel_subject_source_and_details(logged):
    assert events(logged) == [
        ("cli", "user.create", "user", "1", "ops-host", {}),
        ("cli", "token.create", "api_token", "1", "ops-host", {}),
        ("web", "user.login", None, None, "203.0.113.9", {"two_factor": False}),
    ]


def test_events_are_listed_newest_first_and_filtered_by_action_prefix_or_actor(logged):
    def actions(**query: object) -> tuple[list[str], int, int]:
        def read(session: Session) -> tuple[list[str], int, int]:
            page = list_events(session, **query)
            return [e.action for e in page.events], page.total, page.pages

        return logged.read(read)

    assert actions(per_page=2) == (["user.login", "token.create"], 3, 2)
    assert actions(per_page=2, page=2) == (["user.create"], 3, 2)
    assert actions(action="user.") == (["user.login", "user.create"], 2, 1)
    assert actions(actor_user_id=1) == (["user.login"], 1, 1)


def test_an_event_of_a_change_that_rolls_back_is_not_kept(ledger):
    def work(session: Session) -> None:
        record(session, CLI, "user.create", now=ledger.clock.now(), subject_id=9)
        session.flush()
        raise RuntimeError("the change failed after its event was written")

    with pytest.raises(RuntimeError):
        ledger.run(work)
    assert events(ledger) == []


@pytest.mark.parametrize(
    "details",
    [{"email": "x"}, {"note": "anna@example.it"}, {"cf": "RSSMRA85T10A562S"}, {"name": "ci"}],
    ids=["email-key", "address-value", "cf-key", "name-key"],
)
def test_details_carrying_personal_data_are_refused(ledger, details):
    with pytest.raises(PersonalDataError):
        ledger.run(lambda s: record(s, CLI, "user.create", now=ledger.clock.now(), details=details))
    assert events(ledger) == []


def test_an_unknown_channel_is_a_programming_error(ledger):
    with pytest.raises(ValueError, match="unknown audit channel"):
        ledger.run(lambda s: record(s, Origin(channel="sms"), "x", now=ledger.clock.now()))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET action = 'nothing.happened' WHERE action = 'user.create'",
        "UPDATE audit_events SET details = '{}'",
        "UPDATE audit_events SET actor_user_id = NULL WHERE actor_user_id IS NOT NULL",
    ],
    ids=["action", "details", "actor"],
)
def test_updating_an_audit_event_by_raw_sql_is_refused_on_every_backend(logged, backend, sql):
    before = events(logged)
    exc = refused(logged, sql)
    assert "append-only" in str(exc.orig)
    if backend == "postgresql":
        assert getattr(exc.orig, "sqlstate", None) == RESTRICT_VIOLATION
    assert events(logged) == before


@pytest.mark.parametrize(
    "sql",
    ["DELETE FROM audit_events WHERE action = 'user.login'", "DELETE FROM audit_events"],
    ids=["one", "all"],
)
def test_deleting_audit_events_by_raw_sql_is_refused_on_every_backend(logged, backend, sql):
    before = events(logged)
    exc = refused(logged, sql)
    assert "append-only" in str(exc.orig)
    if backend == "postgresql":
        assert getattr(exc.orig, "sqlstate", None) == RESTRICT_VIOLATION
    assert events(logged) == before


@pytest.mark.postgres_only
def test_truncating_the_audit_log_is_refused_on_postgresql(pg_ledger):
    logged = write_three_events(pg_ledger)
    before = events(logged)
    exc = refused(logged, "TRUNCATE audit_events")
    assert getattr(exc.orig, "sqlstate", None) == RESTRICT_VIOLATION
    assert events(logged) == before


def test_new_events_may_still_be_appended_by_raw_sql(logged):
    with logged.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (occurred_at, channel, action, details) "
                "VALUES (CURRENT_TIMESTAMP, 'cli', 'ops.note', '{}')"
            )
        )
    assert [e[1] for e in events(logged)][-1] == "ops.note"


def test_a_filter_by_an_action_finds_the_rows_written_under_its_old_name(ledger):
    """Rows written before the action names were unified keep their name; the filter maps it."""

    def work(session: Session) -> None:
        now = ledger.clock.now()
        record(session, CLI, "grant.disbursement", now=now, subject_type="commitment", subject_id=1)
        record(session, CLI, "commitment.disbursement", now=now, subject_type="commitment")
        record(session, CLI, "commitment.create", now=now, subject_type="commitment")

    ledger.run(work)

    def actions(prefix: str) -> list[str]:
        return ledger.read(lambda s: [e.action for e in list_events(s, action=prefix).events])

    assert actions("commitment.disbursement") == ["commitment.disbursement", "grant.disbursement"]
    assert actions("commitment.") == [
        "commitment.create",
        "commitment.disbursement",
        "grant.disbursement",
    ]
    assert actions("grant.") == ["grant.disbursement"]
