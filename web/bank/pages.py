"""The treasurer's bank pages: bank accounts, statement upload, the review queue, one line.

The `bank` blueprint. Reading needs the role (treasurer; the accounts list and a
new account also admin); every act that moves money or explains a line (import,
apply references, ignore, book, match) and a new bank account also need a
confirmed TOTP code. Each act is one use case of `ledger.reconcile.commands`,
run in the request's one unit of work, which writes its own audit event; forms
carry a key made when they were shown, so a double submit is one act.

The upload form works without JavaScript; `static/bank-upload.js` adds a
progress bar (XMLHttpRequest upload events). Files are limited to
LEDGER_BANK_UPLOAD_MAX_BYTES (10 MB unless set), checked before the body is read.
"""

from __future__ import annotations

from collections.abc import Callable
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
from ledger.reconcile import commands
from ledger.reconcile.matching import STATUSES
from ledger.reconcile.report import reconciliation
from ledger.reconcile.statements import ImportReport, report_of
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
    IgnoreForm,
    ImportForm,
    MatchForm,
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
    return render_template(
        "bank/import.html",
        account=account,
        form=form,
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
            "confermate, %(repayments)d rimborsi registrati, %(left)d da spiegare a mano.",
            examined=counts.examined,
            gifts=counts.settled_gifts,
            repayments=counts.repayments,
            left=counts.left,
        ),
        "success",
    )
    return redirect(done)


# ------------------------------------------------------------------ one line
def _line_page(
    line_id: int,
    *,
    ignore: IgnoreForm | None = None,
    book: BookForm | None = None,
    match: MatchForm | None = None,
) -> str:
    detail = views.snapshot(lambda db: reads.line_detail(db, line_id))
    choices = views.snapshot(lambda db: reads.bookable_accounts(db, detail.account.currency))
    book_form = book or BookForm(formdata=None)
    book_form.account.choices = choices
    page = render_template(
        "bank/line.html",
        detail=detail,
        ignore_form=ignore or IgnoreForm(formdata=None),
        book_form=book_form,
        match_form=match or MatchForm(formdata=None),
        # Filled at merge time by the suggestion use cases (issue 13, part 3: rules and
        # suggestions): the template's `suggestions` block shows them when given.
        suggestions=None,
    )
    return page


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
    return render_template("bank/reconciliation.html", account=account, report=report)


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
