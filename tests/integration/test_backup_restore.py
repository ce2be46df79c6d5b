"""The restore drill: a book backed up with `ledger backup` and restored with `ledger restore`
into a new database verifies, and its trial balance, journal head and every table are
those of the original; backup and restore are audited; a database with tables is not
overwritten without --force. On SQLite and PostgreSQL."""

from __future__ import annotations

import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import inspect, select, text

from ledger.audit.models import AuditEvent
from ledger.audit.service import Origin
from ledger.books import backup as backups
from ledger.books.demo_commands import load_demo
from ledger.cli import cli
from ledger.core.balances import trial_balance
from ledger.core.clock import FixedClock
from ledger.core.service import Ledger
from tests.conftest import PG_ADMIN_URL, _pg_admin_engine, _pg_drop


@pytest.fixture
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A new database with nothing in it (no migrations), of the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    assert PG_ADMIN_URL
    admin, base = _pg_admin_engine()
    name = f"ledger_restore_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _pg_drop(admin, name)
        admin.dispose()


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--database", url, *args])


def book(ledger: Ledger) -> None:
    ledger.run(
        lambda s: load_demo(s, with_users=True, origin=Origin.command_line(), clock=ledger.clock)
    )


def contents(url: str) -> dict[str, object]:
    """What a restored database must repeat: the trial balance, the journal's head from a
    full verify, and the number of rows of every table but the audit log."""
    service = Ledger.from_url(url)
    try:
        report = service.verify()
        assert report.ok, report.first
        lines = service.read(trial_balance)
        tables = inspect(service.engine).get_table_names()
        with service.engine.connect() as connection:
            counts = {
                t: connection.scalar(text(f'SELECT count(*) FROM "{t}"'))
                for t in sorted(tables)
                if t != "audit_events"
            }
        return {
            "trial_balance": [
                (line.account.code, line.debit, line.credit)
                for line in lines
                if line.debit or line.credit
            ],
            "head": (report.last_sequence, report.head_hash, report.entries_checked),
            "rows": counts,
        }
    finally:
        service.engine.dispose()


def audit_actions(url: str) -> list[tuple[str, dict[str, object]]]:
    service = Ledger.from_url(url)
    try:
        return service.read(
            lambda s: [
                (e.action, dict(e.details or {}))
                for e in s.scalars(
                    select(AuditEvent)
                    .where(AuditEvent.action.like("database.%"))
                    .order_by(AuditEvent.id)
                )
            ]
        )
    finally:
        service.engine.dispose()


def test_a_book_backed_up_and_restored_into_a_new_database_is_the_same_book(
    ledger: Ledger, db_url: str, empty_url: str, tmp_path: Path
) -> None:
    book(ledger)
    original = contents(db_url)
    assert original["trial_balance"], "the demo book has balances"
    file = tmp_path / "book.backup"

    made = run(db_url, "backup", "--output", str(file))
    assert made.exit_code == 0, made.output
    assert "backup written" in made.output
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []
    # The attack of the security review (2026-12-07): under the usual umask 022 the
    # backup (password hashes, sealed TOTP secrets, everyone's personal data) was
    # readable by every local user.
    assert stat.S_IMODE(file.stat().st_mode) == 0o600

    restored = run(empty_url, "restore", str(file))
    assert restored.exit_code == 0, restored.output
    assert contents(empty_url) == original
    assert run(empty_url, "verify").exit_code == 0

    [(action, details)] = audit_actions(db_url)
    assert action == "database.backup"
    described = backups.describe(file)
    assert details == {
        "backend": described.backend,
        "bytes": described.size,
        "sha256": described.sha256,
    }
    # The backup's event is written once the file is complete, so the file does not hold
    # it; the restored database holds its own restore event, naming the same file.
    assert audit_actions(empty_url) == [("database.restore", {**details, "forced": False})]


def test_restore_refuses_a_database_that_holds_tables_unless_forced(
    ledger: Ledger, db_url: str, empty_url: str, tmp_path: Path, clock: FixedClock
) -> None:
    book(ledger)
    file = tmp_path / "book.backup"
    assert run(db_url, "backup", "--output", str(file)).exit_code == 0
    assert run(empty_url, "restore", str(file)).exit_code == 0
    ledger.create_account("assets:cash:second", "asset")
    after_backup = contents(db_url)

    # The restored database now holds tables: a second restore into it is refused...
    again = run(empty_url, "restore", str(file))
    assert again.exit_code == 1
    assert "database_not_empty" in again.output
    assert "--force" in again.output

    # ... and so is restoring the backup over the original, which moved on since.
    over = run(db_url, "restore", str(file))
    assert over.exit_code == 1
    assert contents(db_url) == after_backup

    forced = run(db_url, "restore", "--force", str(file))
    assert forced.exit_code == 0, forced.output
    restored = contents(db_url)
    assert restored != after_backup
    assert restored == contents(empty_url)


def test_a_backup_is_restored_only_into_the_kind_of_database_it_came_from(
    ledger: Ledger, backend: str, db_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "book.backup"
    assert run(db_url, "backup", "--output", str(file)).exit_code == 0
    other = (
        "postgresql://postgres@127.0.0.1:1/nowhere"
        if backend == "sqlite"
        else f"sqlite:///{tmp_path / 'x.sqlite3'}"
    )
    refused = run(other, "restore", str(file))
    assert refused.exit_code == 1
    assert "backup_format" in refused.output
    assert f"this is a {backend} backup" in refused.output

    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    refused = run(db_url, "restore", str(not_a_backup))
    assert refused.exit_code == 1
    assert "not a backup made by `ledger backup`" in refused.output


def test_without_pg_dump_the_backup_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(backups, "PG_TOOLS_GLOB", str(tmp_path / "none" / "*" / "bin"))
    with pytest.raises(backups.BackupToolMissingError) as refused:
        backups.pg_tool("pg_dump")
    assert "pg_dump was not found" in refused.value.message
    assert "postgresql-client" in refused.value.message
