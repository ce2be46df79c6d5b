"""Bank accounts and statement imports, on SQLite and PostgreSQL, with the real sample files."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from stdnum import iban as stdnum_iban

from ledger.audit.models import AuditEvent
from ledger.commands import Origin
from ledger.core.service import Ledger
from ledger.core.uow import unit_of_work
from ledger.reconcile import statements as importer
from ledger.reconcile.commands import (
    create_bank_account,
    get_bank_account,
    ignore_line,
    import_statement,
)
from ledger.reconcile.errors import (
    InvalidBankAccountError,
    StatementAccountMismatchError,
    StatementCurrencyMismatchError,
    StatementUnbalancedError,
)
from ledger.reconcile.formats.camt import parse_camt053
from ledger.reconcile.matching import line_views
from ledger.reconcile.models import BankAccount, BankLine, BankStatement, StatementImport
from ledger.reconcile.parsed import ParsedLine, ParsedStatement
from tests.bank_fixtures import (
    FI_053,
    FI_054,
    LITHUANIAN_053,
    MULTI_053,
    POSTFINANCE_053,
    POSTFINANCE_054,
    fixture_bytes,
    fixtures_dir,
)
from tests.integration.commands_helpers import assert_once
from tests.integration.conftest import Run

FI = "FI7433010001222090"
CH = "CH2909000000250094239"
LT = "LT007180000000000000"
NL = "NL26VAYB8060476890"
CLI = Origin(channel="cli", source="test")


def _account(ledger: Ledger, iban: str, code: str, currency: str = "EUR") -> None:
    ledger.create_account(code, "asset", currency=currency)
    ledger.run(
        lambda s: create_bank_account(
            s, iban=iban, account_code=code, origin=CLI, clock=ledger.clock
        )
    )


def _import(ledger: Ledger, iban: str, data: bytes, **kw: Any) -> importer.ImportReport:
    return ledger.run(
        lambda s: import_statement(s, iban, data, origin=CLI, clock=ledger.clock, **kw).value
    )


def _lines(ledger: Ledger, iban: str, *, top: bool = True) -> list[BankLine]:
    def read(s: Session) -> list[BankLine]:
        account = get_bank_account(s, iban)
        q = select(BankLine).where(BankLine.bank_account_id == account.id)
        if top:
            q = q.where(BankLine.parent_line_id.is_(None))
        rows = list(s.scalars(q.order_by(BankLine.id)))
        s.expunge_all()
        return rows

    return ledger.read(read)


def _count(ledger: Ledger, model: Any) -> int:
    return ledger.read(lambda s: s.scalar(select(func.count()).select_from(model)))


def test_file1_fi_camt053_imports_balanced(ledger: Ledger) -> None:
    _account(ledger, FI, "assets:bank:fi")
    report = _import(ledger, FI, fixture_bytes(FI_053))
    (st1,) = report.statements
    assert (st1.opening_minor, st1.closing_minor, st1.computed_closing_minor) == (
        1_000_000,
        2_364_483,
        2_364_483,
    )
    assert st1.balanced is True and st1.difference_minor == 0
    assert (report.lines, report.new, report.already_imported) == (10, 10, ())
    lines = _lines(ledger, FI)
    assert sum(x.amount_minor for x in lines) == 1_364_483  # the bank balance: entries only
    children = [x for x in _lines(ledger, FI, top=False) if x.parent_line_id is not None]
    # Split: the 3-detail batch (4,230.05) and the 2 x 100.00 charges; not the 1-detail ones.
    assert sorted(x.amount_minor for x in children) == [
        -200_002,
        -123_002,
        -100_001,
        -10_000,
        -10_000,
    ]
    audit = ledger.read(
        lambda s: (
            s.scalars(select(AuditEvent).where(AuditEvent.action == "bank.import")).one().details
        )
    )
    assert audit["new"] == 10 and audit["sha256"] == report.sha256
    stored = ledger.read(lambda s: s.scalars(select(StatementImport)).one().actor)
    assert stored == "cli"


def test_reimport_adds_nothing_and_says_which_lines_were_there(ledger: Ledger) -> None:
    _account(ledger, FI, "assets:bank:fi")
    first = _import(ledger, FI, fixture_bytes(FI_053))
    again = _import(ledger, FI, fixture_bytes(FI_053))
    assert again.new == 0 and again.lines == 10
    assert sorted(k.line_id for k in again.already_imported) == sorted(first.new_line_ids)
    assert len(_lines(ledger, FI)) == 10
    assert _count(ledger, StatementImport) == 2


def test_file5_camt054_after_file1_adds_only_what_is_new_and_the_breakdowns(
    ledger: Ledger,
) -> None:
    _account(ledger, FI, "assets:bank:fi")
    _import(ledger, FI, fixture_bytes(FI_053))
    report = _import(ledger, FI, fixture_bytes(FI_054))
    assert report.statements[0].balanced is None  # a notification carries no balances
    assert report.lines == 6 and report.new == 2 and len(report.already_imported) == 4
    assert report.details_added == 3  # ARCH04, ARCH21, ARCH05 now split; ARCH03 was already
    reversal = next(x for x in _lines(ledger, FI) if x.reversal)
    details = [x for x in _lines(ledger, FI, top=False) if x.parent_line_id == reversal.id]
    assert [d.reason_code for d in details] == ["AC01", "CUST"]


def test_a_breakdown_arriving_for_a_line_explained_already_leaves_it_whole(
    ledger: Ledger,
) -> None:
    """File 5 breaks down entries of file 1. An entry the treasurer has explained in
    between keeps its explanation and gets no detail lines: split, it would leave the
    lines to explain and its details would ask to be explained (and booked) again."""
    _account(ledger, FI, "assets:bank:fi")
    _import(ledger, FI, fixture_bytes(FI_053))
    arch04 = next(x for x in _lines(ledger, FI) if (x.bank_ref or "").endswith("ARCH04"))
    ledger.run(
        lambda s: ignore_line(
            s, arch04.id, "stipendi: registrati a mano", origin=CLI, clock=ledger.clock
        )
    )
    report = _import(ledger, FI, fixture_bytes(FI_054))
    assert report.details_added == 2  # ARCH21 and ARCH05; not ARCH04
    assert report.kept_whole == (arch04.id,)
    # Read back as a replay and the result page read it.
    again = ledger.read(lambda s: importer.report_of(s, report.import_id))
    assert (again.details_added, again.kept_whole) == (2, (arch04.id,))
    assert [x for x in _lines(ledger, FI, top=False) if x.parent_line_id == arch04.id] == []
    views = ledger.read(lambda s: line_views(s, get_bank_account(s, FI)))
    assert [v.status for v in views if v.id == arch04.id] == ["ignored"]
    audit = ledger.read(
        lambda s: s.scalars(
            select(AuditEvent.details)
            .where(AuditEvent.action == "bank.import")
            .order_by(AuditEvent.id.desc())
        ).first()
    )
    assert audit["kept_whole"] == [arch04.id]


def test_a_breakdown_imported_while_the_line_is_being_explained_waits_and_keeps_it_whole(
    pg_ledger: Ledger,
) -> None:
    """The import locks a line before it asks whether anything explains it: an import
    arriving while a treasurer's explanation of the line is not committed yet waits
    for it, then keeps the line whole. (The other order is refused by `lock_line`:
    the detail lines' foreign key already locks their parent.)"""
    ledger = pg_ledger
    _account(ledger, FI, "assets:bank:fi")
    _import(ledger, FI, fixture_bytes(FI_053))
    arch04 = next(x for x in _lines(ledger, FI) if (x.bank_ref or "").endswith("ARCH04"))
    reports: list[importer.ImportReport] = []
    other = threading.Thread(
        target=lambda: reports.append(_import(ledger, FI, fixture_bytes(FI_054)))
    )
    with unit_of_work(ledger.sessions) as session:
        ignore_line(session, arch04.id, "a mano", origin=CLI, clock=ledger.clock)
        other.start()
        other.join(1.0)
        assert other.is_alive()  # waiting for the line's lock
    other.join(10)
    (report,) = reports
    assert (report.details_added, report.kept_whole) == (2, (arch04.id,))
    assert [x for x in _lines(ledger, FI, top=False) if x.parent_line_id == arch04.id] == []


def test_file2_chf_refused_for_eur_account(ledger: Ledger) -> None:
    _account(ledger, CH, "assets:bank:ch_eur", "EUR")
    with pytest.raises(StatementCurrencyMismatchError) as raised:
        _import(ledger, CH, fixture_bytes(POSTFINANCE_053))
    assert raised.value.code == "statement_wrong_currency"
    assert _count(ledger, BankLine) == 0 and _count(ledger, StatementImport) == 0


def test_another_accounts_file_is_refused(ledger: Ledger) -> None:
    _account(ledger, FI, "assets:bank:fi")
    with pytest.raises(StatementAccountMismatchError):
        _import(ledger, FI, fixture_bytes(MULTI_053))
    assert _count(ledger, BankLine) == 0


def test_file2_on_chf_account_refused_unbalanced_by_1537_unless_accepted(ledger: Ledger) -> None:
    _account(ledger, CH, "assets:bank:ch", "CHF")
    with pytest.raises(StatementUnbalancedError) as raised:
        _import(ledger, CH, fixture_bytes(POSTFINANCE_053))
    assert raised.value.details["difference"] == "1537.00"
    assert raised.value.details["statements"][0]["computed_closing"] == "216649.21"
    assert (
        _count(ledger, BankLine) == 0 and _count(ledger, AuditEvent) == 1
    )  # the bank account's creation
    report = _import(
        ledger, CH, fixture_bytes(POSTFINANCE_053), accept_unbalanced=True, reason="FWAV"
    )
    assert report.accepted_unbalanced and report.statements[0].difference_minor == 153_700
    assert report.new == 5  # both entries sharing AcctSvcrRef 07582000303KBMSU kept
    shared = [x for x in _lines(ledger, CH) if x.bank_ref == "07582000303KBMSU"]
    assert sorted(x.amount_minor for x in shared) == [153_700, 169_222]
    record = ledger.read(
        lambda s: s.execute(
            select(StatementImport.accepted_by, StatementImport.accepted_reason)
        ).one()
    )
    assert tuple(record) == ("cli", "FWAV")
    assert ledger.read(lambda s: s.scalars(select(BankStatement)).one().accepted)


def test_file6_reused_bank_ref_a_year_earlier_is_not_deduplicated(ledger: Ledger) -> None:
    _account(ledger, CH, "assets:bank:ch", "CHF")
    _import(ledger, CH, fixture_bytes(POSTFINANCE_053), accept_unbalanced=True, reason="FWAV")
    report = _import(ledger, CH, fixture_bytes(POSTFINANCE_054))
    assert report.new == 2 and report.already_imported == ()
    shared = [x for x in _lines(ledger, CH) if x.bank_ref == "07582000303KBMSU"]
    assert sorted((x.booked_on.year, x.amount_minor) for x in shared) == [
        (2019, 153_700),
        (2020, 153_700),
        (2020, 169_222),
    ]
    children = [x for x in _lines(ledger, CH, top=False) if x.parent_line_id is not None]
    assert sorted(x.amount_minor for x in children) == [20_000, 25_000, 30_000, 32_400, 46_300]


def test_file3_invalid_iban_refused_and_its_available_balances_consistent(
    ledger: Ledger,
) -> None:
    # The file's IBAN LT00... has check digits 00: no bank account can have it, so the
    # file is refused for any account; its statement, read without the IBAN, balances
    # on its available balances (the only ones it has).
    with pytest.raises(InvalidBankAccountError):
        _account(ledger, LT, "assets:bank:lt")
    _account(ledger, FI, "assets:bank:fi")
    with pytest.raises(StatementAccountMismatchError):
        _import(ledger, FI, fixture_bytes(LITHUANIAN_053))
    (parsed,) = parse_camt053(fixture_bytes(LITHUANIAN_053))
    report = _import_parsed(ledger, [dataclasses.replace(parsed, iban=None)], accept=False)
    (s,) = report.statements
    assert s.balance_kind == "available" and s.balanced is True
    assert (s.opening_minor, s.closing_minor) == (276_808, 0)
    assert report.new == 4


def test_file4_two_statements_continue(ledger: Ledger) -> None:
    _account(ledger, NL, "assets:bank:nl")
    report = _import(ledger, NL, fixture_bytes(MULTI_053))
    assert [s.balanced for s in report.statements] == [True, True]
    assert [(s.opening_minor, s.closing_minor) for s in report.statements] == [
        (1_815, 2_700),
        (2_700, 2_000),
    ]
    assert report.new == 2


# --------------------------------------------------------------------------- hand-made
START = date(2026, 3, 2)


def _day_lines(day: int) -> tuple[ParsedLine, ...]:
    on = START + timedelta(days=day)
    same = ParsedLine(booked_on=on, amount_minor=-50_050, text="BONIFICO", raw="r")
    return (
        same,
        same,
        same,  # three genuine identical rows
        ParsedLine(on, 1_000 + day, f"GIFT {day}", "r", bank_ref=f"REF{day % 2}"),
    )


def _statement(first: int, last: int) -> ParsedStatement:
    lines = tuple(x for d in range(first, last + 1) for x in _day_lines(d))
    opening = sum(x.amount_minor for d in range(first) for x in _day_lines(d))
    return ParsedStatement(
        iban=FI,
        currency="EUR",
        opening_minor=opening,
        closing_minor=opening + sum(x.amount_minor for x in lines),
        opening_on=START + timedelta(days=first),
        closing_on=START + timedelta(days=last),
        lines=lines,
    )


def _import_parsed(
    ledger: Ledger, statements: list[ParsedStatement], *, accept: bool = True
) -> importer.ImportReport:
    def work(s: Session) -> importer.ImportReport:
        return importer.import_parsed(
            s,
            get_bank_account(s, FI, lock=True),
            statements,
            sha256="0" * 64,
            fmt="test",
            preset=None,
            accept_unbalanced=accept,
            reason="out of order in a test" if accept else None,
            actor="cli",
            now=ledger.clock.now(),
        )

    return ledger.run(work)


def test_three_identical_rows_stay_three_and_overlaps_add_nothing(ledger: Ledger) -> None:
    _account(ledger, FI, "assets:bank:fi")
    assert _import_parsed(ledger, [_statement(0, 1)]).new == 8
    overlap = _import_parsed(ledger, [_statement(1, 2)])
    assert (overlap.new, len(overlap.already_imported)) == (4, 4)
    assert len(_lines(ledger, FI)) == 12
    assert sum(1 for x in _lines(ledger, FI) if x.amount_minor == -50_050) == 9


def _key(line: BankLine) -> tuple[Any, ...]:
    return (line.booked_on, line.amount_minor, line.normalized_text, line.bank_ref, line.occurrence)


FILES = [(0, 1), (1, 2), (2, 3), (0, 3), (3, 3)]


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=st.lists(st.sampled_from(range(len(FILES))), min_size=1, max_size=6))
def test_any_sequence_of_overlapping_files_leaves_the_same_lines(
    ledger: Ledger, order: list[int]
) -> None:
    # A fresh bank account per example (the database is the test's): the lines stored are
    # those of the days the files cover, whatever the order and the repeats.
    account_id = _fresh(ledger)
    covered = sorted({d for i in order for d in range(FILES[i][0], FILES[i][1] + 1)})
    for i in order:
        _import_parsed_for(ledger, account_id, [_statement(*FILES[i])])
    expected = sorted(
        (x.booked_on, x.amount_minor, importer.normalize_text(x.text, x.bank_ref))
        for d in covered
        for x in _day_lines(d)
    )
    got = sorted(
        (x.booked_on, x.amount_minor, x.normalized_text) for x in _lines_of(ledger, account_id)
    )
    assert got == expected


