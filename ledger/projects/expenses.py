"""Expenses: a document, its file, its proof of payment and its allocation rows, booked once.

An expense is a document (invoice, receipt, payslip, timesheet) from a supplier
with its net amount and VAT; its eligible amount is the net plus the VAT when
the VAT is not recoverable. Allocation rows charge it to budget lines of the
budget in force, each with its funding source and the partner who bore it.
The rule that matters: **the allocations of a document never exceed its
eligible amount**, counted over every charge the document ever had (so a
1,000.00 invoice charged 600.00 to one funder and 500.00 to another is refused
whether the two arrive together or one after the other). The document's row is
locked while it is charged, so two charges at once cannot both pass; a refusal
raises `OverAllocatedError` (409) and writes nothing.

Each expense is one journal entry on the document's date (sign convention and
accounts in `ledger.projects.accounts`): Dr each charged line's expense account,
Dr `not-charged` for the rest of the gross amount, Cr the project's cash, its
payables or the partner who bore the cost. A later charge moves money from
`not-charged` to the lines. Metadata carry the project, document, funder and
partner ids, never a name. The proof of payment is a reconciled outgoing bank
line (its allocations explain it fully) or a journal entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.core.clock import Clock
from ledger.core.errors import EntryNotFoundError
from ledger.core.journal import EntrySpec, PostingSpec, get_entry, post_entry
from ledger.core.models import JournalEntry
from ledger.core.money import Money, format_it
from ledger.projects import accounts
from ledger.projects.errors import (
    InvalidExpenseError,
    OverAllocatedError,
    ProofOfPaymentError,
)
from ledger.projects.files import MAX_BYTES, store_file
from ledger.projects.getters import budget_in_force, get_project
from ledger.projects.models import (
    DOCUMENT_KINDS,
    PAID_BY,
    BudgetLine,
    ExpenseAllocation,
    Project,
    ProjectDocument,
    ProjectFunder,
    ProjectOrganisation,
    ProjectPartner,
)
from ledger.reconcile.matching import state_of
from ledger.reconcile.models import BankAccount, BankAllocation, BankLine

CHARGE_SOURCES = ("grant", "partner", "fundraising", "own", "public")


@dataclass(frozen=True, slots=True)
class AllocationSpec:
    """A charge of part of a document to a budget line and a funding source.

    `ref` is the funder (project_funders id) of a grant, the organisation of a
    partner's co-financing, 0 otherwise; `partner_id` the partner who bore it."""

    line_code: str
    source: str
    amount_minor: int
    ref: int = 0
    partner_id: int | None = None

    def plain(self) -> list[Any]:
        return [self.line_code, self.source, self.ref, self.partner_id, self.amount_minor]


@dataclass(frozen=True, slots=True)
class Expense:
    """A document and the entry this act booked for it (created=False on a replay)."""

    document_id: int
    sequence: int
    eligible_minor: int
    allocated_minor: int


def _amount(value: object, name: str, *, zero: bool = False) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 0
        or (value == 0 and not zero)
    ):
        raise InvalidExpenseError(
            f"L'importo {name} è un numero intero di centesimi"
            + (" non negativo." if zero else " maggiore di zero."),
            field=name,
        )
    return value


