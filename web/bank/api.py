"""Bank accounts, statement imports, the explanation of bank lines (suggestions, a line
turned into a gift or a repayment), the account's rules and its own CSV/XLSX preset in
the JSON API.

The same use cases as the pages and the CLI (`ledger.reconcile.commands` and
`rule_commands`), audit events included. Reads need a `read` token, every POST a
`money` token and an `Idempotency-Key`: a retry with the same key and request answers 200 with
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
from ledger.reconcile import commands, matching, rule_commands
from ledger.reconcile.formats.tabular import Preset, preset_settings
from ledger.reconcile.models import BankAllocation
from ledger.reconcile.report import reconciliation
from ledger.reconcile.rules import Conditions
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
    HeldAccountsSchema,
    HoldSchema,
    IgnoreSchema,
    ImportReportSchema,
    LineGiftAnswerSchema,
    LineGiftSchema,
    LineRepaymentAnswerSchema,
    LineRepaymentSchema,
    LinesQuerySchema,
    MatchCountsSchema,
    MatchSchema,
    PresetAnswerSchema,
    PresetSchema,
    ReconciliationQuerySchema,
    ReconciliationSchema,
    RuleCreateSchema,
    RuleListSchema,
    RuleMoveSchema,
    RuleSchema,
    StatementQuerySchema,
    SuggestionListSchema,
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


# --------------------------------------------------------------------------- suggestions
@bp.get("/bank-lines/<int:line_id>/suggestions")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "What may explain a bank line",
    tag=TAG,
    responses={200: ("Ranked suggestions, best first.", SuggestionListSchema)},
    errors={404: "`bank_line_not_found`."},
)
def bank_line_suggestions_view(line_id: int) -> ResponseReturnValue:
    """Pending transfer gifts, loan instalments, repayments, journal entries and Stripe
    payouts that may explain what is left of the line, and the campaigns or loans its
    counterparty or a proposing rule names; each with a score (0 to 100) and its
    reasons. Nothing is applied: the treasurer matches, turns or books the line."""

    def read(session: Session) -> list[dict[str, Any]]:
        currency = reads.line_detail(session, line_id).account.currency
        return [
            reads.suggestion_body(s, currency) for s in reads.line_suggestions(session, line_id)
        ]

    return json_answer(SuggestionListSchema(), {"suggestions": views.read_once(read)})


def _line_minor(session: Session, line_id: int, text: str | None) -> int | None:
    """An optional positive amount in the line's currency (minor units)."""
    if text is None:
        return None
    currency = reads.line_detail(session, line_id).account.currency
    try:
        return Money.parse(text, currency).minor
    except LedgerError as exc:
        raise invalid_input({"amount": [exc.message]}) from None


