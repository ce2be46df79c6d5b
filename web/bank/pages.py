"""The treasurer's bank pages: bank accounts, statement upload, the review queue, one line
with its ranked suggestions, the account's rules and its own CSV/XLSX preset.

The `bank` blueprint. Reading needs the role (treasurer; the accounts list and a
new account also admin); every act that moves money or explains a line (import,
apply references, ignore, book, match, turn a line into a gift or a repayment),
every change of the rules or of the preset, and a new bank account also need a
confirmed TOTP code. Each act is one use case of `ledger.reconcile.commands` (or
`rule_commands`), run in the request's one unit of work, which writes its own audit
event; forms carry a key made when they were shown, so a double submit is one act.

The upload form works without JavaScript; `static/bank-upload.js` adds a
progress bar (XMLHttpRequest upload events). Files are limited to
LEDGER_BANK_UPLOAD_MAX_BYTES (10 MB unless set), checked before the body is read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound, RequestEntityTooLarge

from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.reconcile import commands, rule_commands
from ledger.reconcile.matching import STATUSES
from ledger.reconcile.report import reconciliation
from ledger.reconcile.rules import Conditions
from ledger.reconcile.statements import ImportReport, report_of
from ledger.reconcile.suggestions import Suggestion
from ledger.statements.reconciliation import reconciliation_csv
from ledger.statements.reconciliation_pdf import render_reconciliation_pdf
from web import views
from web.access import allow
from web.amounts import parse_amount_text
from web.bank import reads, texts
from web.bank.forms import (
    ApplyReferencesForm,
    BankAccountForm,
    BookForm,
    DisableRuleForm,
    GiftForm,
    HoldForm,
    IgnoreForm,
    ImportForm,
    MatchForm,
    MoveRuleForm,
    PresetForm,
    RepaymentForm,
    RuleForm,
    preset_choices,
)
from web.bank.reads import BOOKS, TREASURER
from web.db import in_transaction
from web.errors import InvalidInputError
from web.forms import field_error
from web.i18n import error_text

bp = Blueprint("bank", __name__)

# The routes that take a statement file: their body may reach BANK_UPLOAD_MAX_BYTES.
UPLOAD_ENDPOINTS = frozenset({"bank.import_view", "api_v1.import_statement_view"})


def register(app: Flask) -> None:
    """Register the bank pages, their template globals and the upload size limit."""
    app.register_blueprint(bp)
    for helper in texts.TEMPLATE_GLOBALS:
        app.add_template_global(helper)
    app.add_template_filter(reads.iban_groups, "iban")
    # First of all before-request functions: the CSRF check reads the form, and with it
    # the body, under the limit in force (MAX_CONTENT_LENGTH, far smaller, elsewhere).
    app.before_request_funcs.setdefault(None, []).insert(0, upload_limit)


def upload_limit() -> None:
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = int(current_app.config["BANK_UPLOAD_MAX_BYTES"])


# ------------------------------------------------------------------ accounts
@bp.get("/banca")
@allow(*BOOKS)
def accounts() -> ResponseReturnValue:
    """The bank accounts: IBAN, name, the ledger account mirrored, lines to explain."""
    rows = views.read_once(reads.account_rows)
    return render_template("bank/accounts.html", rows=rows)


@bp.route("/banca/nuovo", methods=["GET", "POST"])
@allow(*BOOKS, two_factor=True)
def new_account() -> ResponseReturnValue:
    """A bank account mirroring an asset account of the ledger (in its currency)."""
    form = BankAccountForm()
    form.account.choices = views.snapshot(reads.asset_account_codes)
    key = views.form_key(form)
    if form.validate_on_submit():
        origin, clock = views.origin(), views.clock()
        try:
            outcome = in_transaction(
                lambda db: commands.create_bank_account(
                    db,
                    iban=form.iban.data or "",
                    account_code=form.account.data or "",
                    name=form.name.data or None,
                    origin=origin,
                    clock=clock,
                    key=key,
                )
            )
        except LedgerError as exc:
            if exc.code == "bank_account_exists":
                form.iban.errors = [*form.iban.errors, _("Questo conto bancario esiste già.")]
            elif exc.code == "invalid_bank_account" and exc.details.get("field") == "iban":
                form.iban.errors = [*form.iban.errors, _("IBAN non valido: controlla le cifre.")]
            else:
                field_error(form, exc)
        else:
            created = outcome.value
            flash(
                _("Conto bancario %(iban)s creato.", iban=reads.iban_groups(created.iban))
                if outcome.created
                else _("Questo conto bancario era già stato creato."),
                "success",
            )
            return redirect(url_for("bank.accounts"))
    status = 422 if form.is_submitted() else 200
    return render_template("bank/new_account.html", form=form), status


# ------------------------------------------------------------------ import
def _import_page(
    account: reads.AccountRow,
    form: ImportForm,
    *,
    error: str | None = None,
    refused: dict[str, Any] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    limit = int(current_app.config["BANK_UPLOAD_MAX_BYTES"])
    own = views.snapshot(lambda db: reads.preset_of(db, account.id))
    form.preset.choices = preset_choices(own is not None)
    return render_template(
        "bank/import.html",
        account=account,
        form=form,
        own_preset=own,
        error=error,
        refused=refused,
        limit_bytes=limit,
        limit_mb=f"{limit / (1024 * 1024):g}",
    ), status


@bp.route("/banca/<int:bank_account_id>/importa", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def import_view(bank_account_id: int) -> ResponseReturnValue:
    """Upload a statement file: all of it is imported, or nothing (a refusal says why,
    with the exact difference, and offers to accept it with a reason)."""
    account = views.snapshot(lambda db: reads.account_row(db, bank_account_id))
    form = ImportForm()
    form.preset.choices = preset_choices(True)  # the page says which the "" choice is
    key = views.form_key(form)
    if not form.validate_on_submit():
        return _import_page(account, form, status=422 if form.is_submitted() else 200)
    upload = form.file.data
    data = upload.read() if upload is not None and hasattr(upload, "read") else b""
    if not data:
        form.file.errors = [*form.file.errors, _("Scegli il file dell'estratto conto.")]
        return _import_page(account, form, status=422)
    origin, clock = views.origin(), views.clock()
    try:
        outcome = in_transaction(
            lambda db: commands.import_statement(
                db,
                account.iban,
                data,
                format=form.format.data or "auto",
                preset=form.preset.data or None,
                accept_unbalanced=bool(form.accept_unbalanced.data),
                reason=form.reason.data or None,
                origin=origin,
                clock=clock,
                key=key,
            )
        )
    except LedgerError as exc:
        refused = {"code": exc.code, "statements": exc.details.get("statements") or []}
        return _import_page(
            account, form, error=texts.import_error(exc), refused=refused, status=422
        )
    report: ImportReport = outcome.value
    if outcome.created:
        flash(
            _(
                "Estratto importato: %(new)d movimenti nuovi, %(known)d già presenti.",
                new=report.new,
                known=len(report.already_imported),
            ),
            "success",
        )
    else:
        flash(_("Questo file era già stato importato con questo modulo."), "success")
    return redirect(url_for("bank.import_result", import_id=report.import_id))


@bp.errorhandler(RequestEntityTooLarge)
def too_large(_exc: RequestEntityTooLarge) -> ResponseReturnValue:
    """A file over the limit: the import page again with the limit said plainly."""
    limit = int(current_app.config["BANK_UPLOAD_MAX_BYTES"])
    bank_account_id = (request.view_args or {}).get("bank_account_id")
    if request.endpoint != "bank.import_view" or not isinstance(bank_account_id, int):
        return render_template(
            "error.html",
            status=413,
            code="payload_too_large",
            title=_("Richiesta troppo grande"),
            message=texts.upload_too_large(limit),
        ), 413
    account = views.snapshot(lambda db: reads.account_row(db, bank_account_id))
    form = ImportForm(formdata=None)
    return _import_page(account, form, error=texts.upload_too_large(limit), status=413)


@bp.get("/banca/importazioni/<int:import_id>")
@allow(TREASURER)
def import_result(import_id: int) -> ResponseReturnValue:
    """What an import found: each statement's balances, the new and the known lines."""

    def read(db: Session) -> tuple[ImportReport, reads.AccountRow]:
        try:
            report = report_of(db, import_id)
        except LookupError:
            raise NotFound() from None
        account = commands.get_bank_account(db, report.iban)
        return report, reads.account_row(db, account.id)

    report, account = views.read_once(read)
    return render_template("bank/import_result.html", report=report, account=account)


