"""Helpers shared by the integration tests of the CLI and of people.

`run` drives the `ledger` command through click's CliRunner against the test's
fresh database (tests/conftest.py's `db_url`, so once per backend) and `book`
reads back what it wrote. `cheap_hashing` lowers the Argon2 cost for the
module that asks for it (restored afterwards); `audit_log` lists the audit
events in the order they were written.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.cli import cli
from ledger.core.service import Ledger
from ledger.people import passwords

PASSWORD = "correct horse battery"
HOST = socket.gethostname()[:64]  # the source of every CLI audit event

Run = Callable[..., Result]


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hash passwords at a low Argon2 cost for one test; the default comes back after."""
    monkeypatch.setattr(passwords, "_hasher", passwords._hasher)
    monkeypatch.setattr(passwords, "_dummy_hash", passwords._dummy_hash)
    passwords.configure(memory_cost=1024, time_cost=1)
    yield


@pytest.fixture
def run(db_url: str) -> Run:
    """Invoke `ledger --database <db_url> ARGS...`, optionally with standard input."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(
            cli, ["--database", db_url, *args], input=input, catch_exceptions=False
        )

    return invoke


@pytest.fixture
def book(db_url: str) -> Iterator[Ledger]:
    """A Ledger on the same database, to check what the commands wrote."""
    service = Ledger.from_url(db_url)
    yield service
    service.engine.dispose()


def audit_log(book: Ledger) -> list[dict[str, Any]]:
    """Every audit event, oldest first, as the fields a test compares."""

    def read(session: Session) -> list[dict[str, Any]]:
        return [
            {
                "action": e.action,
                "channel": e.channel,
                "actor": e.actor_user_id,
                "source": e.source,
                "subject": (e.subject_type, e.subject_id),
                "details": e.details,
            }
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]

    return book.read(read)
