"""Bank accounts, statement imports and the explanation of bank lines in the JSON API.

The same use cases as the pages and the CLI (`ledger.reconcile.commands`), audit
events included. Reads need a `read` token, every POST a `money` token and an
`Idempotency-Key`: a retry with the same key and request answers 200 with
`Idempotent-Replayed: true` and writes nothing; the same key with another request
is a 409. A statement file is sent as `multipart/form-data` (field `file`) or as
the raw body, with the import's options in the query string; it answers the
import's report as `ledger bank import` prints it.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from ledger.commands import Origin, Outcome
from ledger.core.errors import LedgerError
from ledger.core.money import Money
from ledger.people.models import MONEY, READ
from ledger.reconcile import commands, matching
from ledger.reconcile.models import BankAllocation
from ledger.reconcile.report import reconciliation
from ledger.statements.reconciliation import reconciliation_csv
from ledger.statements.reconciliation_pdf import render_reconciliation_pdf
from web import views
from web.access import allow, needs_scope
from web.api.common import TREASURER, bp, command_answer, command_post, json_answer
from web.api.docs import documented
from web.api.errors import invalid_input
from web.api.inputs import idempotency_key, query
from web.bank import reads
from web.bank.reads import BOOKS
from web.bank.schemas import (
    BankAccountCreateSchema,
    BankAccountListSchema,
    BankAccountSchema,
    BankLineDetailSchema,
    BankLineListSchema,
    BookSchema,
    IgnoreSchema,
    ImportReportSchema,
    LinesQuerySchema,
    MatchCountsSchema,
    MatchSchema,
    ReconciliationQuerySchema,
    ReconciliationSchema,
    StatementQuerySchema,
)
from web.db import in_transaction

TAG = "bank"
LINE_ERRORS = {
    404: "`bank_line_not_found`.",
    409: "`over_allocation` (more than what is left of the line) or `idempotency_conflict`.",
    422: "`invalid_input` or `invalid_allocation`.",
}


# --------------------------------------------------------------------------- accounts
@bp.get("/bank-accounts")
@allow(*BOOKS)
@needs_scope(READ)
@documented(
    "Bank accounts",
    tag=TAG,
    responses={200: ("Every bank account with its lines to explain.", BankAccountListSchema)},
)
def list_bank_accounts_view() -> ResponseReturnValue:
    """IBAN, name, currency, the ledger account mirrored and the count of unexplained lines."""
    rows = views.read_once(lambda s: [reads.account_body(r) for r in reads.account_rows(s)])
    return json_answer(BankAccountListSchema(), {"bank_accounts": rows})


@bp.post("/bank-accounts")
@allow(*BOOKS)
@needs_scope(MONEY)
@documented(
    "Create a bank account",
    tag=TAG,
    body=BankAccountCreateSchema,
    idempotent=True,
    responses={201: ("The bank account.", BankAccountSchema)},
    errors={
        409: "`bank_account_exists` or `idempotency_conflict`.",
        422: "`invalid_input` or `invalid_bank_account` (a bad IBAN, not an asset account).",
    },
)
def create_bank_account_view() -> ResponseReturnValue:
    """A bank account (IBAN validated) mirroring an asset account of the ledger."""
    return command_post(
        BankAccountCreateSchema(),
        lambda session, data, origin, key: commands.create_bank_account(
            session,
            iban=data["iban"],
            account_code=data["account"],
            name=data["name"],
            origin=origin,
            clock=views.clock(),
            key=key,
        ),
        lambda session, account: reads.account_body(reads.account_row(session, account.id)),
        BankAccountSchema(),
    )


@bp.post("/bank-accounts/<int:bank_account_id>/statements")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Import a statement file",
    tag=TAG,
    query=StatementQuerySchema,
    upload=True,
    idempotent=True,
    responses={201: ("What the file held, what was new, what was there.", ImportReportSchema)},
    errors={
        404: "`bank_account_not_found`.",
        413: "`payload_too_large`: the file is over the upload limit (10 MB unless set).",
        422: "`invalid_input`, `statement_unbalanced` or `statement_discontinuous` (with the "
        "exact figures), `statement_wrong_account`, `statement_wrong_currency`, "
        "`statement_format`, `invalid_import`; nothing imported.",
    },
)
def import_statement_view(bank_account_id: int) -> ResponseReturnValue:
    """The file (multipart field `file`, or the raw body) is imported whole or not at all.
    A statement that does not add up is refused with the exact difference unless
    `accept_unbalanced=true` with a `reason`."""
    key = idempotency_key()
    options = query(StatementQuerySchema())
    upload = request.files.get("file")
    data = upload.read() if upload is not None else request.get_data(cache=False)
    if not data:
        raise invalid_input({"file": ["send the statement file (multipart `file` or the body)"]})
    caller = views.origin()

    def work(session: Session) -> tuple[bool, dict[str, Any]]:
        iban = reads.get_account_by_id(session, bank_account_id).iban
        outcome = commands.import_statement(
            session,
            iban,
            data,
            format=options["format"],
            preset=options["preset"],
            accept_unbalanced=options["accept_unbalanced"],
            reason=options["reason"],
            origin=caller,
            clock=views.clock(),
            key=key,
        )
        return outcome.created, reads.report_body(outcome.value)

    created, body = in_transaction(work)
    return command_answer(ImportReportSchema(), body, created=created)


# --------------------------------------------------------------------------- lines
@bp.get("/bank-accounts/<int:bank_account_id>/lines")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "A bank account's lines",
    tag=TAG,
    query=LinesQuerySchema,
    responses={200: ("The lines to explain, oldest first, with their status.", BankLineListSchema)},
    errors={404: "`bank_account_not_found`."},
)
def bank_lines_view(bank_account_id: int) -> ResponseReturnValue:
    """Every entry not split and the details of split batches, with the status derived
    from their allocations (unexplained, matched, booked, ignored); `status` filters."""
    status = query(LinesQuerySchema())["status"]

    def read(session: Session) -> list[dict[str, Any]]:
        account = reads.get_account_by_id(session, bank_account_id)
        found = reads.with_counterparty(session, matching.line_views(session, account, status))
        return [reads.line_body(q.view, q.counterparty_name, q.counterparty_iban) for q in found]

    return json_answer(BankLineListSchema(), {"lines": views.read_once(read)})


@bp.get("/bank-lines/<int:line_id>")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "A bank line",
    tag=TAG,
    responses={
        200: (
            "The line as the bank sent it, its allocations and what is left.",
            BankLineDetailSchema,
        )
    },
    errors={404: "`bank_line_not_found`."},
)
def get_bank_line_view(line_id: int) -> ResponseReturnValue:
    """One line with its raw text, status, what explains it and what is left to explain."""
    body = views.read_once(lambda s: reads.line_detail_body(reads.line_detail(s, line_id)))
    return json_answer(BankLineDetailSchema(), body)


@bp.post("/bank-accounts/<int:bank_account_id>/match")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Apply the creditor references of the unexplained lines",
    tag=TAG,
    idempotent=True,
    body_required=False,
    responses={
        201: ("How many lines were examined, settled, recorded and left.", MatchCountsSchema)
    },
    errors={404: "`bank_account_not_found`."},
)
def apply_references_view(bank_account_id: int) -> ResponseReturnValue:
    """Settle the pending transfer gifts and record the loan repayments the lines name by
    our RF reference. Repeatable by nature: each effect runs under a key derived from its
    line, so a second run settles nothing more (its counts say so)."""

    def act(session: Session, _data: Any, origin: Origin, _key: str) -> Outcome[Any]:
        iban = reads.get_account_by_id(session, bank_account_id).iban
        return commands.apply_references(session, iban, origin=origin, clock=views.clock())

    return command_post(
        None,
        act,
        lambda _session, counts: counts.as_dict(),
        MatchCountsSchema(),
        body_required=False,
    )


def _line_answer(line_id: int) -> Any:
    def answer(session: Session, _rows: list[BankAllocation]) -> dict[str, Any]:
        return reads.line_detail_body(reads.line_detail(session, line_id))

    return answer


@bp.post("/bank-lines/<int:line_id>/ignore")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Ignore what is left of a bank line",
    tag=TAG,
    body=IgnoreSchema,
    idempotent=True,
    responses={201: ("The line, explained as ignored.", BankLineDetailSchema)},
    errors=LINE_ERRORS,
)
def ignore_bank_line_view(line_id: int) -> ResponseReturnValue:
    """A line of no concern to the books (an internal transfer booked elsewhere), with the
    reason, recorded."""
    return command_post(
        IgnoreSchema(),
        lambda session, data, origin, key: commands.ignore_line(
            session, line_id, data["reason"], origin=origin, clock=views.clock(), key=key
        ),
        _line_answer(line_id),
        BankLineDetailSchema(),
    )


@bp.post("/bank-lines/<int:line_id>/book")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Book what is left of a bank line against an account",
    tag=TAG,
    body=BookSchema,
    idempotent=True,
    responses={201: ("The line, explained by the entry booked.", BankLineDetailSchema)},
    errors={**LINE_ERRORS, 404: "`bank_line_not_found` or `account_not_found`."},
)
def book_bank_line_view(line_id: int) -> ResponseReturnValue:
    """An entry between the bank's mirrored account and `account` (a bank fee, interest),
    on the line's booking date."""
    return command_post(
        BookSchema(),
        lambda session, data, origin, key: commands.book_line(
            session,
            line_id,
            data["account"],
            data["narration"],
            origin=origin,
            clock=views.clock(),
            key=key,
        ),
        _line_answer(line_id),
        BankLineDetailSchema(),
    )