_COUNTER = iter(range(10**6))


def _fresh(ledger: Ledger) -> int:
    n = next(_COUNTER)
    code = f"assets:bank:h{n}"
    ledger.create_account(code, "asset")
    bban = f"{n:014d}"
    iban = f"FI{stdnum_iban.calc_check_digits('FI00' + bban)}{bban}"
    return ledger.run(
        lambda s: (
            create_bank_account(
                s, iban=iban, account_code=code, origin=CLI, clock=ledger.clock
            ).value.id
        )
    )


def _import_parsed_for(ledger: Ledger, account_id: int, statements: list[ParsedStatement]) -> None:
    def work(s: Session) -> None:
        account = s.get(BankAccount, account_id)
        assert account is not None
        plain = [
            ParsedStatement(
                iban=None,
                currency=x.currency,
                opening_minor=x.opening_minor,
                closing_minor=x.closing_minor,
                opening_on=x.opening_on,
                closing_on=x.closing_on,
                lines=x.lines,
            )
            for x in statements
        ]
        importer.import_parsed(
            s,
            account,
            plain,
            sha256="0" * 64,
            fmt="test",
            preset=None,
            accept_unbalanced=True,
            reason="any order",
            actor="cli",
            now=ledger.clock.now(),
        )

    ledger.run(work)