@bp.post("/bank-lines/<int:line_id>/gift")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Turn an incoming bank line into a gift by transfer",
    tag=TAG,
    body=LineGiftSchema,
    idempotent=True,
    responses={201: ("The line, explained by the new gift.", LineGiftAnswerSchema)},
    errors={
        **LINE_ERRORS,
        404: "`bank_line_not_found` or `campaign_not_found`.",
        409: "`line_refused` (an outgoing line, another currency, a bank account that is "
        "not the one gifts by transfer are booked to), `over_allocation` or "
        "`idempotency_conflict`.",
    },
)
def bank_line_gift_view(line_id: int) -> ResponseReturnValue:
    """An offline gift by bank transfer for the campaign (`amount` defaults to what is
    left of the line), booked to the bank on the line's date with its receipt; the
    matching grants follow. The line is allocated to it."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Any]:
        return rule_commands.line_to_gift(
            session,
            line_id,
            data["campaign_id"],
            donor_id=data["donor"],
            anonymous=data["anonymous"],
            amount_minor=_line_minor(session, line_id, data["amount"]),
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    def answer(session: Session, gift: Any) -> dict[str, Any]:
        body = reads.line_detail_body(reads.line_detail(session, line_id))
        return {**body, "donation_id": gift.id, "donation_status": gift.status}

    return command_post(LineGiftSchema(), act, answer, LineGiftAnswerSchema())


@bp.post("/bank-lines/<int:line_id>/repayment")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Turn an incoming bank line into a loan repayment",
    tag=TAG,
    body=LineRepaymentSchema,
    idempotent=True,
    responses={201: ("The line, explained by the new repayment.", LineRepaymentAnswerSchema)},
    errors={
        **LINE_ERRORS,
        404: "`bank_line_not_found` or `loan_not_found`.",
        409: "`line_refused`, `over_allocation`, what the loan refuses, or `idempotency_conflict`.",
    },
)
def bank_line_repayment_view(line_id: int) -> ResponseReturnValue:
    """A repayment of the loan on the line's date (`amount` defaults to what is left of
    the line; one line may cover two instalments). The line is allocated to it."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Any]:
        return rule_commands.line_to_repayment(
            session,
            line_id,
            data["loan_id"],
            amount_minor=_line_minor(session, line_id, data["amount"]),
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    def answer(session: Session, repayment: Any) -> dict[str, Any]:
        body = reads.line_detail_body(reads.line_detail(session, line_id))
        return {**body, "repayment_id": repayment.id}

    return command_post(LineRepaymentSchema(), act, answer, LineRepaymentAnswerSchema())


# --------------------------------------------------------------------------- rules
RULE_ERRORS = {
    404: "`bank_account_not_found`, `bank_rule_not_found`, `account_not_found`, "
    "`campaign_not_found` or `loan_not_found`.",
    409: "`idempotency_conflict`.",
    422: "`invalid_input` or `invalid_rule` (no condition, a regular expression refused, "
    "an amount range upside down, an account or a record in another currency).",
}


@bp.get("/bank-accounts/<int:bank_account_id>/rules")
@allow(*TREASURER)
@needs_scope(READ)
@documented(
    "A bank account's rules",
    tag=TAG,
    responses={200: ("The rules in order, the disabled ones too.", RuleListSchema)},
    errors={404: "`bank_account_not_found`."},
)
def bank_rules_view(bank_account_id: int) -> ResponseReturnValue:
    """The treasurer's rules of the account in the order they are tried (first match
    wins): conditions, action (book to an account, or propose a campaign or a loan)."""

    def read(session: Session) -> list[dict[str, Any]]:
        reads.get_account_by_id(session, bank_account_id)
        return [
            reads.rule_body(session, row.rule) for row in reads.rule_rows(session, bank_account_id)
        ]

    return json_answer(RuleListSchema(), {"rules": views.read_once(read)})


@bp.post("/bank-accounts/<int:bank_account_id>/rules")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Add a rule to a bank account",
    tag=TAG,
    body=RuleCreateSchema,
    idempotent=True,
    responses={201: ("The rule, at its place.", RuleSchema)},
    errors=RULE_ERRORS,
)
def create_bank_rule_view(bank_account_id: int) -> ResponseReturnValue:
    """A rule at `position` (default: last). Conditions, all of which must hold: the
    counterparty's IBAN, the text (contains, or a regular expression), the absolute
    amount between `min` and `max`, the direction. One action: `book_to` an account
    with `narration`, or `propose_campaign`, or `propose_loan`."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Any]:
        account = reads.get_account_by_id(session, bank_account_id)

        def minor(name: str) -> int | None:
            if data[name] is None:
                return None
            try:
                return Money.parse(data[name], account.currency).minor
            except LedgerError as exc:
                raise invalid_input({name: [exc.message]}) from None

        book = data["book_to"] is not None
        return rule_commands.create_rule(
            session,
            account.iban,
            data["name"],
            Conditions(
                data["counterparty_iban"],
                data["text_contains"],
                data["text_regex"],
                minor("min"),
                minor("max"),
                data["direction"],
            ),
            action="book" if book else "propose",
            account_code=data["book_to"],
            narration=data["narration"],
            propose_kind=None
            if book
            else ("campaign" if data["propose_campaign"] is not None else "loan"),
            propose_id=data["propose_campaign"] or data["propose_loan"],
            position=data["position"],
            origin=origin,
            clock=views.clock(),
            key=key,
        )

    return command_post(RuleCreateSchema(), act, reads.rule_body, RuleSchema())


@bp.post("/bank-rules/<int:rule_id>/move")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Move a rule in its account's order",
    tag=TAG,
    body=RuleMoveSchema,
    idempotent=True,
    responses={201: ("The rule, at its new place.", RuleSchema)},
    errors=RULE_ERRORS,
)
def move_bank_rule_view(rule_id: int) -> ResponseReturnValue:
    """Put the rule at `position` (1 is tried first); the others keep their order."""
    return command_post(
        RuleMoveSchema(),
        lambda session, data, origin, key: rule_commands.move_rule(
            session, rule_id, data["position"], origin=origin, clock=views.clock(), key=key
        ),
        reads.rule_body,
        RuleSchema(),
    )


@bp.post("/bank-rules/<int:rule_id>/disable")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Disable a rule",
    tag=TAG,
    idempotent=True,
    body_required=False,
    responses={201: ("The rule, disabled (kept, with who and when).", RuleSchema)},
    errors=RULE_ERRORS,
)
def disable_bank_rule_view(rule_id: int) -> ResponseReturnValue:
    """The rule applies no more and proposes nothing; a rule disabled already answers
    200 with `Idempotent-Replayed: true`."""
    return command_post(
        None,
        lambda session, _data, origin, key: rule_commands.disable_rule(
            session, rule_id, origin=origin, clock=views.clock(), key=key
        ),
        reads.rule_body,
        RuleSchema(),
        body_required=False,
    )


# --------------------------------------------------------------------------- preset
@bp.post("/bank-accounts/<int:bank_account_id>/preset")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Set the account's own CSV/XLSX preset",
    tag=TAG,
    body=PresetSchema,
    idempotent=True,
    responses={201: ("The preset as stored.", PresetAnswerSchema)},
    errors={
        404: "`bank_account_not_found`.",
        409: "`idempotency_conflict`.",
        422: "`invalid_input` or `invalid_import` (field `preset`: what is wrong).",
    },
)
def set_bank_preset_view(bank_account_id: int) -> ResponseReturnValue:
    """The columns of the account's bank export, set once: a CSV or XLSX statement
    imported without a named `preset` is read with them."""

    def act(session: Session, data: Any, origin: Origin, key: str) -> Outcome[Any]:
        iban = reads.get_account_by_id(session, bank_account_id).iban
        return commands.set_account_preset(
            session, iban, data, origin=origin, clock=views.clock(), key=key
        )

    def answer(session: Session, preset: Preset) -> dict[str, Any]:
        account = reads.get_account_by_id(session, bank_account_id)
        return {
            "bank_account_id": account.id,
            "iban": account.iban,
            "preset": preset_settings(preset),
        }

    return command_post(PresetSchema(), act, answer, PresetAnswerSchema())


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


# --------------------------------------------------------------------------- holdings
@bp.post("/bank-accounts/<int:bank_account_id>/holdings")
@allow(*TREASURER)
@needs_scope(MONEY)
@documented(
    "Hold a further ledger account in a bank account",
    tag=TAG,
    body=HoldSchema,
    idempotent=True,
    responses={201: ("Every ledger account the bank account holds.", HeldAccountsSchema)},
    errors={
        404: "`bank_account_not_found` or `account_not_found`.",
        409: "`account_held` (another bank account holds it) or `idempotency_conflict`.",
        422: "`invalid_bank_account` (not an asset, another currency).",
    },
)
def hold_account_view(bank_account_id: int) -> ResponseReturnValue:
    """An asset account whose money sits in this bank account (a fund's cash): counted in
    the reconciliation's book balance; its fund's loans are repaid by reference from it."""
    return command_post(
        HoldSchema(),
        lambda session, data, origin, key: commands.hold_account(
            session,
            reads.get_account_by_id(session, bank_account_id).iban,
            data["account"],
            origin=origin,
            clock=views.clock(),
            key=key,
        ),
        lambda _session, held: {"held_accounts": [a.code for a in held]},
        HeldAccountsSchema(),
    )