@bp.post("/bank-lines/<int:line_id>/match")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Match a bank line to records",
    tag=TAG,
    body=MatchSchema,
    idempotent=True,
    responses={201: ("The line, with its new allocations.", BankLineDetailSchema)},
    errors=LINE_ERRORS,
)
def match_bank_line_view(line_id: int) -> ResponseReturnValue:
    """Gifts, loan repayments, journal entries or Stripe payouts that the line paid; several
    parts split it; together at most what is left of the line."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Any]:
        currency = reads.line_detail(session, line_id).account.currency
        parts = []
        for index, part in enumerate(data["parts"]):
            try:
                amount = Money.parse(part["amount"], currency).minor
            except LedgerError as exc:
                raise invalid_input({f"parts.{index}.amount": [exc.message]}) from None
            parts.append((part["kind"], part["record"], amount))
        return commands.match_line(
            session, line_id, parts, origin=origin, clock=views.clock(), key=key
        )

    return command_post(MatchSchema(), act, _line_answer(line_id), BankLineDetailSchema())


# --------------------------------------------------------------------------- the report
@bp.get("/bank-accounts/<int:bank_account_id>/reconciliation")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "A bank account's reconciliation as of a day",
    tag=TAG,
    query=ReconciliationQuerySchema,
    responses={
        200: (
            "The bank's balance, the books', the reconciling items and the difference (JSON), "
            "or the same report as application/pdf or text/csv (`format`).",
            ReconciliationSchema,
        )
    },
    errors={404: "`bank_account_not_found`."},
)
def reconciliation_view(bank_account_id: int) -> ResponseReturnValue:
    """The bank balance from the statements, the book balance of every account the bank
    account holds, the lines not yet explained, the lines ignored, the entries not yet
    on the bank, and `difference`, zero when the bank and the books agree."""
    args = query(ReconciliationQuerySchema())
    as_of = args["as_of"] or views.today()
    fmt = args["format"]

    def read(session: Session) -> Any:
        account = reads.get_account_by_id(session, bank_account_id)
        report = reconciliation(session, account.iban, as_of)
        if fmt == "pdf":
            return render_reconciliation_pdf(report)
        if fmt == "csv":
            return reconciliation_csv(report)
        return report.as_dict()

    found = views.read_once(read)
    if fmt == "json":
        return json_answer(ReconciliationSchema(), found)
    response = Response(found, mimetype="application/pdf" if fmt == "pdf" else "text/csv")
    name = f"reconciliation-{bank_account_id}-{as_of.isoformat()}.{fmt}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
