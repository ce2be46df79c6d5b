"""An independent oracle: beancount replays our export and must agree to the cent.

A random book (seeded, so a failure reproduces) is built through the engine on
each backend: several account types, two currencies (EUR with cents, JPY with
none), multi-currency entries, reversals, holds posted in part, voided or left
open, refused overdrafts, and narrations full of quotes, backslashes and
newlines. It is exported to beancount and then:

- the real `bean-check` binary must accept it (exit 0, no output), which means
  every transaction balances and every `balance` assertion (the engine's own
  maintained balances, asserted with zero tolerance) matches beancount's replay;
- beancount's loader must load it without errors, and each account's balance
  computed with beancount's realization must equal the engine's balance and a
  small in-memory model kept while building the book.

A deliberately wrong assertion must make bean-check fail, proving the oracle
can fail at all.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data, realization

from ledger.core.accounts import AccountView, normal_sign
from ledger.core.errors import InsufficientFundsError
from ledger.core.holds import HoldSpec
from ledger.core.journal import EntrySpec, PostingSpec
from ledger.core.money import Money, exponent
from ledger.core.service import Ledger
from ledger.statements.export import beancount_account_names, export_beancount

# code, type, currency, no_overdraft
ACCOUNTS = [
    ("assets:bank:intesa", "asset", "EUR", True),
    ("assets:cash:box_1", "asset", "EUR", False),
    ("assets:cash:box-1", "asset", "EUR", False),  # same beancount name as box_1
    ("stripe:clearing", "asset", "EUR", False),  # no root segment in the code
    ("liabilities:campaigns:1:escrow", "liability", "EUR", False),
    ("liabilities:grants:1:pool", "liability", "EUR", True),
    ("equity:opening", "equity", "EUR", False),
    ("net_assets:restricted", "equity", "EUR", False),
    ("income:donations", "income", "EUR", False),
    ("revenue:grants", "income", "EUR", False),
    ("expenses:fees:stripe", "expense", "EUR", False),
    ("assets:bank:tokyo", "asset", "JPY", True),
    ("income:donations:jpy", "income", "JPY", False),
    ("expenses:travel", "expense", "JPY", False),
    ("liabilities:loans:jpy", "liability", "JPY", False),
]
NARRATIONS = [
    "Donazione con carta",
    'Rimborso "parziale" alla campagna 1',
    "Percorso C:\\temp\\ricevute e barra \\",
    "Prima riga\nseconda riga\ttabulata",
    "Contributo €, àèìòù — ünïcödé",
    "",
]
KINDS = ["donation", "processor_fee", "grant_received", "refund", "transfer"]
START = date(2026, 1, 1)


def bean_check_binary() -> str:
    """bean-check from the running interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / "bean-check"
    if beside.exists():
        return str(beside)
    found = shutil.which("bean-check")
    if found is None:
        pytest.fail("bean-check is not installed: install the dev extras (beancount>=3)")
    return found