# ------------------------------------------------------------------ the review queue
@bp.get("/banca/<int:bank_account_id>/movimenti")
@allow(TREASURER)
def lines(bank_account_id: int) -> ResponseReturnValue:
    """The lines of one status (unexplained unless asked), oldest first, a page at a time."""
    status = request.args.get("stato", "unexplained").strip() or "unexplained"
    if status not in STATUSES:
        raise InvalidInputError(_("Stato non valido."), field="stato")
    raw_page = request.args.get("pagina", "1").strip()
    if not (raw_page.isdigit() and len(raw_page) < 7):
        raise InvalidInputError(_("Pagina non valida."), field="pagina")

    def read(db: Session) -> tuple[reads.AccountRow, reads.Queue]:
        account = reads.get_account_by_id(db, bank_account_id)
        return reads.account_row(db, bank_account_id), reads.queue(
            db, account, status, int(raw_page)
        )

    account, found = views.read_once(read)
    return render_template(
        "bank/lines.html",
        account=account,
        queue=found,
        status=status,
        statuses=STATUSES,
        apply_form=ApplyReferencesForm(),
    )


@bp.route("/banca/<int:bank_account_id>/riferimenti", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def apply_references_view(bank_account_id: int) -> ResponseReturnValue:
    """Settle the transfer gifts and record the loan repayments that the unexplained
    lines name by our creditor reference; say how many."""
    done = url_for("bank.lines", bank_account_id=bank_account_id)
    form = ApplyReferencesForm()
    if not form.validate_on_submit():
        return redirect(done)
    account = views.snapshot(lambda db: reads.account_row(db, bank_account_id))
    origin, clock = views.origin(), views.clock()
    counts = in_transaction(
        lambda db: commands.apply_references(db, account.iban, origin=origin, clock=clock)
    ).value
    flash(
        _(
            "Riferimenti applicati: %(examined)d movimenti esaminati, %(gifts)d donazioni "
            "confermate, %(repayments)d rimborsi registrati, %(payouts)d versamenti Stripe "
            "abbinati, %(rules)d registrati dalle regole, %(left)d da spiegare a mano.",
            examined=counts.examined,
            gifts=counts.settled_gifts,
            repayments=counts.repayments,
            payouts=counts.payouts,
            rules=counts.booked_by_rules,
            left=counts.left,
        ),
        "success",
    )
    return redirect(done)


# ------------------------------------------------------------------ one line
ONE_CLICK_KINDS = frozenset({"gift", "repayment", "entry", "payout"})


@dataclass(frozen=True, slots=True)
class SuggestionView:
    """A suggestion as the line page shows it: a one-click match (`key`, `amount_text`)
    for an existing record, a link that pre-fills a form for a campaign or a loan."""

    found: Suggestion
    key: str | None
    amount_text: str


def _suggestion_views(found: list[Suggestion], currency: str) -> list[SuggestionView]:
    return [
        SuggestionView(
            s,
            uuid.uuid4().hex if s.kind in ONE_CLICK_KINDS else None,
            format_minor(abs(s.amount_minor), currency),
        )
        for s in found
    ]


def _prefill(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and len(text) < 10 else None


def _line_page(
    line_id: int,
    *,
    ignore: IgnoreForm | None = None,
    book: BookForm | None = None,
    match: MatchForm | None = None,
    gift: GiftForm | None = None,
    repayment: RepaymentForm | None = None,
) -> str:
    def read(db: Session) -> dict[str, Any]:
        detail = reads.line_detail(db, line_id)
        currency = detail.account.currency
        found = reads.line_suggestions(db, line_id) if detail.left_minor != 0 else []
        return {
            "detail": detail,
            "choices": reads.bookable_accounts(db, currency),
            "suggestions": found,
            "campaigns": reads.live_campaigns(db, currency),
            "loans": reads.active_loans(db, currency),
        }

    data = views.snapshot(read)
    detail: reads.LineDetail = data["detail"]
    currency = detail.account.currency
    book_form = book or BookForm(formdata=None)
    book_form.account.choices = data["choices"]
    left = format_minor(max(detail.left_minor, 0), currency)
    gift_form = gift or GiftForm(
        formdata=None, campaign=_prefill(request.args.get("campagna")), amount=left
    )
    gift_form.campaign.choices = [(None, _("Scegli la campagna"))] + data["campaigns"]
    repayment_form = repayment or RepaymentForm(
        formdata=None, loan=_prefill(request.args.get("prestito")), amount=left
    )
    repayment_form.loan.choices = [(None, _("Scegli il prestito"))] + data["loans"]
    return render_template(
        "bank/line.html",
        detail=detail,
        ignore_form=ignore or IgnoreForm(formdata=None),
        book_form=book_form,
        match_form=match or MatchForm(formdata=None),
        gift_form=gift_form,
        repayment_form=repayment_form,
        incoming=detail.line.amount_minor > 0 and not detail.is_split,
        suggestions=_suggestion_views(data["suggestions"], currency),
    )


@bp.get("/banca/movimenti/<int:line_id>")
@allow(TREASURER)
def line_view(line_id: int) -> ResponseReturnValue:
    """One line: the bank's raw data, what explains it, what is left, and the forms
    to ignore, book or match what is left."""
    return _line_page(line_id)


def _whole_form_error(form: Any, exc: LedgerError) -> None:
    form.form_errors.append(error_text(exc.code, str(exc.details.get("field", "")), exc.message))


def _line_act(
    line_id: int,
    form: Any,
    act: Callable[[Session], str],
    again: Callable[[], Any],
    *,
    whole: bool = False,
) -> ResponseReturnValue:
    """Run the act of one of the line page's forms: back to the line page, or the page
    again with the refusal on that form (422)."""
    return views.form_action(
        form,
        act,
        done=url_for("bank.line_view", line_id=line_id),
        again=again,
        attach=_whole_form_error if whole else field_error,
    )


@bp.route("/banca/movimenti/<int:line_id>/ignora", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def ignore_view(line_id: int) -> ResponseReturnValue:
    """Explain what is left of a line as ignored, with the reason."""
    form = IgnoreForm()
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        outcome = commands.ignore_line(
            db, line_id, form.reason.data or "", origin=origin, clock=clock, key=key
        )
        return (
            _("Movimento ignorato.")
            if outcome.created
            else _("Questo movimento era già stato ignorato.")
        )

    return _line_act(line_id, form, act, lambda: _line_page(line_id, ignore=form))


@bp.route("/banca/movimenti/<int:line_id>/registra", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def book_view(line_id: int) -> ResponseReturnValue:
    """Book what is left of a line against an account (a bank fee, interest)."""
    form = BookForm()
    currency = views.snapshot(lambda db: reads.line_detail(db, line_id).account.currency)
    form.account.choices = views.snapshot(lambda db: reads.bookable_accounts(db, currency))
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        outcome = commands.book_line(
            db,
            line_id,
            form.account.data or "",
            form.narration.data or "",
            origin=origin,
            clock=clock,
            key=key,
        )
        return (
            _("Movimento registrato sul conto %(account)s.", account=form.account.data)
            if outcome.created
            else _("Questo movimento era già stato registrato.")
        )

    return _line_act(line_id, form, act, lambda: _line_page(line_id, book=form))


def match_parts(
    form: MatchForm, line_amount_minor: int, currency: str
) -> list[tuple[str, str, int]]:
    """The filled rows of the match form as (kind, record, amount signed like the line)."""
    sign = -1 if line_amount_minor < 0 else 1
    parts = []
    for row in form.parts:
        record = (row.record.data or "").strip()
        amount_text = (row.amount.data or "").strip()
        if not record and not amount_text:
            continue
        if not record or not amount_text:
            raise InvalidInputError(
                _("Ogni riga dell'abbinamento ha un numero e un importo."), field="parts"
            )
        amount = parse_amount_text(amount_text, currency)
        parts.append((row.kind.data or "", record, sign * amount.minor))
    if not parts:
        raise InvalidInputError(_("Indica almeno un abbinamento."), field="parts")
    return parts


@bp.route("/banca/movimenti/<int:line_id>/abbina", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def match_view(line_id: int) -> ResponseReturnValue:
    """Match a line to existing records; several rows split it between them."""
    form = MatchForm()
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        detail = reads.line_detail(db, line_id)
        parts = match_parts(form, detail.line.amount_minor, detail.account.currency)
        outcome = commands.match_line(db, line_id, parts, origin=origin, clock=clock, key=key)
        return (
            _("Movimento abbinato (%(n)d parti).", n=len(parts))
            if outcome.created
            else _("Questo abbinamento era già stato registrato.")
        )

    return _line_act(line_id, form, act, lambda: _line_page(line_id, match=form), whole=True)


def _act_error(form: Any, exc: LedgerError) -> None:
    """A refusal of a new line or rule act: on the field it names, or on the whole form,
    in the page's language with the use case's own message."""
    name = str(exc.details.get("field", ""))
    text = error_text(exc.code, name, texts.act_error(exc))
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors") and name not in ("form_key", "submit"):
        field.errors = [*list(field.errors), text]
    else:
        form.form_errors.append(text)


def _optional_amount(text: str | None, currency: str) -> int | None:
    value = (text or "").strip()
    return None if not value else parse_amount_text(value, currency).minor


@bp.route("/banca/movimenti/<int:line_id>/dono", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def gift_view(line_id: int) -> ResponseReturnValue:
    """Turn (part of) an incoming line into an offline gift by transfer for a campaign."""
    form = GiftForm()
    currency = views.snapshot(lambda db: reads.line_detail(db, line_id).account.currency)
    campaigns = views.snapshot(lambda db: reads.live_campaigns(db, currency))
    form.campaign.choices = [(None, ""), *campaigns]
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        outcome = rule_commands.line_to_gift(
            db,
            line_id,
            int(form.campaign.data),
            donor_id=form.donor.data,
            anonymous=not form.named.data,
            amount_minor=_optional_amount(form.amount.data, currency),
            origin=origin,
            clock=clock,
            key=key,
        )
        return (
            _("Movimento registrato come donazione n. %(id)d.", id=outcome.value.id)
            if outcome.created
            else _("Questa donazione era già stata registrata.")
        )

    return views.form_action(
        form,
        act,
        done=url_for("bank.line_view", line_id=line_id),
        again=lambda: _line_page(line_id, gift=form),
        attach=_act_error,
    )


@bp.route("/banca/movimenti/<int:line_id>/rimborso", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def repayment_view(line_id: int) -> ResponseReturnValue:
    """Turn (part of) an incoming line into a repayment of a loan."""
    form = RepaymentForm()
    currency = views.snapshot(lambda db: reads.line_detail(db, line_id).account.currency)
    loans = views.snapshot(lambda db: reads.active_loans(db, currency))
    form.loan.choices = [(None, ""), *loans]
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        outcome = rule_commands.line_to_repayment(
            db,
            line_id,
            int(form.loan.data),
            amount_minor=_optional_amount(form.amount.data, currency),
            origin=origin,
            clock=clock,
            key=key,
        )
        return (
            _("Movimento registrato come rimborso n. %(id)d.", id=outcome.value.id)
            if outcome.created
            else _("Questo rimborso era già stato registrato.")
        )

    return views.form_action(
        form,
        act,
        done=url_for("bank.line_view", line_id=line_id),
        again=lambda: _line_page(line_id, repayment=form),
        attach=_act_error,
    )


# ------------------------------------------------------------------ rules
def _rules_page(
    bank_account_id: int, form: RuleForm | None = None, *, error: str | None = None
) -> str:
    def read(db: Session) -> dict[str, Any]:
        account = reads.account_row(db, bank_account_id)
        return {
            "account": account,
            "rules": reads.rule_rows(db, bank_account_id),
            "accounts": reads.bookable_accounts(db, account.currency),
            "campaigns": reads.live_campaigns(db, account.currency),
            "loans": reads.active_loans(db, account.currency),
        }

    data = views.snapshot(read)
    rule_form = form or RuleForm(formdata=None)
    _rule_choices(rule_form, data)
    rows = [
        (
            row,
            MoveRuleForm(formdata=None),
            MoveRuleForm(formdata=None),
            DisableRuleForm(formdata=None),
        )
        for row in data["rules"]
    ]
    return render_template(
        "bank/rules.html",
        account=data["account"],
        rows=rows,
        count=len(rows),
        form=rule_form,
        error=error,
    )


def _rule_choices(form: RuleForm, data: dict[str, Any]) -> None:
    form.account.choices = [("", "—")] + data["accounts"]
    form.campaign.choices = [(None, "—")] + data["campaigns"]
    form.loan.choices = [(None, "—")] + data["loans"]


@bp.get("/banca/<int:bank_account_id>/regole")
@allow(TREASURER)
def rules_view(bank_account_id: int) -> ResponseReturnValue:
    """The account's rules in the order they are tried (first match wins), the disabled
    ones too, with the form to add one and the buttons to move or disable them."""
    return _rules_page(bank_account_id)


@bp.route("/banca/<int:bank_account_id>/regole/nuova", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def new_rule_view(bank_account_id: int) -> ResponseReturnValue:
    """Add a rule: conditions on the counterparty's IBAN, the text, the amount and the
    direction; it books to an account or proposes a gift to a campaign or a repayment."""
    form = RuleForm()

    def read(db: Session) -> dict[str, Any]:
        account = reads.account_row(db, bank_account_id)
        return {
            "account": account,
            "accounts": reads.bookable_accounts(db, account.currency),
            "campaigns": reads.live_campaigns(db, account.currency),
            "loans": reads.active_loans(db, account.currency),
        }

    data = views.snapshot(read)
    _rule_choices(form, data)
    account: reads.AccountRow = data["account"]
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> str:
        action = form.action.data or "book"
        conditions = Conditions(
            counterparty_iban=(form.counterparty_iban.data or "").strip() or None,
            text_contains=(form.text_contains.data or "").strip() or None,
            text_regex=(form.text_regex.data or "").strip() or None,
            amount_min_minor=_rule_amount(form.amount_min.data, account.currency, "amount_min"),
            amount_max_minor=_rule_amount(form.amount_max.data, account.currency, "amount_max"),
            direction=form.direction.data or "any",
        )
        book = action == "book"
        outcome = rule_commands.create_rule(
            db,
            account.iban,
            form.name.data or "",
            conditions,
            action="book" if book else "propose",
            account_code=(form.account.data or None) if book else None,
            narration=(form.narration.data or None) if book else None,
            propose_kind=None if book else action,
            propose_id=None
            if book
            else (form.campaign.data if action == "campaign" else form.loan.data),
            position=form.position.data,
            origin=origin,
            clock=clock,
            key=key,
        )
        return (
            _(
                "Regola «%(name)s» aggiunta in posizione %(n)d.",
                name=outcome.value.name,
                n=outcome.value.position,
            )
            if outcome.created
            else _("Questa regola era già stata aggiunta.")
        )

    return views.form_action(
        form,
        act,
        done=url_for("bank.rules_view", bank_account_id=bank_account_id),
        again=lambda: _rules_page(bank_account_id, form),
        attach=_rule_error,
    )


def _rule_amount(text: str | None, currency: str, field: str) -> int | None:
    value = (text or "").strip()
    if not value:
        return None
    try:
        return parse_amount_text(value, currency).minor
    except LedgerError as exc:
        raise InvalidInputError(exc.message, field=field) from None


def _rule_error(form: Any, exc: LedgerError) -> None:
    field = str(exc.details.get("field", ""))
    if field == "propose":
        target = form.campaign if form.action.data == "campaign" else form.loan
        target.errors = [*list(target.errors), texts.act_error(exc)]
        return
    _act_error(form, exc)


def _rule_act(
    rule_id: int, form: Any, act: Callable[[Session], tuple[int, str]]
) -> ResponseReturnValue:
    """Move or disable a rule, then back to its account's rules (a refusal is flashed)."""
    if not form.validate_on_submit():
        bank_account_id = views.snapshot(lambda db: reads.rule_account_id(db, rule_id))
        return redirect(url_for("bank.rules_view", bank_account_id=bank_account_id))
    try:
        bank_account_id, message = in_transaction(act)
    except LedgerError as exc:
        if exc.code == "bank_rule_not_found":
            raise
        bank_account_id = views.snapshot(lambda db: reads.rule_account_id(db, rule_id))
        flash(texts.act_error(exc), "error")
    else:
        flash(message, "success")
    return redirect(url_for("bank.rules_view", bank_account_id=bank_account_id))


@bp.route("/banca/regole/<int:rule_id>/sposta", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def move_rule_view(rule_id: int) -> ResponseReturnValue:
    """Put a rule one place up or down (or at any position) in its account's order."""
    form = MoveRuleForm()
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> tuple[int, str]:
        raw = (form.position.data or "").strip()
        if not (raw.isdigit() and len(raw) < 7):
            raise InvalidInputError(_("Posizione non valida."), field="position")
        outcome = rule_commands.move_rule(
            db, rule_id, int(raw), origin=origin, clock=clock, key=key
        )
        rule = outcome.value
        return rule.bank_account_id, _(
            "Regola «%(name)s» spostata in posizione %(n)d.", name=rule.name, n=rule.position
        )

    return _rule_act(rule_id, form, act)


@bp.route("/banca/regole/<int:rule_id>/disattiva", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def disable_rule_view(rule_id: int) -> ResponseReturnValue:
    """Disable a rule: it is kept, with who and when, and applies no more."""
    form = DisableRuleForm()
    key = views.form_key(form)
    origin, clock = views.origin(), views.clock()

    def act(db: Session) -> tuple[int, str]:
        outcome = rule_commands.disable_rule(db, rule_id, origin=origin, clock=clock, key=key)
        rule = outcome.value
        return rule.bank_account_id, (
            _("Regola «%(name)s» disattivata.", name=rule.name)
            if outcome.created
            else _("Questa regola era già disattivata.")
        )

    return _rule_act(rule_id, form, act)


# ------------------------------------------------------------------ the account's preset
def _preset_page(
    account: reads.AccountRow, current: dict[str, Any] | None, form: PresetForm, status: int = 200
) -> ResponseReturnValue:
    return render_template("bank/preset.html", account=account, current=current, form=form), status


@bp.route("/banca/<int:bank_account_id>/colonne", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def preset_view(bank_account_id: int) -> ResponseReturnValue:
    """The columns of the account's own CSV or XLSX export, set once: an import without
    a named preset reads such a file with them."""

    def read(db: Session) -> tuple[reads.AccountRow, dict[str, Any] | None]:
        return reads.account_row(db, bank_account_id), reads.preset_of(db, bank_account_id)

    account, current = views.snapshot(read)
    form = PresetForm()
    if not form.is_submitted() and current is not None:
        form.fill(current)
    key = views.form_key(form)
    if not form.validate_on_submit():
        return _preset_page(account, current, form, 422 if form.is_submitted() else 200)
    origin, clock = views.origin(), views.clock()
    try:
        in_transaction(
            lambda db: commands.set_account_preset(
                db, account.iban, form.settings(), origin=origin, clock=clock, key=key
            )
        )
    except LedgerError as exc:
        form.form_errors.append(error_text(exc.code, "", texts.act_error(exc)))
        return _preset_page(account, current, form, 422)
    flash(_("Schema delle colonne salvato."), "success")
    return redirect(url_for("bank.import_view", bank_account_id=bank_account_id))


# ------------------------------------------------------------------ reconciliation
def _as_of() -> Any:
    """The day of the report (`al`, YYYY-MM-DD; today unless given)."""
    raw = request.args.get("al", "").strip()
    if not raw:
        return views.today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInputError(_("Data non valida: usa AAAA-MM-GG."), field="al") from None


@bp.get("/banca/<int:bank_account_id>/riconciliazione")
@allow(TREASURER)
def reconciliation_view(bank_account_id: int) -> ResponseReturnValue:
    """The reconciliation as of a day: the bank's balance from the statements, the books'
    (every account the bank account holds), the reconciling items and the difference."""
    as_of = _as_of()

    def read(db: Session) -> tuple[reads.AccountRow, Any]:
        account = reads.get_account_by_id(db, bank_account_id)
        return reads.account_row(db, bank_account_id), reconciliation(db, account.iban, as_of)

    account, report = views.read_once(read)
    form = HoldForm()
    form.account.choices = views.snapshot(reads.asset_account_codes)
    views.form_key(form)
    return render_template(
        "bank/reconciliation.html", account=account, report=report, hold_form=form
    )


@bp.route("/banca/<int:bank_account_id>/conti-tenuti", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def hold_view(bank_account_id: int) -> ResponseReturnValue:
    """Add an asset account whose money sits in this bank account (a fund's cash): the
    reconciliation counts it in the books' balance, and a loan of that fund is repaid
    by reference from this account."""
    form = HoldForm()
    form.account.choices = views.snapshot(reads.asset_account_codes)
    key = views.form_key(form)
    target = url_for("bank.reconciliation_view", bank_account_id=bank_account_id)
    if not form.validate_on_submit():
        return redirect(target)
    origin, clock = views.origin(), views.clock()
    try:
        outcome = in_transaction(
            lambda db: commands.hold_account(
                db,
                reads.get_account_by_id(db, bank_account_id).iban,
                form.account.data or "",
                origin=origin,
                clock=clock,
                key=key,
            )
        )
    except LedgerError as exc:
        flash(texts.act_error(exc), "error")
    else:
        flash(
            _("Il conto %(code)s è tenuto in questo conto bancario.", code=form.account.data)
            if outcome.created
            else _("Questo conto era già tenuto qui."),
            "success",
        )
    return redirect(target)


@bp.get("/banca/<int:bank_account_id>/riconciliazione.<fmt>")
@allow(TREASURER)
def reconciliation_file(bank_account_id: int, fmt: str) -> ResponseReturnValue:
    """The same report as a PDF or a CSV file."""
    if fmt not in ("pdf", "csv"):
        raise InvalidInputError(_("Formato non disponibile: pdf o csv."), field="format")
    as_of = _as_of()

    def read(db: Session) -> bytes | str:
        account = reads.get_account_by_id(db, bank_account_id)
        report = reconciliation(db, account.iban, as_of)
        return render_reconciliation_pdf(report) if fmt == "pdf" else reconciliation_csv(report)

    data = views.read_once(read)
    response = Response(
        data, mimetype="application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8"
    )
    name = f"riconciliazione-{bank_account_id}-{as_of.isoformat()}.{fmt}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
