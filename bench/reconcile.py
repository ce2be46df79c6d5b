"""Statement import and auto-matching: a 10,000-line camt.053 of our own making.

The file is generated here (`camt053`): a third of its lines carry the RF
reference of a pending transfer gift (structured remittance), one in twenty
the RF reference of a loan (in the free text, as a borrower types it), the rest
are plain lines (fees, transfers in and out). The run imports it through the
use case (`import_statement`) and applies the references (`apply_references`:
each gift settled with its receipt, each repayment recorded, each line
allocated; then the treasurer's rule books the fees, since 2026-12-08), and
prints lines per second. Baselines measured in the same run:
parsing the file alone, and a plain SQLAlchemy Core insert of the same rows
into `bank_lines` (no identity checks, no statements, no audit).

On PostgreSQL a writer process records cash gifts on a campaign of its own while
the run applies the references, as a donor's gift arrives during a treasurer's
month of lines: its gifts' waits are printed beside the same writer alone, just
before. A unit that took the journal head early would hold every gift until its
COMMIT.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import insert

from bench.gifts import count_statements, gift_writer
from bench.grants import _campaign
from ledger.campaigns.commands import start_transfer_gift
from ledger.campaigns.donations import Limits
from ledger.campaigns.models import Donation
from ledger.commands import Origin
from ledger.core.clock import FixedClock
from ledger.core.money import Money
from ledger.core.service import Ledger
from ledger.core.storage import make_engine
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.loan_commands import disburse_loan, open_loan
from ledger.payments.references import creditor_reference, printable
from ledger.people.models import Person
from ledger.reconcile.commands import (
    apply_references,
    create_bank_account,
    hold_account,
    import_statement,
)
from ledger.reconcile.formats.camt import parse_camt053
from ledger.reconcile.models import BankLine, BankStatement, StatementImport
from ledger.reconcile.rule_commands import create_rule
from ledger.reconcile.rules import Conditions
from ledger.reconcile.statements import fingerprint, normalize_text
from ledger.wiring import wire

IBAN = "IT60X0542811101000000123456"
FEES = "expenses:bank_fees"
ORIGIN = Origin(channel="cli", user_id=None, source="bench")
START = date(2026, 6, 16)  # the day after the loans are paid out
NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def _amount(minor: int) -> str:
    return f"{abs(minor) // 100}.{abs(minor) % 100:02d}"


def camt053(
    lines: list[tuple[date, int, str, str | None]], *, opening: int, iban: str = IBAN
) -> bytes:
    """A camt.053.001.02 statement of (booking date, signed amount, text, structured
    reference) lines, balanced (OPBD + lines = CLBD), each with its bank id."""
    closing = opening + sum(amount for _, amount, _, _ in lines)
    first, last = min(d for d, *_ in lines), max(d for d, *_ in lines)

    def bal(code: str, minor: int, on: date) -> str:
        return (
            f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
            f'<Amt Ccy="EUR">{_amount(minor)}</Amt>'
            f"<CdtDbtInd>{'CRDT' if minor >= 0 else 'DBIT'}</CdtDbtInd>"
            f"<Dt><Dt>{on.isoformat()}</Dt></Dt></Bal>"
        )

    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{NS}"><BkToCstmrStmt>'
        "<GrpHdr><MsgId>BENCH-1</MsgId><CreDtTm>2026-06-01T08:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>BENCH-{first:%Y%m}</Id><Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>EUR</Ccy></Acct>",
        bal("OPBD", opening, first - timedelta(days=1)),
        bal("CLBD", closing, last),
    ]
    for n, (on, amount, text, reference) in enumerate(lines, start=1):
        remittance = f"<Ustrd>{escape(text)}</Ustrd>"
        if reference:
            remittance += (
                "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>"
                f"<Ref>{reference}</Ref></CdtrRefInf></Strd>"
            )
        parts.append(
            f'<Ntry><Amt Ccy="EUR">{_amount(amount)}</Amt>'
            f"<CdtDbtInd>{'CRDT' if amount >= 0 else 'DBIT'}</CdtDbtInd><Sts>BOOK</Sts>"
            f"<BookgDt><Dt>{on.isoformat()}</Dt></BookgDt><ValDt><Dt>{on.isoformat()}</Dt></ValDt>"
            f"<AcctSvcrRef>BENCH{n:08d}</AcctSvcrRef>"
            "<NtryDtls><TxDtls>"
            f"<Refs><EndToEndId>E2E{n:08d}</EndToEndId></Refs>"
            f"<RmtInf>{remittance}</RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode("utf-8")


def _world(ledger: Ledger, gifts: int, loans: int) -> tuple[list[tuple[int, int]], list[int]]:
    """Pending transfer gifts (id, amount) on one campaign, and loans paid out of a fund
    whose cash the bank account holds."""
    campaign = _campaign(ledger, matched=False)
    if "assets:bank:main" not in {a.code for a in ledger.accounts()}:
        ledger.create_account("assets:bank:main", "asset")
    made: list[tuple[int, int]] = []
    for i in range(gifts):
        amount = 1000 + (i % 50) * 100
        gift = ledger.run(
            lambda s, i=i, amount=amount: (
                start_transfer_gift(
                    s,
                    campaign,
                    Money(amount, "EUR"),
                    person_id=None,
                    anonymous=True,
                    limits=Limits(),
                    origin=ORIGIN,
                    clock=ledger.clock,
                    key=f"gift-{i}",
                ).value
            )
        )
        made.append((gift.id, amount))

    def fund(s: Any) -> tuple[int, int]:
        row = funds.create_fund(s, name="Fondo bench", kind="revolving", clock=ledger.clock)
        funds.deposit(
            s, row.id, loans * 1_000_000, source="foundation_grant", key="seed", clock=ledger.clock
        )
        product = lending.create_loan_product(
            s,
            fund_id=row.id,
            name="Microcredito",
            min_amount_minor=50_000,
            max_amount_minor=1_000_000,
            annual_rate="0.06",
            method="declining_equal_instalments",
            min_term_months=6,
            max_term_months=24,
            clock=ledger.clock,
        )
        return row.id, product.id

    fund_id, product_id = ledger.run(fund)
    loan_ids = []
    for i in range(loans):

        def one(s: Any, i: int = i) -> int:
            person = Person(
                full_name=f"Persona {i}", email=f"p{i}@example.org", created_at=ledger.clock.now()
            )
            s.add(person)
            s.flush()
            loan = open_loan(
                s,
                fund_id,
                product_id,
                borrower_person_id=person.id,
                principal_minor=500_000,
                term_months=12,
                first_due_on=date(2026, 7, 15),
                origin=ORIGIN,
                clock=ledger.clock,
                key=f"loan-{i}",
            ).value
            disburse_loan(s, loan.id, origin=ORIGIN, clock=ledger.clock)
            return int(loan.id)

        loan_ids.append(ledger.run(one))
    ledger.run(
        lambda s: create_bank_account(
            s, iban=IBAN, account_code="assets:bank:main", origin=ORIGIN, clock=ledger.clock
        )
    )
    ledger.run(
        lambda s: hold_account(
            s, IBAN, f"assets:funds:{fund_id}:cash", origin=ORIGIN, clock=ledger.clock
        )
    )
    # The bank's fees are booked by the treasurer's rule, as most months' are.
    ledger.create_account(FEES, "expense")
    ledger.run(
        lambda s: create_rule(
            s,
            IBAN,
            "Commissioni",
            Conditions(text_contains="commissione"),
            action="book",
            account_code=FEES,
            narration="Commissioni bancarie",
            origin=ORIGIN,
            clock=ledger.clock,
        )
    )
    return made, loan_ids


def statement_lines(
    n: int, gifts: list[tuple[int, int]], loans: list[int]
) -> list[tuple[date, int, str, str | None]]:
    out: list[tuple[date, int, str, str | None]] = []
    g = 0
    for i in range(n):
        on = START + timedelta(days=i * 30 // n)
        if i % 3 == 0 and g < len(gifts):
            gift_id, amount = gifts[g]
            g += 1
            out.append((on, amount, f"BONIFICO DONAZIONE {i}", creditor_reference("D", gift_id)))
        elif i % 20 == 1 and loans:
            loan = loans[(i // 20) % len(loans)]
            ref = printable(creditor_reference("L", loan))
            out.append((on, 4500, f"RATA PRESTITO {ref}", None))
        elif i % 2 == 0:
            out.append((on, -(150 + i % 7), f"COMMISSIONE {i}", None))
        else:
            out.append((on, 2000 + i % 13, f"BONIFICO DA CLIENTE {i}", None))
    return out


def _core_insert(ledger: Ledger, data: bytes) -> float:
    """The same rows by plain Core into bank_lines (under a throwaway import row)."""
    statement = parse_camt053(data)[0]
    now = ledger.clock.now()

    def work(s: Any) -> tuple[int, int, int]:
        from ledger.reconcile.models import BankAccount

        account = s.query(BankAccount).first()
        record = StatementImport(
            bank_account_id=account.id,
            sha256="0" * 64,
            format="core",
            actor="bench",
            imported_at=now,
            statement_count=1,
            line_count=len(statement.lines),
            new_count=len(statement.lines),
            already_count=0,
        )
        s.add(record)
        s.flush()
        row = BankStatement(
            import_id=record.id,
            bank_account_id=account.id,
            position=1,
            line_count=len(statement.lines),
        )
        s.add(row)
        s.flush()
        return account.id, record.id, row.id

    account_id, import_id, statement_id = ledger.run(work)
    t0 = time.perf_counter()
    rows = []
    for n, line in enumerate(statement.lines):
        normalized = normalize_text(line.text, line.bank_ref)
        rows.append(
            {
                "bank_account_id": account_id,
                "import_id": import_id,
                "statement_id": statement_id,
                "booked_on": line.booked_on,
                "amount_minor": line.amount_minor,
                "text": line.text,
                "normalized_text": normalized,
                "raw": line.raw,
                "bank_ref": f"CORE{n}",
                "ref_occurrence": 1,
                "reference": line.reference,
                "reversal": False,
                "fingerprint": fingerprint("CORE", line.booked_on, line.amount_minor, normalized),
                "occurrence": n + 1,
            }
        )
    with ledger.engine.begin() as conn:
        conn.execute(insert(BankLine.__table__), rows)
    return time.perf_counter() - t0


def bench_reconcile(
    url: str, out: Callable[[str], None], *, lines: int = 10_000, loans: int = 50
) -> None:
    """Import and auto-match a `lines`-line camt.053 on the database at `url`."""
    wire()
    clock = FixedClock(datetime(2026, 6, 15, 12, 0, tzinfo=UTC))
    ledger = Ledger(make_engine(url), clock=clock)
    try:
        gift_count = (lines + 2) // 3
        t0 = time.perf_counter()
        gifts, loan_ids = _world(ledger, gift_count, loans)
        # A campaign open while the donor gives (its writer's clock stays on 15 June).
        donor_campaign = _campaign(ledger, matched=False) if _postgresql(ledger) else None
        setup = time.perf_counter() - t0
        data = camt053(statement_lines(lines, gifts, loan_ids), opening=0)
        clock.instant = datetime(2026, 7, 20, 12, 0, tzinfo=UTC)  # every line booked by now
        out(
            f"- file: {lines:,} lines, {len(data) / 1e6:.1f} MB; setup of {gift_count:,} pending "
            f"transfer gifts and {loans} loans: {setup:.1f} s"
        )
        t0 = time.perf_counter()
        parsed = parse_camt053(data)
        parse = time.perf_counter() - t0
        assert len(parsed[0].lines) == lines
        out(f"- baseline, parsing alone: {lines / parse:,.0f} lines/s ({parse:.2f} s)")
        t0 = time.perf_counter()
        report = ledger.run(
            lambda s: import_statement(s, IBAN, data, origin=ORIGIN, clock=ledger.clock).value
        )
        imported = time.perf_counter() - t0
        assert report.new == lines, report.new
        out(f"- import_statement: {lines / imported:,.0f} lines/s ({imported:.2f} s)")
        donor = _Donor(url, donor_campaign) if donor_campaign is not None else None
        try:
            alone = donor.gifts(DONOR_ALONE_SECONDS) if donor is not None else None
            if donor is not None:
                donor.start()
            seen, stop = count_statements(ledger.engine)
            t0 = time.perf_counter()
            try:
                counts = ledger.run(
                    lambda s: apply_references(s, IBAN, origin=ORIGIN, clock=ledger.clock).value
                )
            finally:
                matched = time.perf_counter() - t0
                stop()
            during = donor.stop() if donor is not None else None
        finally:
            if donor is not None:
                donor.close()
        out(
            f"- apply_references: {counts.examined / matched:,.0f} lines/s "
            f"({counts.examined:,} examined in {matched:.2f} s: {counts.settled_gifts:,} gifts "
            f"settled, {counts.repayments:,} repayments recorded, {counts.booked_by_rules:,} "
            f"fees booked by a rule, {counts.left:,} left)"
        )
        sent = sum(seen.values())
        out(
            f"  {sent:,} statements, {sent / counts.examined:.1f} per line examined, the "
            "statement counter on (SQLite: the journal's writes on the DB-API cursor "
            "are not counted)"
        )
        if alone is not None and during is not None:
            out(
                f"- a donor's cash gifts on another campaign during the run: {_waits(during)}; "
                f"baseline, the same writer alone just before: {_waits(alone)}"
            )
        again = ledger.run(
            lambda s: import_statement(s, IBAN, data, origin=ORIGIN, clock=ledger.clock).value
        )
        assert again.new == 0
        core = _core_insert(ledger, data)
        out(f"- baseline, plain Core insert of the same rows: {lines / core:,.0f} lines/s")
        settled = ledger.read(
            lambda s: (
                s.query(Donation)
                .filter(Donation.status == "settled", Donation.campaign_id != donor_campaign)
                .count()
            )
        )
        assert settled == counts.settled_gifts
    finally:
        ledger.engine.dispose()


DONOR_ALONE_SECONDS = 3.0


def _postgresql(ledger: Ledger) -> bool:
    return ledger.engine.dialect.name == "postgresql"


def _donate(url: str, campaign_id: int, commands: Any, results: Any, stopping: Any) -> None:
    """A writer process: cash gifts one after another until a deadline or `stopping`,
    each gift's wait (seconds) sent back at the end of each stretch."""
    act = gift_writer(url, campaign_id, "donor")["gift"]
    results.put("ready")
    i = 0
    while (command := commands.get()) is not None:
        waits: list[float] = []
        while time.time() < command and not stopping.is_set():
            i += 1
            t = time.perf_counter()
            act(i)
            waits.append(time.perf_counter() - t)
        results.put(waits)


