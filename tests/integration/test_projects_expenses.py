"""Expenses: documents, files, proof of payment and allocations that never exceed them."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from ledger.core.balances import balance
from ledger.core.journal import get_entry
from ledger.projects import accounts, commands
from ledger.projects.errors import (
    InvalidExpenseError,
    InvalidFileError,
    OverAllocatedError,
    ProofOfPaymentError,
)
from ledger.projects.expenses import AllocationSpec
from ledger.projects.models import ExpenseAllocation, ProjectFile
from ledger.projects.service import FunderSettings, LineSpec, SourceAmount
from tests.integration.commands_helpers import assert_once, footprint
from tests.integration.projects_world import build_world, eur

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 32


def second_funder(world):
    """Add the other foundation as a second funder of the project; its funder id."""
    from ledger.projects import service
    from ledger.projects.getters import get_project

    def work(session):
        project = get_project(session, world.project)
        return service.add_funder(
            session,
            project,
            FunderSettings(world.other_foundation, eur("20000.00")),
            clock=world.clock,
        ).id

    return world.run(work)


def budgeted(world, *extra_funders):
    amounts = [SourceAmount("grant", eur("40000.00"), world.funder)]
    amounts += [SourceAmount("grant", eur("10000.00"), f) for f in extra_funders]
    amounts.append(SourceAmount("partner", eur("40000.00"), world.partner))
    world.budget(
        [
            LineSpec("A.1", "personnel", "Operatori", tuple(amounts)),
            LineSpec("B.1", "services", "Servizi", (SourceAmount("own", eur("10000.00")),)),
        ]
    )


def expense(world, number="F-1", *, allocations, net="1000.00", vat="0.00", key=None, **more):
    options = {
        "kind": "invoice",
        "supplier_id": world.supplier,
        "number": number,
        "issued_on": date(2026, 3, 10),
        "net_minor": eur(net),
        "vat_minor": eur(vat),
        "vat_recoverable": False,
        "paid_by": "payable",
        "allocations": allocations,
    }
    options.update(more)
    return world.run(
        lambda s: commands.record_expense(
            s,
            world.project,
            origin=world.origin(),
            clock=world.clock,
            key=key or number,
            **options,
        )
    )


def test_a_1000_invoice_charged_600_to_one_funder_and_500_to_another_is_refused(ledger, clock):
    world = build_world(ledger, clock)
    other = second_funder(world)
    budgeted(world, other)
    before = footprint(ledger)
    with pytest.raises(OverAllocatedError) as refused:
        expense(
            world,
            allocations=[
                AllocationSpec("A.1", "grant", eur("600.00"), world.funder),
                AllocationSpec("A.1", "grant", eur("500.00"), other),
            ],
        )
    assert refused.value.details["eligible_minor"] == eur("1000.00")
    assert footprint(ledger) == before


def test_a_document_charged_to_a_second_funder_later_is_refused_beyond_its_amount(ledger, clock):
    world = build_world(ledger, clock)
    other = second_funder(world)
    budgeted(world, other)
    done = expense(
        world, allocations=[AllocationSpec("A.1", "grant", eur("600.00"), world.funder)]
    ).value
    before = footprint(ledger)
    with pytest.raises(OverAllocatedError):
        world.run(
            lambda s: commands.charge_document(
                s,
                done.document_id,
                [AllocationSpec("A.1", "grant", eur("500.00"), other)],
                origin=world.origin(),
                clock=clock,
                key="second",
            )
        )
    assert footprint(ledger) == before
    charged = world.run(
        lambda s: commands.charge_document(
            s,
            done.document_id,
            [AllocationSpec("A.1", "grant", eur("400.00"), other)],
            origin=world.origin(),
            clock=clock,
            key="second",
        )
    ).value
    assert charged.allocated_minor == eur("1000.00")
    p = world.project
    assert ledger.balance(accounts.line(p, "A.1")).posted == eur("1000.00")
    assert ledger.balance(accounts.not_charged(p)).posted == 0
    assert ledger.balance(accounts.payables(p)).posted == eur("1000.00")  # credit-normal


def test_an_expense_is_one_entry_by_line_with_ids_only_in_its_metadata(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    done = expense(
        world,
        net="1000.00",
        vat="220.00",
        vat_recoverable=True,
        paid_by="bank",
        allocations=[
            AllocationSpec("A.1", "grant", eur("700.00"), world.funder),
            AllocationSpec("B.1", "partner", eur("300.00"), world.partner, world.partner),
        ],
    ).value
    assert done.eligible_minor == eur("1000.00")
    entry = ledger.read(lambda s: get_entry(s, sequence=done.sequence))
    p = world.project
    assert {(leg.account, leg.amount.minor) for leg in entry.postings} == {
        (accounts.line(p, "A.1"), eur("700.00")),
        (accounts.line(p, "B.1"), eur("300.00")),
        (accounts.not_charged(p), eur("220.00")),
        (accounts.cash(p), -eur("1220.00")),
    }
    assert entry.kind == "project_expense"
    assert entry.effective_on == date(2026, 3, 10)
    assert entry.metadata == {
        "project_id": p,
        "document_id": done.document_id,
        "funder_ids": str(world.funder),
        "partner_ids": str(world.partner),
    }
    assert "Tipografia" not in entry.narration


def test_vat_that_is_not_recoverable_is_eligible(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    done = expense(
        world,
        net="1000.00",
        vat="220.00",
        allocations=[AllocationSpec("A.1", "grant", eur("1220.00"), world.funder)],
    ).value
    assert done.eligible_minor == eur("1220.00")


def test_recording_an_expense_twice_with_one_key_books_once(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    allocations = [AllocationSpec("A.1", "grant", eur("100.00"), world.funder)]

    def act(session, key):
        return commands.record_expense(
            session,
            world.project,
            kind="receipt",
            supplier_id=world.supplier,
            number="R-9",
            issued_on=date(2026, 2, 1),
            net_minor=eur("100.00"),
            vat_minor=0,
            vat_recoverable=False,
            paid_by="payable",
            allocations=allocations,
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def conflicting(session, key):
        return commands.record_expense(
            session,
            world.project,
            kind="receipt",
            supplier_id=world.supplier,
            number="R-9",
            issued_on=date(2026, 2, 1),
            net_minor=eur("100.00"),
            vat_minor=0,
            vat_recoverable=False,
            paid_by="payable",
            allocations=[AllocationSpec("A.1", "grant", eur("90.00"), world.funder)],
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    first = assert_once(ledger, act, conflicting)
    assert first.value.allocated_minor == eur("100.00")


def test_the_same_document_cannot_be_recorded_twice(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    allocations = [AllocationSpec("A.1", "grant", eur("100.00"), world.funder)]
    expense(world, allocations=allocations, key="a")
    with pytest.raises(InvalidExpenseError):
        expense(world, allocations=allocations, key="b")


def test_a_line_outside_the_budget_in_force_is_refused(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    with pytest.raises(InvalidExpenseError):
        expense(world, allocations=[AllocationSpec("Z.9", "own", eur("10.00"))])


@pytest.mark.parametrize(
    ("content", "media_type"), [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG, "image/jpeg")]
)
def test_a_pdf_or_an_image_is_kept_with_its_sha256(ledger, clock, content, media_type):
    import hashlib

    world = build_world(ledger, clock)
    budgeted(world)
    expense(world, allocations=[AllocationSpec("A.1", "own", eur("10.00"))], file=content)
    stored = ledger.read(
        lambda s: s.execute(
            select(ProjectFile.media_type, ProjectFile.sha256, ProjectFile.content)
        ).one()
    )
    assert tuple(stored) == (
        media_type,
        hashlib.sha256(content).hexdigest(),
        content,
    )


@pytest.mark.parametrize(
    "content",
    [b"", b"GIF89a" + b"\x00" * 10, b"<html><script>", b"MZ\x90\x00", b"%PDX-1.4"],
)
def test_a_file_that_is_not_a_pdf_jpeg_or_png_by_its_bytes_is_refused(ledger, clock, content):
    world = build_world(ledger, clock)
    budgeted(world)
    before = footprint(ledger)
    with pytest.raises(InvalidFileError):
        expense(world, allocations=[AllocationSpec("A.1", "own", eur("10.00"))], file=content)
    assert footprint(ledger) == before


def test_a_file_above_the_size_limit_is_refused(ledger, clock):
    from ledger.projects import expenses

    world = build_world(ledger, clock)
    budgeted(world)
    with pytest.raises(InvalidFileError) as refused:
        world.run(
            lambda s: expenses.record_expense(
                s,
                world.project,
                kind="invoice",
                supplier_id=world.supplier,
                number="BIG",
                issued_on=date(2026, 3, 1),
                net_minor=100,
                vat_minor=0,
                vat_recoverable=False,
                paid_by="payable",
                allocations=[AllocationSpec("A.1", "own", 100)],
                file=PDF + b"x" * 100,
                key="big",
                clock=clock,
                max_file_bytes=len(PDF) + 99,
            )
        )
    assert refused.value.details["limit"] == len(PDF) + 99
    world.run(
        lambda s: expenses.record_expense(
            s,
            world.project,
            kind="invoice",
            supplier_id=world.supplier,
            number="FITS",
            issued_on=date(2026, 3, 1),
            net_minor=100,
            vat_minor=0,
            vat_recoverable=False,
            paid_by="payable",
            allocations=[AllocationSpec("A.1", "own", 100)],
            file=PDF + b"x" * 99,
            key="fits",
            clock=clock,
            max_file_bytes=len(PDF) + 99,
        )
    )


def test_the_proof_of_payment_must_exist_and_an_entry_serves(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    allocations = [AllocationSpec("A.1", "own", eur("10.00"))]
    with pytest.raises(ProofOfPaymentError):
        expense(world, allocations=allocations, payment_line_id=999)
    with pytest.raises(ProofOfPaymentError):
        expense(world, allocations=allocations, payment_sequence=999)
    done = expense(world, allocations=allocations).value
    world.run(
        lambda s: commands.record_proof(
            s,
            done.document_id,
            payment_sequence=done.sequence,
            origin=world.origin(),
            clock=clock,
        )
    )
    with pytest.raises(ProofOfPaymentError):
        world.run(
            lambda s: commands.record_proof(
                s,
                done.document_id,
                payment_sequence=done.sequence,
                origin=world.origin(),
                clock=clock,
            )
        )


def test_allocations_are_append_only(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    expense(world, allocations=[AllocationSpec("A.1", "own", eur("10.00"))])

    def tamper(session):
        row = session.scalars(select(ExpenseAllocation)).one()
        row.amount_minor = 1
        session.flush()

    with pytest.raises(Exception, match=r"refused|append-only"):
        world.run(tamper)
    assert ledger.read(lambda s: balance(s, accounts.line(world.project, "A.1")).posted) == eur(
        "10.00"
    )


def test_a_reconciled_outgoing_bank_line_is_the_proof_and_an_unexplained_one_is_not(ledger, clock):
    from ledger.reconcile import statements as importer
    from ledger.reconcile.commands import book_line, create_bank_account, get_bank_account
    from ledger.reconcile.parsed import ParsedLine, ParsedStatement

    iban = "FI7433010001222090"
    world = build_world(ledger, clock)
    budgeted(world)
    p = world.project
    done = expense(world, allocations=[AllocationSpec("A.1", "own", eur("1000.00"))]).value
    ledger.create_account(accounts.cash(p), "asset")
    ledger.run(
        lambda s: create_bank_account(
            s, iban=iban, account_code=accounts.cash(p), origin=world.origin(), clock=clock
        )
    )
    line = ParsedLine(date(2026, 3, 20), -eur("1000.00"), "BONIFICO TIPOGRAFIA F-1", "raw")
    statement = ParsedStatement(
        iban=iban,
        currency="EUR",
        opening_minor=eur("5000.00"),
        closing_minor=eur("4000.00"),
        opening_on=date(2026, 3, 20),
        closing_on=date(2026, 3, 20),
        lines=(line,),
    )
    (line_id,) = ledger.run(
        lambda s: list(
            importer.import_parsed(
                s,
                get_bank_account(s, iban, lock=True),
                [statement],
                sha256="2" * 64,
                fmt="test",
                preset=None,
                accept_unbalanced=False,
                reason=None,
                actor="test",
                now=clock.now(),
            ).new_line_ids
        )
    )

    def prove(session):
        return commands.record_proof(
            session,
            done.document_id,
            payment_line_id=line_id,
            origin=world.origin(),
            clock=clock,
        )

    with pytest.raises(ProofOfPaymentError):
        world.run(prove)
    ledger.run(
        lambda s: book_line(
            s,
            line_id,
            accounts.payables(p),
            "Pagamento fornitore",
            origin=world.origin(),
            clock=clock,
        )
    )
    world.run(prove)
    assert ledger.balance(accounts.payables(p)).posted == 0
    # The attack of the security review (2026-12-07): the same 1,000.00 payment cited
    # as the quietanza of further invoices, of any size. Refused, nothing written.
    from tests.integration.commands_helpers import footprint

    before = footprint(ledger)
    with pytest.raises(ProofOfPaymentError, match=r"già la quietanza di documenti per 1\.000,00"):
        expense(
            world,
            "F-2",
            allocations=[AllocationSpec("A.1", "own", eur("0.01"))],
            net="0.01",
            payment_line_id=line_id,
        )
    assert footprint(ledger) == before
    second = expense(world, "F-3", allocations=[AllocationSpec("A.1", "own", eur("5.00"))])
    before = footprint(ledger)
    with pytest.raises(ProofOfPaymentError):
        world.run(
            lambda s: commands.record_proof(
                s,
                second.value.document_id,
                payment_line_id=line_id,
                origin=world.origin(),
                clock=clock,
            )
        )
    assert footprint(ledger) == before
    # The entry that booked the line is the same payment: citing it is refused.
    from ledger.core.models import JournalEntry
    from ledger.reconcile.models import BankAllocation

    booked = ledger.read(
        lambda s: s.scalar(
            select(JournalEntry.sequence).join(
                BankAllocation,
                (BankAllocation.record_id == JournalEntry.id) & (BankAllocation.line_id == line_id),
            )
        )
    )
    with pytest.raises(ProofOfPaymentError, match="indica come quietanza il movimento"):
        world.run(
            lambda s: commands.record_proof(
                s,
                second.value.document_id,
                payment_sequence=int(booked),
                origin=world.origin(),
                clock=clock,
            )
        )
    assert footprint(ledger) == before


def test_a_document_is_readable_by_staff_and_its_funders_officer_only(ledger, clock):
    from ledger.people.models import User
    from ledger.projects.errors import ProjectNotFoundError
    from ledger.projects.getters import readable_file

    world = build_world(ledger, clock)
    budgeted(world)
    done = expense(world, allocations=[AllocationSpec("A.1", "own", eur("10.00"))], file=PDF).value

    def read_as(user_id):
        return ledger.read(
            lambda s: readable_file(s, s.get(User, user_id), done.document_id).content
        )

    assert read_as(world.staff) == PDF
    assert read_as(world.officer) == PDF
    with pytest.raises(ProjectNotFoundError):
        read_as(world.other_officer)
    with pytest.raises(ProjectNotFoundError):
        ledger.read(lambda s: readable_file(s, None, done.document_id))


def test_charging_a_document_twice_with_one_key_charges_once(ledger, clock):
    world = build_world(ledger, clock)
    budgeted(world)
    done = expense(world, allocations=[AllocationSpec("A.1", "own", eur("100.00"))]).value

    def act(session, key):
        return commands.charge_document(
            session,
            done.document_id,
            [AllocationSpec("B.1", "own", eur("50.00"))],
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    def conflicting(session, key):
        return commands.charge_document(
            session,
            done.document_id,
            [AllocationSpec("B.1", "own", eur("60.00"))],
            origin=world.origin(),
            clock=clock,
            key=key,
        )

    assert_once(ledger, act, conflicting)
    assert ledger.balance(accounts.line(world.project, "B.1")).posted == eur("50.00")


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM expense_allocations",
        "UPDATE expense_allocations SET amount_minor = 1",
        "DELETE FROM project_files",
        "UPDATE project_files SET content = NULL",
    ],
)
def test_allocations_and_files_refuse_update_and_delete_in_the_database(ledger, clock, statement):
    from sqlalchemy import text

    world = build_world(ledger, clock)
    budgeted(world)
    expense(world, allocations=[AllocationSpec("A.1", "own", eur("10.00"))], file=PDF)
    with pytest.raises(Exception, match=r"refused"):
        ledger.run(lambda s: s.execute(text(statement)))


def test_a_partners_user_reads_the_file_of_a_cost_its_organisation_bore_and_no_other(ledger, clock):
    from ledger.people.models import User
    from ledger.projects.errors import ProjectNotFoundError
    from ledger.projects.getters import readable_file
    from tests.integration.projects_world import user

    world = build_world(ledger, clock)
    budgeted(world)
    own = expense(world, allocations=[AllocationSpec("A.1", "own", eur("10.00"))], file=PDF)
    borne = expense(
        world,
        "F-2",
        allocations=[AllocationSpec("A.1", "own", eur("10.00"))],
        file=PNG,
        paid_by="partner",
        partner_id=world.partner,
    )
    reader = world.run(lambda s: user(s, "comune@example.org", ["partner"], clock.now()))
    world.run(
        lambda s: commands.add_organisation_member(
            s,
            organisation_id=world.partner,
            user_id=reader,
            origin=world.origin(),
            clock=clock,
        )
    )

    def read_as(user_id, document_id):
        return ledger.read(lambda s: readable_file(s, s.get(User, user_id), document_id).content)

    assert read_as(reader, borne.value.document_id) == PNG
    with pytest.raises(ProjectNotFoundError):
        read_as(reader, own.value.document_id)
    assert read_as(world.officer, borne.value.document_id) == PNG