@dataclass
class Book:
    """The book as built, with an independent model of every account's signed balance."""

    ledger: Ledger
    rng: random.Random
    model: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    entries: list[tuple[str, tuple[PostingSpec, ...]]] = field(default_factory=list)
    reversed_ids: set[str] = field(default_factory=set)
    open_holds: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    keys: int = 0

    def key(self, prefix: str) -> str:
        self.keys += 1
        return f"{prefix}-{self.keys}"

    def day(self) -> date:
        return START + timedelta(days=self.rng.randrange(0, 160))

    def codes(self, currency: str) -> list[str]:
        return [c for c, _t, cur, _n in ACCOUNTS if cur == currency]

    def legs(self, currency: str) -> list[PostingSpec]:
        codes = self.rng.sample(self.codes(currency), self.rng.randint(2, 4))
        scale = 10 ** exponent(currency)
        amounts = [self.rng.choice([-1, 1]) * self.rng.randint(1, 900 * scale) for _ in codes[:-1]]
        last = -sum(amounts)
        if last == 0:
            amounts[0] += 1
            last = -1
        amounts.append(last)
        return [PostingSpec(c, Money(a, currency)) for c, a in zip(codes, amounts, strict=True)]

    def post(
        self, postings: list[PostingSpec], *, kind: str | None = None, reversible: bool = True
    ) -> bool:
        spec = EntrySpec(
            self.key("e"),
            kind or self.rng.choice(KINDS),
            postings,
            effective_on=self.day(),
            narration=self.rng.choice(NARRATIONS),
            metadata={"campaign_id": self.rng.randint(1, 3), "note": 'x"y\\z'},
        )
        try:
            result = self.ledger.post(spec)
        except InsufficientFundsError:
            self.counts["refused"] += 1
            return False
        for p in postings:
            self.model[p.account] += p.amount.minor
        if reversible:
            self.entries.append((result.entry.id, tuple(postings)))
        self.counts["entries"] += 1
        return True

    def reverse(self) -> None:
        candidates = [e for e in self.entries if e[0] not in self.reversed_ids]
        if not candidates:
            return
        entry_id, postings = self.rng.choice(candidates)
        try:
            result = self.ledger.reverse(
                idempotency_key=self.key("r"), entry_id=entry_id, effective_on=self.day()
            )
        except InsufficientFundsError:
            self.counts["refused"] += 1
            return
        self.reversed_ids.add(entry_id)
        self.reversed_ids.add(result.entry.id)  # a reversal is never reversed again
        for p in postings:
            self.model[p.account] -= p.amount.minor
        self.counts["reversals"] += 1

    def hold(self) -> None:
        currency = self.rng.choice(["EUR", "JPY"])
        debit, credit = self.rng.sample(self.codes(currency), 2)
        amount = self.rng.randint(1, 500 * 10 ** exponent(currency))
        try:
            result = self.ledger.hold(
                HoldSpec(
                    self.key("h"),
                    "match_release",
                    debit,
                    credit,
                    Money(amount, currency),
                    narration=self.rng.choice(NARRATIONS),
                )
            )
        except InsufficientFundsError:
            self.counts["refused"] += 1
            return
        self.open_holds.append((result.hold.id, debit, credit, amount, currency))

    def resolve(self, *, partial: bool = False) -> None:
        if not self.open_holds:
            return
        hold_id, debit, credit, amount, currency = self.open_holds.pop(
            self.rng.randrange(len(self.open_holds))
        )
        choice = "part" if partial else self.rng.choice(["part", "full", "void"])
        if choice == "void":
            self.ledger.void_hold(hold_id, idempotency_key=self.key("v"))
            self.counts["voided"] += 1
            return
        posted = amount if choice == "full" or amount == 1 else self.rng.randint(1, amount - 1)
        self.ledger.post_hold(
            hold_id,
            idempotency_key=self.key("p"),
            amount=Money(posted, currency),
            effective_on=self.day(),
        )
        self.model[debit] += posted
        self.model[credit] -= posted
        self.counts["holds_posted_in_part" if posted < amount else "holds_posted"] += 1


def build_random_book(ledger: Ledger, seed: int, steps: int = 80) -> Book:
    book = Book(ledger, random.Random(seed))
    for code, account_type, currency, no_overdraft in ACCOUNTS:
        ledger.create_account(code, account_type, currency=currency, no_overdraft=no_overdraft)
    # Fund the no-overdraft accounts so most random spending is allowed.
    book.post(
        [
            PostingSpec("assets:bank:intesa", Money(5_000_000, "EUR")),
            PostingSpec("equity:opening", Money(-5_000_000, "EUR")),
        ],
        kind="opening",
        reversible=False,
    )
    book.post(
        [
            PostingSpec("revenue:grants", Money(3_000_000, "EUR")),
            PostingSpec("liabilities:grants:1:pool", Money(-3_000_000, "EUR")),
        ],
        kind="grant_received",
        reversible=False,
    )
    book.post(
        [
            PostingSpec("assets:bank:tokyo", Money(2_000_000, "JPY")),
            PostingSpec("income:donations:jpy", Money(-2_000_000, "JPY")),
        ],
        reversible=False,
    )
    for _ in range(steps):
        roll = book.rng.random()
        if roll < 0.45:
            book.post(book.legs(book.rng.choice(["EUR", "JPY"])))
        elif roll < 0.55:
            book.post(book.legs("EUR") + book.legs("JPY"))  # two currencies, each balanced
        elif roll < 0.70:
            book.reverse()
        elif roll < 0.85:
            book.hold()
        else:
            book.resolve()
    # Whatever the dice said, the book has a refused overdraft (which must leave
    # no trace in the export), a reversal and a hold posted in part.
    book.post(
        [
            PostingSpec("assets:bank:tokyo", Money(-(10**12), "JPY")),
            PostingSpec("expenses:travel", Money(10**12, "JPY")),
        ]
    )
    book.reverse()
    book.hold()
    book.resolve(partial=True)
    return book


def export(ledger: Ledger, path: Path) -> str:
    buffer = io.StringIO()
    ledger.run(lambda s: export_beancount(s, buffer))
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return buffer.getvalue()


def bean_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bean_check_binary(), str(path)], capture_output=True, text=True, timeout=120, check=False
    )


