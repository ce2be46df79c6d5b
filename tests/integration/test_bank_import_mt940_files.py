"""The three MT940 files the unit tests read, through the importer: the figures of the
fixtures README, or the refusal it calls for.

- `sepa_mt9401.sta`: 26 statements of 20 accounts named by bank code and account
  number, not IBAN. Which of them is the chosen account cannot be told, so the file
  is refused and nothing imported (before, all 97 lines of 20 accounts went into one).
- `ASNB_mt940.txt` and `rabobank-iban.sta` name anonymised IBANs whose check digits
  are wrong: refused for our account, nothing imported.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger.commands import Origin
from ledger.core.service import Ledger
from ledger.reconcile.commands import create_bank_account, import_statement
from ledger.reconcile.errors import StatementAccountMismatchError
from ledger.reconcile.models import BankLine, StatementImport
from ledger.reconcile.statements import ImportReport
from tests.bank_fixtures import fixture_bytes

CLI = Origin(channel="cli", source="test")


def _account(ledger: Ledger, iban: str) -> None:
    ledger.create_account("assets:bank:x", "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=iban, account_code="assets:bank:x", origin=CLI, clock=ledger.clock
        )
    )


def _import(ledger: Ledger, iban: str, name: str) -> ImportReport:
    data = fixture_bytes(name)
    return ledger.run(
        lambda s: import_statement(s, iban, data, origin=CLI, clock=ledger.clock).value
    )


def _stored(ledger: Ledger) -> tuple[int, int]:
    return ledger.run(
        lambda s: (
            s.scalar(select(func.count()).select_from(StatementImport)),
            s.scalar(select(func.count()).select_from(BankLine)),
        )
    )


def test_a_file_of_twenty_accounts_without_ibans_is_refused(ledger: Ledger) -> None:
    iban = "IT60X0542811101000000123456"
    _account(ledger, iban)
    with pytest.raises(StatementAccountMismatchError) as refused:
        _import(ledger, iban, "mt940/sepa_mt9401.sta")
    assert len(refused.value.details["file_accounts"]) == 20
    assert "Nothing was imported" in refused.value.message
    assert _stored(ledger) == (0, 0)


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("mt940/ASNB_mt940.txt", "NL81ASNB9999999999"),
        ("mt940/rabobank-iban.sta", "NL71RABO0123456789"),
    ],
)
def test_a_file_naming_an_anonymised_iban_is_refused_for_ours(
    ledger: Ledger, name: str, named: str
) -> None:
    # Their :25: is IBAN-shaped with wrong check digits (the samples were anonymised):
    # no account can be registered for it, and the file is refused for any other
    # account. Their statements, lines and balances are read by the parser
    # (tests/unit/test_statement_formats.py).
    iban = "IT60X0542811101000000123456"
    _account(ledger, iban)
    with pytest.raises(StatementAccountMismatchError) as refused:
        _import(ledger, iban, name)
    assert refused.value.details["file_ibans"] == [named]
    assert _stored(ledger) == (0, 0)