def _check_allocations(
    session: Session, project: Project, allocations: Sequence[AllocationSpec]
) -> None:
    version = budget_in_force(session, project.id)
    if version is None:
        raise InvalidExpenseError(
            "Il progetto non ha ancora un budget approvato: non si può imputare una spesa.",
            field="allocations",
        )
    codes = set(session.scalars(select(BudgetLine.code).where(BudgetLine.version_id == version.id)))
    funders = set(
        session.scalars(select(ProjectFunder.id).where(ProjectFunder.project_id == project.id))
    )
    partners = set(
        session.scalars(
            select(ProjectPartner.organisation_id).where(ProjectPartner.project_id == project.id)
        )
    )
    for a in allocations:
        if a.line_code not in codes:
            raise InvalidExpenseError(
                f"La voce {a.line_code} non è nel budget in vigore (versione {version.number}).",
                field="line",
            )
        if a.source not in CHARGE_SOURCES:
            raise InvalidExpenseError(
                f"Una spesa si imputa a: {', '.join(CHARGE_SOURCES)} (non {a.source}).",
                field="source",
            )
        _amount(a.amount_minor, "amount")
        if a.source == "grant" and a.ref not in funders:
            raise InvalidExpenseError(
                f"Il finanziatore {a.ref} non finanzia il progetto.", field="source"
            )
        if a.source == "partner" and a.ref not in partners:
            raise InvalidExpenseError(
                f"L'organizzazione {a.ref} non è partner del progetto.", field="source"
            )
        if a.source not in ("grant", "partner") and a.ref != 0:
            raise InvalidExpenseError(
                f"La fonte {a.source} non nomina un finanziatore o un partner.", field="source"
            )
        if a.partner_id is not None and a.partner_id not in partners:
            raise InvalidExpenseError(
                f"L'organizzazione {a.partner_id} non è partner del progetto.", field="partner"
            )


def _within(
    document: ProjectDocument, already: int, allocations: Sequence[AllocationSpec], currency: str
) -> int:
    asked = sum(a.amount_minor for a in allocations)
    if already + asked > document.eligible_minor:
        raise OverAllocatedError(
            f"Il documento {document.number} vale {format_it(document.eligible_minor, currency)} "
            f"ammissibili: imputarne {format_it(already + asked, currency)} "
            f"(già imputati {format_it(already, currency)}) lo supererebbe. Nulla è stato "
            "registrato.",
            document_id=document.id,
            eligible_minor=document.eligible_minor,
            already_minor=already,
            requested_minor=asked,
        )
    return asked


def check_proof(
    session: Session,
    *,
    payment_line_id: int | None,
    payment_sequence: int | None,
    gross_minor: int,
    document_id: int | None = None,
) -> None:
    """A proof of payment: a reconciled outgoing bank line, or an existing entry, that
    can pay this document (`gross_minor`, net plus VAT) beside every other document
    it already proves, in any project: one payment of 50.00 is never the quietanza of
    invoices for more than 50.00 (security review, 2026-12-07). The line or the
    entry is locked while this is decided, so two documents citing it at once are
    checked one after the other."""
    if payment_line_id is not None and payment_sequence is not None:
        raise ProofOfPaymentError(
            "Indica come quietanza un movimento bancario oppure una registrazione, non entrambi.",
            field="payment",
        )
    if payment_line_id is not None:
        line = session.get(BankLine, payment_line_id, with_for_update=True)
        if line is None:
            raise ProofOfPaymentError(
                f"Nessun movimento bancario {payment_line_id}.", field="payment_line"
            )
        if line.amount_minor >= 0:
            raise ProofOfPaymentError(
                f"Il movimento {payment_line_id} è un'entrata, non un pagamento.",
                field="payment_line",
            )
        if state_of(session, line).status not in ("matched", "booked"):
            raise ProofOfPaymentError(
                f"Il movimento {payment_line_id} non è ancora riconciliato: riconcilialo prima "
                "di usarlo come quietanza.",
                field="payment_line",
            )
        # The entries the line is the payment of are the same payment: matched by hand
        # ("entry", by number) or booked from the line ("booked", by the entry's id).
        sequences = [
            int(record)
            for record in session.scalars(
                select(BankAllocation.record_id).where(
                    BankAllocation.line_id == payment_line_id, BankAllocation.kind == "entry"
                )
            )
            if record is not None and record.isdigit()
        ]
        sequences += session.scalars(
            select(JournalEntry.sequence).join(
                BankAllocation,
                (BankAllocation.record_id == JournalEntry.id)
                & (BankAllocation.kind == "booked")
                & (BankAllocation.line_id == payment_line_id),
            )
        ).all()
        _payment_covers(
            session,
            (ProjectDocument.payment_line_id == payment_line_id)
            | ProjectDocument.payment_sequence.in_(sequences),
            Money(-line.amount_minor, session.get_one(BankAccount, line.bank_account_id).currency),
            gross_minor,
            document_id,
            f"Il movimento {payment_line_id}",
            "payment_line",
        )
    if payment_sequence is not None:
        try:
            entry = get_entry(session, sequence=payment_sequence)
        except EntryNotFoundError:
            raise ProofOfPaymentError(
                f"Nessuna registrazione {payment_sequence}.", field="payment_sequence"
            ) from None
        # FOR NO KEY UPDATE: two proofs citing the entry wait for each other, a
        # reversal pointing at it (a foreign key) does not wait.
        session.execute(
            select(JournalEntry.id)
            .where(JournalEntry.id == entry.id)
            .with_for_update(key_share=True)
        )
        # A payment the bank shows is proven by its bank line, and the line and its
        # entry are one payment: citing both would prove twice its amount.
        shown = session.scalar(
            select(BankAllocation.line_id).where(
                (
                    (BankAllocation.kind == "entry")
                    & (BankAllocation.record_id == str(entry.sequence))
                )
                | ((BankAllocation.kind == "booked") & (BankAllocation.record_id == entry.id))
            )
        )
        if shown is not None:
            raise ProofOfPaymentError(
                f"La registrazione {payment_sequence} è il pagamento del movimento bancario "
                f"{shown}: indica come quietanza il movimento.",
                field="payment_sequence",
            )
        if entry.reverses_entry_id is not None or session.scalar(
            select(JournalEntry.id).where(JournalEntry.reverses_entry_id == entry.id)
        ):
            raise ProofOfPaymentError(
                f"La registrazione {payment_sequence} è uno storno o è stornata: non è un "
                "pagamento.",
                field="payment_sequence",
            )
        legs = [p.amount for p in entry.postings if p.amount.minor > 0]
        if len({m.currency for m in legs}) != 1:
            raise ProofOfPaymentError(
                f"La registrazione {payment_sequence} non è un pagamento in una valuta.",
                field="payment_sequence",
            )
        _payment_covers(
            session,
            ProjectDocument.payment_sequence == payment_sequence,
            Money(sum(m.minor for m in legs), legs[0].currency),
            gross_minor,
            document_id,
            f"La registrazione {payment_sequence}",
            "payment_sequence",
        )