def _lines_of(ledger: Ledger, account_id: int) -> list[BankLine]:
    def read(s: Session) -> list[BankLine]:
        rows = list(
            s.scalars(
                select(BankLine).where(
                    BankLine.bank_account_id == account_id, BankLine.parent_line_id.is_(None)
                )
            )
        )
        s.expunge_all()
        return rows

    return ledger.read(read)


def test_append_only_tables_refuse_update_and_delete(ledger: Ledger) -> None:
    _account(ledger, FI, "assets:bank:fi")
    _import(ledger, FI, fixture_bytes(FI_053))
    for table in ("bank_lines", "bank_statements", "statement_imports"):
        for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"):
                ledger.run(lambda s, q=sql: s.execute(text(q)))
    assert len(_lines(ledger, FI)) == 10


def test_two_imports_of_one_file_at_once_add_its_lines_once(pg_ledger: Ledger) -> None:
    _account(pg_ledger, FI, "assets:bank:fi")
    data = fixture_bytes(FI_053)
    barrier = threading.Barrier(2)
    reports: list[importer.ImportReport] = []
    errors: list[BaseException] = []

    def go() -> None:
        try:
            barrier.wait()
            reports.append(_import(pg_ledger, FI, data))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r.new for r in reports) == [0, 10]
    assert len(_lines(pg_ledger, FI)) == 10


