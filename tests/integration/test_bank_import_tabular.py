"""The MT940, CSV and XLSX readers through the importer: the same checks as camt files.

BancoPosta's exports carry no IBAN, so they import into the account the
treasurer chooses; their stated closing balances do not add up (by the
figures the fixtures README gives), so they are refused with the exact
difference unless accepted with a reason. The MT940 snippet names German
account numbers, not IBANs, so it too is read for the chosen account, and its
unbalanced statement is refused the same way.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.commands import Origin
from ledger.core.service import Ledger
from ledger.reconcile import statements as importer
from ledger.reconcile.commands import create_bank_account, import_statement
from ledger.reconcile.errors import StatementAccountMismatchError, StatementUnbalancedError
from ledger.reconcile.models import BankLine
from ledger.reconcile.parsed import StatementFormatError
from tests.bank_fixtures import BANCOPOSTA_CSV, BONIFICO_CSV, SEPA_SNIPPET_MT940, fixture_bytes

IBAN = "IT60X0542811101000000123456"
CLI = Origin(channel="cli", source="test")


@pytest.fixture
def account(ledger: Ledger) -> Ledger:
    ledger.create_account("assets:bank:poste", "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=IBAN, account_code="assets:bank:poste", origin=CLI, clock=ledger.clock
        )
    )
    return ledger


def _import(ledger: Ledger, data: bytes, **kw: Any) -> importer.ImportReport:
    return ledger.run(
        lambda s: import_statement(s, IBAN, data, origin=CLI, clock=ledger.clock, **kw).value
    )


def test_a_bancoposta_export_is_refused_by_its_exact_difference_unless_accepted(
    account: Ledger,
) -> None:
    data = fixture_bytes(BANCOPOSTA_CSV)
    with pytest.raises(StatementUnbalancedError) as refused:
        _import(account, data, format="csv", preset="bancoposta")
    assert refused.value.details["difference"] == "-511.00"
    report = _import(
        account, data, format="csv", preset="bancoposta", accept_unbalanced=True, reason="saldo"
    )
    assert (report.lines, report.new) == (4, 4)
    again = _import(
        account, data, format="csv", preset="bancoposta", accept_unbalanced=True, reason="saldo"
    )
    assert (again.new, len(again.already_imported)) == (0, 4)


def test_three_identical_same_day_debits_of_a_csv_stay_three(account: Ledger) -> None:
    data = fixture_bytes(BONIFICO_CSV)
    with pytest.raises(StatementUnbalancedError) as refused:
        _import(account, data, format="csv", preset="bancoposta")
    assert refused.value.details["difference"] in ("1001.00", "-1001.00")
    report = _import(
        account, data, format="csv", preset="bancoposta", accept_unbalanced=True, reason="saldo"
    )
    assert (report.lines, report.new) == (8, 8)


def test_a_csv_needs_a_known_preset_and_nothing_is_imported_without_one(
    account: Ledger,
) -> None:
    for preset in (None, "nessuna"):
        with pytest.raises(StatementFormatError):
            _import(account, fixture_bytes(BANCOPOSTA_CSV), format="csv", preset=preset)


def test_an_mt940_statement_that_does_not_add_up_is_refused_by_its_exact_difference(
    account: Ledger,
) -> None:
    """sepa_snippet.sta: its second statement is off by 300.08 (the fixtures README)."""
    before = account.read(lambda s: s.scalar(select(func.count()).select_from(BankLine)))
    with pytest.raises(StatementUnbalancedError) as refused:
        _import(account, fixture_bytes(SEPA_SNIPPET_MT940))
    assert refused.value.details["difference"] == "-300.08"
    assert account.read(lambda s: s.scalar(select(func.count()).select_from(BankLine))) == before
    # Accepted, it is still refused: its two statements are of two accounts named by
    # bank code and number, and which one is ours cannot be told.
    with pytest.raises(StatementAccountMismatchError) as several:
        _import(account, fixture_bytes(SEPA_SNIPPET_MT940), accept_unbalanced=True, reason="saldo")
    assert several.value.details["file_accounts"] == [
        "50880050/0194787400888",
        "50880050/0194791600888",
    ]
    assert account.read(lambda s: s.scalar(select(func.count()).select_from(BankLine))) == before