def _payment_covers(
    session: Session,
    proven_by: Any,
    paid: Money,
    gross_minor: int,
    document_id: int | None,
    what: str,
    field: str,
) -> None:
    """Refuse a proof whose payment is smaller than the documents it would prove."""
    query = select(
        func.coalesce(func.sum(ProjectDocument.net_minor + ProjectDocument.vat_minor), 0)
    ).where(proven_by)
    if document_id is not None:
        query = query.where(ProjectDocument.id != document_id)
    already = int(session.scalar(query) or 0)
    if already + gross_minor > paid.minor:
        c = paid.currency
        raise ProofOfPaymentError(
            f"{what} paga {format_it(paid.minor, c)}: è già la quietanza di documenti per "
            f"{format_it(already, c)}, e questo ({format_it(gross_minor, c)}) lo "
            "supererebbe. Nulla è stato registrato.",
            field=field,
        )


def _ids(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in sorted(set(values)))


def _metadata(
    project_id: int, document_id: int, allocations: Sequence[AllocationSpec]
) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "document_id": document_id,
        "funder_ids": _ids([a.ref for a in allocations if a.source == "grant"]),
        "partner_ids": _ids(
            [a.ref for a in allocations if a.source == "partner"]
            + [a.partner_id for a in allocations if a.partner_id is not None]
        ),
    }


def _line_postings(
    project: Project, allocations: Sequence[AllocationSpec]
) -> tuple[list[PostingSpec], list[str]]:
    by_line: dict[str, int] = defaultdict(int)
    for a in allocations:
        by_line[a.line_code] += a.amount_minor
    codes = [accounts.line(project.id, code) for code in sorted(by_line)]
    postings = [
        PostingSpec(accounts.line(project.id, code), Money(amount, project.currency))
        for code, amount in sorted(by_line.items())
    ]
    return postings, codes


