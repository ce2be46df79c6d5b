"""An account's own CSV/XLSX preset: set once by the treasurer, used by every import
of such a file without a named preset; bad settings are refused with nothing changed.

The CSV here is the project's own (a small bank's export: comma-separated, two
title rows before the header, one signed amount column in English decimals,
two text columns), written by the test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.service import Ledger
from ledger.reconcile.commands import create_bank_account, import_statement, set_account_preset
from ledger.reconcile.errors import InvalidImportError
from ledger.reconcile.models import BankAccount, BankLine
from ledger.reconcile.parsed import StatementFormatError

IBAN = "IT60X0542811101000000123456"
CLI = Origin(channel="cli", source="test")

EXPORT = (
    b"Small Bank plc - account statement\r\n"
    b"Exported 2026-11-30\r\n"
    b"Booked,Value,Amount,Payee,Details\r\n"
    b'02/11/2026,02/11/2026,"1,250.00",Mario Rossi,Donazione RF18D0000001\r\n'
    b"03/11/2026,04/11/2026,-2.50,Bank,Commissioni bonifico\r\n"
    b"03/11/2026,04/11/2026,-2.50,Bank,Commissioni bonifico\r\n"
)

SETTINGS: dict[str, Any] = {
    "date_column": "Booked",
    "date_format": "%d/%m/%Y",
    "value_date_column": "Value",
    "amount_column": "Amount",
    "text_columns": ["Payee", "Details"],
    "decimal": "en",
    "skip_rows": 2,
    "delimiter": ",",
}


@pytest.fixture
def account(ledger: Ledger) -> Ledger:
    ledger.create_account("assets:bank:small", "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=IBAN, account_code="assets:bank:small", origin=CLI, clock=ledger.clock
        )
    )
    return ledger


def _set(ledger: Ledger, settings: dict[str, Any], key: str | None = None) -> Any:
    return ledger.run(
        lambda s: set_account_preset(s, IBAN, settings, origin=CLI, clock=ledger.clock, key=key)
    )


def _stored(ledger: Ledger) -> str | None:
    return ledger.run(
        lambda s: s.scalars(select(BankAccount.csv_preset).where(BankAccount.iban == IBAN)).one()
    )


def test_the_accounts_preset_reads_its_export_without_naming_one(account: Ledger) -> None:
    with pytest.raises(StatementFormatError):  # no preset yet: refused, nothing imported
        account.run(
            lambda s: import_statement(
                s, IBAN, EXPORT, format="csv", origin=CLI, clock=account.clock
            )
        )
    _set(account, SETTINGS)
    report = account.run(
        lambda s: (
            import_statement(s, IBAN, EXPORT, format="csv", origin=CLI, clock=account.clock).value
        )
    )
    assert (report.lines, report.new) == (3, 3)
    rows = account.run(
        lambda s: [
            (line.booked_on.isoformat(), line.amount_minor, line.text, line.value_on.isoformat())
            for line in s.scalars(select(BankLine).order_by(BankLine.id))
            if line.value_on is not None
        ]
    )
    assert rows == [
        ("2026-11-02", 125000, "Mario Rossi Donazione RF18D0000001", "2026-11-02"),
        ("2026-11-03", -250, "Bank Commissioni bonifico", "2026-11-04"),
        ("2026-11-03", -250, "Bank Commissioni bonifico", "2026-11-04"),
    ]
    again = account.run(
        lambda s: (
            import_statement(s, IBAN, EXPORT, format="csv", origin=CLI, clock=account.clock).value
        )
    )
    assert (again.new, len(again.already_imported)) == (0, 3)


def test_a_named_preset_still_wins_over_the_accounts(account: Ledger) -> None:
    _set(account, SETTINGS)
    with pytest.raises(StatementFormatError):  # BancoPosta's columns are not in this file
        account.run(
            lambda s: import_statement(
                s, IBAN, EXPORT, format="csv", preset="bancoposta", origin=CLI, clock=account.clock
            )
        )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"date_format": "%d/%m"}, "date_format"),
        ({"date_format": "giorno"}, "date_format"),
        ({"decimal": "fr"}, "decimal"),
        ({"delimiter": "#"}, "delimiter"),
        ({"skip_rows": -1}, "skip_rows"),
        ({"skip_rows": 5000}, "skip_rows"),
        ({"text_columns": []}, "text_columns"),
        ({"date_column": " "}, "date_column"),
        ({"debit_column": "Out"}, "amount column"),  # an amount column and a debit column
        ({"colour": "blue"}, "unknown settings"),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(
    account: Ledger, change: dict[str, Any], field: str
) -> None:
    _set(account, SETTINGS)
    before = _stored(account)
    events = account.run(lambda s: s.scalar(select(func.count()).select_from(AuditEvent)))
    with pytest.raises(InvalidImportError) as refused:
        _set(account, {**SETTINGS, **change})
    assert field in refused.value.message
    assert _stored(account) == before
    assert account.run(lambda s: s.scalar(select(func.count()).select_from(AuditEvent))) == events


def test_setting_it_is_audited_and_once_per_key(account: Ledger) -> None:
    first = _set(account, SETTINGS, key="p-1").created
    again = _set(account, SETTINGS, key="p-1").created
    assert (first, again) == (True, False)
    stored = json.loads(_stored(account) or "{}")
    assert stored["amount_column"] == "Amount" and stored["text_columns"] == ["Payee", "Details"]
    actions = account.run(
        lambda s: list(
            s.scalars(select(AuditEvent.action).where(AuditEvent.action == "bank_account.preset"))
        )
    )
    assert actions == ["bank_account.preset"]


def test_cli_sets_the_preset_and_imports_with_it(account: Ledger, run: Any, tmp_path: Any) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(EXPORT)
    result = run(
        "bank", "accounts", "preset", "--iban", IBAN, "--date-column", "Booked",
        "--date-format", "%d/%m/%Y", "--value-date-column", "Value", "--amount-column", "Amount",
        "--text-column", "Payee", "--text-column", "Details", "--decimal", "en",
        "--skip-rows", "2", "--delimiter", ",",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["preset"]["skip_rows"] == 2
    imported = run("bank", "import", str(path), "--iban", IBAN, "--format", "csv")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["new"] == 3
    refused = run(
        "bank", "accounts", "preset", "--iban", IBAN, "--date-column", "Booked",
        "--date-format", "%d/%m/%Y", "--text-column", "Payee",
    )  # fmt: skip
    assert refused.exit_code == 1
    assert json.loads(refused.output)["error"]["code"] == "invalid_import"