def beancount_balances(path: Path) -> tuple[dict[str, dict[str, Decimal]], list[data.Directive]]:
    """Each account's balance per currency, computed by beancount from the file."""
    entries, errors, _options = loader.load_file(str(path))
    assert errors == [], errors
    root = realization.realize(entries)
    out: dict[str, dict[str, Decimal]] = {}
    for real_account in realization.iter_children(root):
        if real_account.account:
            out[real_account.account] = {
                pos.units.currency: pos.units.number for pos in real_account.balance
            }
    return out, entries


@pytest.mark.parametrize("seed", [7, 2026, 31337])
def test_the_beancount_export_of_a_random_book_passes_bean_check_and_matches_our_balances(
    ledger, tmp_path, seed
):
    book = build_random_book(ledger, seed)
    assert book.counts["reversals"] >= 1 and book.counts["holds_posted_in_part"] >= 1
    assert book.counts["refused"] >= 1
    assert ledger.verify().ok
    path = tmp_path / f"book-{seed}.beancount"
    export(ledger, path)

    checked = bean_check(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == "" and checked.stderr == ""

    balances, entries = beancount_balances(path)
    opened = {e.meta["code"]: e.account for e in entries if isinstance(e, data.Open)}
    transactions = [e for e in entries if isinstance(e, data.Transaction)]
    assert len(transactions) == ledger.verify().last_sequence
    assert sorted(opened) == sorted(code for code, *_ in ACCOUNTS)
    assert len(set(opened.values())) == len(opened)
    for account in ledger.accounts():
        engine_signed = normal_sign(account.type) * ledger.balance(account.code).posted
        units = balances.get(opened[account.code], {})
        assert set(units) <= {account.currency}, (account.code, units)
        theirs = units.get(account.currency, Decimal(0)).scaleb(exponent(account.currency))
        assert theirs == engine_signed, (account.code, theirs, engine_signed)
        assert engine_signed == book.model[account.code], account.code


def test_a_wrong_balance_assertion_makes_bean_check_fail(ledger, tmp_path):
    build_random_book(ledger, seed=99, steps=20)
    path = tmp_path / "book.beancount"
    content = export(ledger, path)
    assert bean_check(path).returncode == 0

    bank = ledger.balance("assets:bank:intesa").posted
    right = f"balance Assets:Bank:Intesa  {Money(bank, 'EUR').amount_string()} ~ 0 EUR"
    wrong = f"balance Assets:Bank:Intesa  {Money(bank + 1, 'EUR').amount_string()} ~ 0 EUR"
    assert right in content
    path.write_text(content.replace(right, wrong), encoding="utf-8")

    checked = bean_check(path)
    assert checked.returncode != 0
    assert "Balance failed for 'Assets:Bank:Intesa'" in checked.stdout + checked.stderr


def test_an_unbalanced_transaction_in_the_file_makes_bean_check_fail(ledger, tmp_path):
    build_random_book(ledger, seed=5, steps=10)
    path = tmp_path / "book.beancount"
    content = export(ledger, path)
    head, sep, tail = content.partition("  Equity:Opening  -50000.00 EUR")
    assert sep, "the opening entry is in the export"
    path.write_text(head + "  Equity:Opening  -49999.99 EUR" + tail, encoding="utf-8")
    checked = bean_check(path)
    assert checked.returncode != 0


def _view(code: str, account_type: str) -> AccountView:
    return AccountView(1, code, None, account_type, "EUR", False, datetime(2026, 1, 1, tzinfo=UTC))


def test_account_names_follow_beancount_rules_and_never_collide():
    names = beancount_account_names(
        [
            _view("assets:bank:intesa", "asset"),
            _view("assets:cash:box_1", "asset"),
            _view("assets:cash:box-1", "asset"),
            _view("cash:box-1", "asset"),
            _view("liabilities:campaigns:1:escrow", "liability"),
            _view("net_assets:restricted", "equity"),
            _view("revenue:grants", "income"),
            _view("expenses", "expense"),
            _view("assets:refunds", "expense"),
        ]
    )
    assert names["assets:bank:intesa"] == "Assets:Bank:Intesa"
    assert names["liabilities:campaigns:1:escrow"] == "Liabilities:Campaigns:1:Escrow"
    assert names["net_assets:restricted"] == "Equity:Restricted"
    assert names["revenue:grants"] == "Income:Grants"
    assert names["expenses"] == "Expenses:Expenses"
    assert names["assets:refunds"] == "Expenses:Assets:Refunds"
    # Three codes meet at Assets:Cash:Box-1; code order decides, every time.
    assert names["assets:cash:box-1"] == "Assets:Cash:Box-1"
    assert names["assets:cash:box_1"] == "Assets:Cash:Box-1-2"
    assert names["cash:box-1"] == "Assets:Cash:Box-1-3"
    assert len(set(names.values())) == len(names)