def record_expense(
    session: Session,
    project_id: int,
    *,
    kind: str,
    supplier_id: int,
    number: str,
    issued_on: date,
    net_minor: int,
    vat_minor: int,
    vat_recoverable: bool,
    paid_by: str,
    allocations: Sequence[AllocationSpec],
    partner_id: int | None = None,
    file: bytes | None = None,
    payment_line_id: int | None = None,
    payment_sequence: int | None = None,
    key: str,
    clock: Clock,
    actor: str | None = None,
    max_file_bytes: int = MAX_BYTES,
) -> Expense:
    """Record a document with its allocations and book it (see the module's rules)."""
    project = get_project(session, project_id, lock=True)
    if kind not in DOCUMENT_KINDS:
        raise InvalidExpenseError(
            f"Tipo di documento sconosciuto: {kind}. Possibili: " + ", ".join(DOCUMENT_KINDS),
            field="kind",
        )
    if session.get(ProjectOrganisation, supplier_id) is None:
        raise InvalidExpenseError(f"Nessun fornitore con id {supplier_id}.", field="supplier")
    clean = " ".join(number.split()) if isinstance(number, str) else ""
    if not clean or len(clean) > 64:
        raise InvalidExpenseError(
            "Il numero del documento è obbligatorio (massimo 64 caratteri).", field="number"
        )
    if not isinstance(issued_on, date):
        raise InvalidExpenseError("La data del documento è obbligatoria.", field="issued_on")
    net = _amount(net_minor, "net")
    vat = _amount(vat_minor, "vat", zero=True)
    if paid_by not in PAID_BY:
        raise InvalidExpenseError(
            f"Pagamento sconosciuto: {paid_by}. Possibili: bank, payable, partner.",
            field="paid_by",
        )
    if (paid_by == "partner") != (partner_id is not None):
        raise InvalidExpenseError(
            "Una spesa sostenuta direttamente da un partner nomina il partner (e solo essa).",
            field="partner",
        )
    if partner_id is not None and partner_id not in set(
        session.scalars(
            select(ProjectPartner.organisation_id).where(ProjectPartner.project_id == project.id)
        )
    ):
        raise InvalidExpenseError(
            f"L'organizzazione {partner_id} non è partner del progetto.", field="partner"
        )
    if not allocations:
        raise InvalidExpenseError("Una spesa ha almeno una riga di imputazione.", field="lines")
    _check_allocations(session, project, allocations)
    check_proof(
        session,
        payment_line_id=payment_line_id,
        payment_sequence=payment_sequence,
        gross_minor=net_minor + vat_minor,
    )
    if (
        session.scalar(
            select(ProjectDocument.id).where(
                ProjectDocument.project_id == project.id,
                ProjectDocument.supplier_id == supplier_id,
                ProjectDocument.kind == kind,
                ProjectDocument.number == clean,
            )
        )
        is not None
    ):
        raise InvalidExpenseError(
            f"Il documento {clean} di questo fornitore è già registrato: imputalo con un "
            "nuovo addebito, non registrarlo di nuovo.",
            field="number",
        )
    stored = (
        store_file(session, file, clock=clock, max_bytes=max_file_bytes)
        if file is not None
        else None
    )
    gross = net + vat
    document = ProjectDocument(
        project_id=project.id,
        kind=kind,
        supplier_id=supplier_id,
        number=clean,
        issued_on=issued_on,
        net_minor=net,
        vat_minor=vat,
        vat_recoverable=bool(vat_recoverable),
        eligible_minor=net + (0 if vat_recoverable else vat),
        paid_by=paid_by,
        partner_id=partner_id,
        file_id=stored.id if stored is not None else None,
        payment_line_id=payment_line_id,
        payment_sequence=payment_sequence,
        entry_sequence=0,
        created_by=actor,
        created_at=clock.now(),
    )
    allocated = _within(document, 0, allocations, project.currency)
    session.add(document)
    session.flush()
    postings, codes = _line_postings(project, allocations)
    credit = {
        "bank": accounts.cash(project.id),
        "payable": accounts.payables(project.id),
        "partner": accounts.partners(project.id, partner_id or 0),
    }[paid_by]
    rest = gross - allocated
    if rest:
        postings.append(
            PostingSpec(accounts.not_charged(project.id), Money(rest, project.currency))
        )
    postings.append(PostingSpec(credit, Money(-gross, project.currency)))
    accounts.ensure(
        session,
        [*codes, credit, accounts.not_charged(project.id)],
        project.currency,
        clock=clock,
    )
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=f"project:{project.id}:expense:{key}",
            kind="project_expense",
            postings=postings,
            effective_on=issued_on,
            narration=f"Progetto {project.id}: spesa, documento {document.id}",
            metadata=_metadata(project.id, document.id, allocations),
            actor=actor,
        ),
        clock=clock,
    )
    document.entry_sequence = result.entry.sequence
    _add_allocations(session, document, allocations, result.entry.sequence)
    return Expense(document.id, result.entry.sequence, document.eligible_minor, allocated)


