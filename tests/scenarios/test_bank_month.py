"""The demo's bank month end to end (issue 13, part 8): the camt.053 the demo builds from
its own records is imported, every line is explained (references, a Stripe payout matched
automatically, the rest matched or booked by hand through the use cases), every balance
holds the figure it should, the books tie to the bank, the journal verifies and the
beancount export still passes bean-check. Loading the demo again adds nothing.

The clock is the tests' 2026-06-15 (the demo's "today"), so the month is 1-15 June 2026.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from sqlalchemy import select

from ledger.books import demo_commands
from ledger.campaigns import accounts as campaign_accounts
from ledger.commands import Origin
from ledger.core.balances import balance
from ledger.core.service import Ledger
from ledger.reconcile.commands import get_bank_account
from ledger.reconcile.demo import (
    BANK_FEES,
    DEMO_IBAN,
    anchor_day,
    demo_statement,
    held_accounts,
    month_of,
)
from ledger.reconcile.formats.camt import parse_camt053
from ledger.reconcile.matching import line_views
from ledger.reconcile.models import BankAllocation, BankLine, BankStatement, StatementImport
from ledger.reconcile.payouts import TRANSIT
from ledger.reconcile.report import reconciliation
from tests.integration.commands_helpers import footprint
from tests.integration.test_beancount_oracle import bean_check, export

CONSOLE = Origin(channel="cli", source="test-host")
FIRST, LAST = date(2026, 5, 31), date(2026, 6, 15)
BANK = campaign_accounts.BANK
FUND_CASH = "assets:funds:2:cash"
ESCROW = campaign_accounts.escrow(1)  # "Un orto in cortile"


def _load(ledger: Ledger) -> bool:
    return ledger.run(
        lambda s: demo_commands.load_demo(s, origin=CONSOLE, clock=ledger.clock)
    ).created


def _at(ledger: Ledger, code: str, day: date) -> int:
    return ledger.read(lambda s: balance(s, code, as_of=day).posted)


def test_the_demo_bank_month_is_explained_ties_to_the_books_and_exports(
    ledger: Ledger, tmp_path: Path
) -> None:
    assert _load(ledger) is True

    # The statement: opening = the held accounts' book balance on 31 May, closing balanced.
    assert ledger.read(held_accounts) == [BANK, FUND_CASH]
    assert ledger.read(anchor_day) == LAST
    statement = ledger.read(
        lambda s: s.execute(
            select(
                BankStatement.opening_minor,
                BankStatement.closing_minor,
                BankStatement.closing_on,
                BankStatement.balanced,
            )
        ).one()
    )
    assert tuple(statement) == (2_760_368, 4_067_733, LAST, True)
    assert _at(ledger, BANK, FIRST) + _at(ledger, FUND_CASH, FIRST) == 2_760_368

    # Every line explained, by what it should be.
    views = ledger.read(lambda s: line_views(s, get_bank_account(s, DEMO_IBAN)))
    assert [(v.amount_minor, v.status) for v in views] == [
        (86_066, "matched"),  # two instalments of the first loan, by its RF reference
        (-32_000, "booked"),  # the supplier's payment...
        (32_000, "booked"),  # ...returned AC04, both against the campaign's escrow
        (8_000, "matched"),  # a transfer gift, structured RF reference
        (4_500, "matched"),  # a transfer gift, RF reference typed in the text
        (15_000, "matched"),  # gifts by transfer recorded by hand, matched by hand
        (450_000, "matched"),
        (125_000, "matched"),
        (600_000, "matched"),  # the foundation's payment of released match
        (19_149, "matched"),  # the Stripe payout, matched automatically
        (-350, "booked"),  # bank fees
    ]
    kinds = ledger.read(lambda s: sorted(s.scalars(select(BankAllocation.kind)).all()))
    assert kinds == ["booked"] * 3 + ["entry"] + ["gift"] * 5 + ["payout", "repayment"]
    returned = next(v.id for v in views if v.amount_minor == 32_000)
    assert ledger.read(lambda s: s.get(BankLine, returned).reason_code) == "AC04"

    # Balances, with figures.
    assert ledger.balance(BANK).posted == 1_221_299
    assert ledger.balance(FUND_CASH).posted == 2_846_434
    assert _at(ledger, FUND_CASH, LAST) - _at(ledger, FUND_CASH, FIRST) == 86_066
    assert ledger.balance(TRANSIT).posted == 0  # the payout arrived
    # What is left at Stripe: the other campaign's two card gifts, not paid out yet.
    assert ledger.balance(campaign_accounts.STRIPE).posted == 4_902 + 14_765
    # The orto's escrow: three card gifts (195.00), the transfer 150.00, the two transfer
    # gifts by reference (125.00), less the cash gift refunded; supplier payment and return net.
    assert ledger.balance(ESCROW).posted == 19_500 + 15_000 + 12_500  # credit balance
    assert ledger.balance(BANK_FEES).posted == 350

    # The tie-out: the report as of the month's last day. Every line is explained and
    # every entry of the month on the held accounts is on the bank, so the bank's
    # closing balance is the books' balance of the held accounts: difference zero.
    report = ledger.read(lambda s: reconciliation(s, DEMO_IBAN, LAST))
    # The books' side is the trial balance's: the held accounts' lines as of that day.
    trial = {line.account.code: line.debit - line.credit for line in ledger.trial_balance(LAST)}
    book = trial[BANK] + trial[FUND_CASH]
    assert book == sum(_at(ledger, code, LAST) for code in (BANK, FUND_CASH))
    assert [h.code for h in report.held] == [BANK, FUND_CASH]
    assert (report.bank_balance_minor, report.book_balance_minor) == (
        statement.closing_minor,
        book,
    )
    assert (report.unexplained_lines, report.entries_not_on_bank) == ((), ())
    assert report.ignored_lines == ()
    assert report.difference_minor == 0

    # The file imported is the one the demo builds, and it reads back as imported.
    data = ledger.read(lambda s: demo_statement(s, month_of(s)))
    stored = ledger.read(lambda s: s.scalars(select(StatementImport.sha256)).one())
    assert hashlib.sha256(data).hexdigest() == stored
    parsed = parse_camt053(data)[0]
    assert (parsed.iban, parsed.opening_minor, len(parsed.lines)) == (DEMO_IBAN, 2_760_368, 11)

    assert ledger.verify().ok
    path = tmp_path / "demo.beancount"
    export(ledger, path)
    checked = bean_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # A second load adds nothing, audits nothing.
    before = footprint(ledger)
    assert _load(ledger) is False
    assert footprint(ledger) == before