def test_create_and_import_once_per_request_key(ledger: Ledger) -> None:
    ledger.create_account("assets:bank:fi", "asset")
    ledger.create_account("assets:bank:other", "asset")

    def create(code: str) -> Any:
        return lambda s, key: create_bank_account(
            s, iban=FI, account_code=code, origin=CLI, clock=ledger.clock, key=key
        )

    assert_once(ledger, create("assets:bank:fi"), create("assets:bank:other"))
    data = fixture_bytes(FI_053)

    def act(reason: str | None) -> Any:
        return lambda s, key: import_statement(
            s,
            FI,
            data,
            accept_unbalanced=reason is not None,
            reason=reason,
            origin=CLI,
            clock=ledger.clock,
            key=key,
        )

    first = assert_once(ledger, act(None), act("another request"), key="import-1")
    again = ledger.run(lambda s: act(None)(s, "import-1"))
    assert again.value.new == first.value.new == 10
    assert again.value.statements == first.value.statements


# --------------------------------------------------------------------------- the CLI
def _json(result: Any) -> Any:
    return json.loads(result.output)


def test_cli_create_import_and_list(run: Run, tmp_path: Path) -> None:
    assert (
        run(
            "accounts", "create", "assets:bank:ch", "--type", "asset", "--currency", "CHF"
        ).exit_code
        == 0
    )
    created = run(
        "bank",
        "accounts",
        "create",
        "--iban",
        "CH29 0900 0000 2500 9423 9",
        "--account",
        "assets:bank:ch",
    )
    assert created.exit_code == 0, created.output
    assert _json(created)["iban"] == CH and _json(created)["currency"] == "CHF"
    path = fixtures_dir() / POSTFINANCE_053
    refused = run("bank", "import", str(path), "--iban", CH)
    assert refused.exit_code == 1
    error = _json(refused)["error"]
    assert error["code"] == "statement_unbalanced" and "1537.00" in error["message"]
    assert _json(run("bank", "lines", "--iban", CH, "--format", "json")) == []
    accepted = run(
        "bank", "import", str(path), "--iban", CH, "--accept-unbalanced", "--reason", "FWAV"
    )
    assert accepted.exit_code == 0, accepted.output
    body = _json(accepted)
    (s,) = body["statements"]
    assert (s["opening"], s["closing"], s["computed_closing"], s["balanced"], s["difference"]) == (
        "211993.19",
        "215112.21",
        "216649.21",
        False,
        "1537.00",
    )
    assert (body["lines"], body["new"], body["already_imported"]) == (5, 5, [])
    again = _json(
        run("bank", "import", str(path), "--iban", CH, "--accept-unbalanced", "--reason", "x")
    )
    assert again["new"] == 0 and len(again["already_imported"]) == 5
    lines = _json(run("bank", "lines", "--iban", CH, "--status", "unexplained", "--format", "json"))
    assert len(lines) == 5
    assert {x["status"] for x in lines} == {"unexplained"}
    assert sorted(x["amount"] for x in lines)[0] == "-77.70"
    table = run("bank", "lines", "--iban", CH, "--format", "table")
    assert "unexplained" in table.output


def test_cli_refuses_a_file_for_another_currency_and_a_bad_iban(run: Run) -> None:
    run("accounts", "create", "assets:bank:main", "--type", "asset")
    bad = run("bank", "accounts", "create", "--iban", "IT00X", "--account", "assets:bank:main")
    assert bad.exit_code == 1 and "invalid_bank_account" in bad.output
    assert (
        run("bank", "accounts", "create", "--iban", CH, "--account", "assets:bank:main").exit_code
        == 0
    )
    refused = run("bank", "import", str(fixtures_dir() / POSTFINANCE_054), "--iban", CH)
    assert refused.exit_code == 1
    assert _json(refused)["error"]["code"] == "statement_wrong_currency"