def _add_allocations(
    session: Session,
    document: ProjectDocument,
    allocations: Sequence[AllocationSpec],
    sequence: int,
) -> None:
    for a in allocations:
        session.add(
            ExpenseAllocation(
                document_id=document.id,
                line_code=a.line_code,
                source=a.source,
                source_ref=a.ref,
                partner_id=a.partner_id,
                amount_minor=a.amount_minor,
                entry_sequence=sequence,
            )
        )
    session.flush()


def allocated_minor(session: Session, document_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(ExpenseAllocation.amount_minor), 0)).where(
                ExpenseAllocation.document_id == document_id
            )
        )
        or 0
    )


def get_document(session: Session, document_id: int, *, lock: bool = False) -> ProjectDocument:
    query = select(ProjectDocument).where(ProjectDocument.id == document_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise InvalidExpenseError(f"Nessun documento {document_id}.", document_id=document_id)
    return row


def charge_document(
    session: Session,
    document_id: int,
    allocations: Sequence[AllocationSpec],
    *,
    key: str,
    clock: Clock,
    actor: str | None = None,
) -> Expense:
    """Charge more of a recorded document (to another funder, another line): refused
    beyond its eligible amount over all its charges (OverAllocatedError)."""
    document = get_document(session, document_id, lock=True)
    project = get_project(session, document.project_id)
    if not allocations:
        raise InvalidExpenseError("Un addebito ha almeno una riga.", field="lines")
    _check_allocations(session, project, allocations)
    already = allocated_minor(session, document.id)
    asked = _within(document, already, allocations, project.currency)
    postings, codes = _line_postings(project, allocations)
    postings.append(PostingSpec(accounts.not_charged(project.id), Money(-asked, project.currency)))
    accounts.ensure(session, codes, project.currency, clock=clock)
    result = post_entry(
        session,
        EntrySpec(
            idempotency_key=f"project:{project.id}:charge:{key}",
            kind="project_expense_charge",
            postings=postings,
            effective_on=document.issued_on,
            narration=f"Progetto {project.id}: imputazione del documento {document.id}",
            metadata=_metadata(project.id, document.id, allocations),
            actor=actor,
        ),
        clock=clock,
    )
    _add_allocations(session, document, allocations, result.entry.sequence)
    return Expense(document.id, result.entry.sequence, document.eligible_minor, already + asked)


def record_proof(
    session: Session,
    document_id: int,
    *,
    payment_line_id: int | None = None,
    payment_sequence: int | None = None,
) -> ProjectDocument:
    """Attach the proof of payment (quietanza) to a document that has none yet."""
    document = get_document(session, document_id, lock=True)
    if payment_line_id is None and payment_sequence is None:
        raise ProofOfPaymentError("Indica la quietanza.", field="payment")
    if document.payment_line_id is not None or document.payment_sequence is not None:
        raise ProofOfPaymentError(
            f"Il documento {document.id} ha già la sua quietanza.", field="payment"
        )
    check_proof(
        session,
        payment_line_id=payment_line_id,
        payment_sequence=payment_sequence,
        gross_minor=document.net_minor + document.vat_minor,
        document_id=document.id,
    )
    document.payment_line_id = payment_line_id
    document.payment_sequence = payment_sequence
    session.flush()
    return document