class _Donor:
    """One writer process (spawned, as gunicorn's workers are) recording cash gifts."""

    def __init__(self, url: str, campaign_id: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.commands = context.Queue()
        self.results = context.Queue()
        self.stopping = context.Event()
        self.process = context.Process(
            target=_donate,
            args=(url, campaign_id, self.commands, self.results, self.stopping),
            daemon=True,
        )
        self.process.start()
        assert self.results.get(timeout=120) == "ready"

    def gifts(self, seconds: float) -> list[float]:
        """Gifts for `seconds`, the process alone."""
        self.commands.put(time.time() + seconds)
        waits: list[float] = self.results.get(timeout=seconds + 120)
        return waits

    def start(self) -> None:
        """Gifts until `stop`."""
        self.stopping.clear()
        self.commands.put(time.time() + 3600)

    def stop(self) -> list[float]:
        """The waits of the gifts since `start` (the last one finishes first)."""
        self.stopping.set()
        waits: list[float] = self.results.get(timeout=120)
        return waits

    def close(self) -> None:
        """End the process, however the bench went: it must not give on into the next
        part."""
        self.stopping.set()
        self.commands.put(None)
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)


def _waits(waits: list[float]) -> str:
    if not waits:
        return "no gift finished"
    ms = sorted(w * 1000 for w in waits)
    return (
        f"{len(ms):,} gifts, {len(ms) / sum(waits):,.0f}/s, p50 {statistics.median(ms):.1f} ms, "
        f"longest {ms[-1]:,.0f} ms"
    )
