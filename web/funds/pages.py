"""Fund and microloan pages: the treasury's funds and loans, and a borrower's own loans.

Two blueprints, one per audience:

- `funds` (treasurers): every fund with its position (cash, committed,
  available, loans outstanding, PAR30), money in, loan products, loans opened,
  disbursed, repaid, written off and recovered, overpayments paid back, and the
  fund and loan statements (PDF, CSV). Reading needs the role; moving money
  also needs a confirmed TOTP code.
- `my_loans` (signed in): the user's own loans, their schedule and payments,
  and their statement. Someone else's loan is answered 404, as if it did not
  exist. Nothing here is public: a loan names a person.

A view parses the form, calls the use case (`ledger.funds.commands`,
`ledger.funds.loan_commands`), which writes its audit event in the same unit
of work, and answers. Money forms carry a key made when they were shown
(`web.views.form_key`), the use case's request key, so a double submit books
once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.funds import commands as fund_commands
from ledger.funds import lending, loan_commands
from ledger.funds import service as funds
from ledger.funds.models import Fund, LoanProductRow
from ledger.statements import funds as statements
from web import views
from web.access import allow, signed_in
from web.amounts import parse_amount_text
from web.db import in_transaction
from web.errors import InvalidInputError
from web.forms import field_error
from web.funds.forms import (
    CancelLoanForm,
    DepositForm,
    DisburseForm,
    FundForm,
    LoanForm,
    OverpaymentRefundForm,
    ProductForm,
    RepaymentForm,
    WriteOffForm,
)
from web.funds.reads import (
    TREASURER,
    LoanPage,
    borrower_name,
    fund_page,
    fund_rows,
    loan_page,
    own_loan,
    own_person_id,
)

bp = Blueprint("funds", __name__)
borrower_bp = Blueprint("my_loans", __name__)


# ------------------------------------------------------------------ input
def parse_rate_percent(text: str) -> Decimal:
    """A yearly rate typed as a percentage ("6", "2,5") as a fraction (0.06, 0.025)."""
    value = "".join((text or "").split()).replace(",", ".")
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise InvalidInputError(
            _("Tasso non valido: scrivi la percentuale, per esempio 6 o 2,5."), field="rate"
        ) from None
    if not rate.is_finite() or rate < 0 or rate > 100:
        raise InvalidInputError(_("Il tasso deve essere tra 0 e 100."), field="rate")
    return rate / 100


def parse_period(args: Any) -> tuple[date, date]:
    """The statement period from `dal` and `al` (ISO dates); default: this year to today."""
    today = views.today()
    try:
        start = date.fromisoformat(args.get("dal") or f"{today.year}-01-01")
        end = date.fromisoformat(args.get("al") or today.isoformat())
    except ValueError:
        raise InvalidInputError(
            _("Periodo non valido: usa date come 2026-01-31."), field="period"
        ) from None
    if end < start:
        raise InvalidInputError(
            _("Periodo non valido: la data finale precede quella iniziale."), field="period"
        )
    return start, end


def _file(data: bytes | str, filename: str, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ------------------------------------------------------------------ treasury: funds
@bp.get("/tesoreria/fondi")
@allow(TREASURER)
def fund_list() -> ResponseReturnValue:
    """Every fund with its position today."""
    today = views.today()
    rows = views.read_once(lambda db: fund_rows(db, today))
    return render_template("funds/index.html", rows=rows)


@bp.route("/tesoreria/fondi/nuovo", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def new_fund() -> ResponseReturnValue:
    form = FundForm()
    key = views.form_key(form)
    if form.validate_on_submit():
        try:
            fund = in_transaction(
                lambda db: fund_commands.create_fund(
                    db,
                    name=form.name.data or "",
                    kind=form.kind.data or "",
                    currency="EUR",
                    origin=views.origin(),
                    clock=views.clock(),
                    key=key,
                )
            ).value
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(_("Fondo n. %(id)d creato.", id=fund.id), "success")
            return redirect(url_for("funds.fund_detail", fund_id=fund.id))
    status = 422 if form.is_submitted() else 200
    return render_template("funds/new_fund.html", form=form), status


@bp.get("/tesoreria/fondi/<int:fund_id>")
@allow(TREASURER)
def fund_detail(fund_id: int) -> ResponseReturnValue:
    """A fund's position, products and loans, and the statement form."""
    today = views.today()
    page = views.read_once(lambda db: fund_page(db, fund_id, today))
    return render_template(
        "funds/fund.html",
        page=page,
        start=date(today.year, 1, 1).isoformat(),
        end=today.isoformat(),
    )


@bp.route("/tesoreria/fondi/<int:fund_id>/entrata", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def deposit(fund_id: int) -> ResponseReturnValue:
    """Money in: a foundation's grant, donations or a transfer reach the fund's account."""
    fund = views.snapshot(lambda db: funds.get_fund(db, fund_id))
    form = DepositForm()
    key = views.form_key(form)
    if form.validate_on_submit():
        try:
            amount = parse_amount_text(form.amount.data or "", fund.currency)
            booked = in_transaction(
                lambda db: fund_commands.deposit(
                    db,
                    fund_id,
                    amount.minor,
                    source=form.source.data or "",
                    origin=views.origin(),
                    clock=views.clock(),
                    key=key,
                    effective_on=form.effective_on.data,
                    reference=form.reference.data or None,
                )
            ).value
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(
                _("Entrata registrata (registrazione n. %(n)d).", n=booked.sequence)
                if booked.created
                else _("Questa entrata era già stata registrata."),
                "success",
            )
            return redirect(url_for("funds.fund_detail", fund_id=fund_id))
    status = 422 if form.is_submitted() else 200
    return render_template("funds/deposit.html", form=form, fund=fund), status


@bp.route("/tesoreria/fondi/<int:fund_id>/prodotti/nuovo", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def new_product(fund_id: int) -> ResponseReturnValue:
    """A loan product: limits, rate (0% allowed), schedule method, grace, day count, rounding."""
    fund = views.snapshot(lambda db: funds.get_fund(db, fund_id))
    form = ProductForm()
    if form.validate_on_submit():
        try:
            low = parse_amount_text(form.min_amount.data or "", fund.currency).minor
            high = parse_amount_text(form.max_amount.data or "", fund.currency).minor
            fee = (
                parse_amount_text(form.fee.data, fund.currency).minor
                if (form.fee.data or "").strip()
                else 0
            )
            rate = parse_rate_percent(form.rate.data or "")
            product = in_transaction(
                lambda db: loan_commands.create_loan_product(
                    db,
                    fund_id,
                    name=form.name.data or "",
                    min_amount_minor=low,
                    max_amount_minor=high,
                    annual_rate=rate,
                    method=form.method.data or "",
                    min_term_months=form.min_term.data or 0,
                    max_term_months=form.max_term.data or 0,
                    grace_months=form.grace.data or 0,
                    day_count=form.day_count.data or "",
                    rounding=form.rounding.data or "",
                    fee_per_instalment_minor=fee,
                    origin=views.origin(),
                    clock=views.clock(),
                )
            ).value
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(_("Prodotto n. %(id)d creato.", id=product.id), "success")
            return redirect(url_for("funds.fund_detail", fund_id=fund_id))
    status = 422 if form.is_submitted() else 200
    return render_template("funds/new_product.html", form=form, fund=fund), status


@bp.route("/tesoreria/fondi/<int:fund_id>/prestiti/nuovo", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def new_loan(fund_id: int) -> ResponseReturnValue:
    """Grant a loan to a registered person on one of the fund's products."""

    def choices(db: Session) -> tuple[Fund, list[LoanProductRow]]:
        return funds.get_fund(db, fund_id), lending.list_loan_products(db, fund_id)

    fund, products = views.snapshot(choices)
    form = LoanForm()
    form.product.choices = [(str(p.id), f"{p.name} (n. {p.id})") for p in products]
    key = views.form_key(form)
    if form.validate_on_submit():
        try:
            amount = parse_amount_text(form.principal.data or "", fund.currency)
            assert form.first_due_on.data is not None
            loan = in_transaction(
                lambda db: loan_commands.open_loan(
                    db,
                    fund_id,
                    int(form.product.data),
                    borrower_email=form.borrower_email.data or "",
                    principal_minor=amount.minor,
                    term_months=form.term.data or 0,
                    first_due_on=form.first_due_on.data,
                    origin=views.origin(),
                    clock=views.clock(),
                    key=key,
                )
            ).value
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(_("Prestito n. %(id)d concesso: ora si può erogare.", id=loan.id), "success")
            return redirect(url_for("funds.loan_detail", loan_id=loan.id))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "funds/new_loan.html", form=form, fund=fund, has_products=bool(products)
    ), status


@bp.get("/tesoreria/fondi/<int:fund_id>/rendiconto.<fmt>")
@allow(TREASURER)
def fund_statement(fund_id: int, fmt: str) -> ResponseReturnValue:
    """The fund statement for a period (`dal`, `al`), as PDF or CSV."""
    if fmt not in ("pdf", "csv"):
        raise InvalidInputError(_("Formato non disponibile: pdf o csv."), field="format")
    start, end = parse_period(request.args)

    def read(db: Session) -> bytes | str:
        statement = statements.fund_statement(db, fund_id, start, end)
        if fmt == "pdf":
            return statements.render_fund_statement_pdf(statement)
        return statements.fund_statement_csv(statement)

    data = views.read_once(read)
    name = f"rendiconto-fondo-{fund_id}-{start.isoformat()}-{end.isoformat()}.{fmt}"
    return _file(data, name, "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8")


# ------------------------------------------------------------------ treasury: loans
@bp.get("/tesoreria/prestiti/<int:loan_id>")
@allow(TREASURER)
def loan_detail(loan_id: int) -> ResponseReturnValue:
    """A loan: terms, schedule with payments, standing, and the actions its state allows."""
    today = views.today()
    page = views.read_once(lambda db: loan_page(db, loan_id, today))
    return render_template(
        "funds/loan.html",
        page=page,
        disburse_form=DisburseForm(),
        cancel_form=CancelLoanForm(),
        repayment_form=RepaymentForm(received_on=today),
        recovery_form=RepaymentForm(received_on=today),
        refund_form=OverpaymentRefundForm(),
        write_off_form=WriteOffForm(),
        treasury=True,
    )


def _loan_action(
    loan_id: int, form: Any, name: str, act: Callable[[Session], str]
) -> ResponseReturnValue:
    """Run a money action on a loan from its page's form; a refusal shows on the loan page."""

    def again() -> ResponseReturnValue:
        today = views.today()
        page = views.snapshot(lambda db: loan_page(db, loan_id, today))
        forms: dict[str, Any] = {
            "disburse_form": DisburseForm(formdata=None),
            "cancel_form": CancelLoanForm(formdata=None),
            "repayment_form": RepaymentForm(formdata=None, received_on=today),
            "recovery_form": RepaymentForm(formdata=None, received_on=today),
            "refund_form": OverpaymentRefundForm(formdata=None),
            "write_off_form": WriteOffForm(formdata=None),
        }
        forms[name] = form
        return render_template("funds/loan.html", page=page, treasury=True, **forms)

    return views.form_action(
        form, act, done=url_for("funds.loan_detail", loan_id=loan_id), again=again
    )


def _currency(db: Session, loan_id: int) -> str:
    return lending.get_loan(db, loan_id).currency


@bp.route("/tesoreria/prestiti/<int:loan_id>/erogazione", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def disburse_view(loan_id: int) -> ResponseReturnValue:
    form = DisburseForm()

    def act(db: Session) -> str:
        loan = loan_commands.disburse_loan(
            db,
            loan_id,
            disbursed_on=form.disbursed_on.data,
            origin=views.origin(),
            clock=views.clock(),
        ).value
        return _(
            "Prestito n. %(id)d erogato (registrazione n. %(n)d).",
            id=loan.id,
            n=loan.disbursement_sequence or 0,
        )

    return _loan_action(loan_id, form, "disburse_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/annullamento", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def cancel_view(loan_id: int) -> ResponseReturnValue:
    """Cancel a loan that was granted and never paid out: its reservation goes back."""
    form = CancelLoanForm()

    def act(db: Session) -> str:
        loan = loan_commands.cancel_loan(
            db, loan_id, origin=views.origin(), clock=views.clock()
        ).value
        return _("Prestito n. %(id)d annullato: nulla è stato erogato.", id=loan.id)

    return _loan_action(loan_id, form, "cancel_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/rimborso", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def repayment_view(loan_id: int) -> ResponseReturnValue:
    form = RepaymentForm()
    key = views.form_key(form)

    def act(db: Session) -> str:
        amount = parse_amount_text(form.amount.data or "", _currency(db, loan_id))
        assert form.received_on.data is not None
        outcome = loan_commands.record_repayment(
            db,
            loan_id,
            amount.minor,
            received_on=form.received_on.data,
            origin=views.origin(),
            clock=views.clock(),
            key=key,
        )
        if not outcome.created:
            return _("Questo pagamento era già stato registrato.")
        row = outcome.value
        text = _(
            "Pagamento registrato: commissioni %(fees)s, interessi %(interest)s, "
            "capitale %(principal)s.",
            fees=format_minor(row.fees_minor, row.currency),
            interest=format_minor(row.interest_minor, row.currency),
            principal=format_minor(row.principal_minor, row.currency),
        )
        if row.overpayment_minor:
            text += " " + _(
                "Eccedenza di %(amount)s da restituire al beneficiario.",
                amount=format_minor(row.overpayment_minor, row.currency),
            )
        return text

    return _loan_action(loan_id, form, "repayment_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/stralcio", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def write_off_view(loan_id: int) -> ResponseReturnValue:
    form = WriteOffForm()
    key = views.form_key(form)

    def act(db: Session) -> str:
        row = loan_commands.write_off_loan(
            db, loan_id, on=form.on.data, origin=views.origin(), clock=views.clock(), key=key
        ).value
        return _(
            "Prestito stralciato: capitale di %(amount)s tolto dai crediti.",
            amount=format_minor(row.principal_minor, _currency(db, loan_id)),
        )

    return _loan_action(loan_id, form, "write_off_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/recupero", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def recovery_view(loan_id: int) -> ResponseReturnValue:
    form = RepaymentForm()
    key = views.form_key(form)

    def act(db: Session) -> str:
        amount = parse_amount_text(form.amount.data or "", _currency(db, loan_id))
        assert form.received_on.data is not None
        outcome = loan_commands.record_recovery(
            db,
            loan_id,
            amount.minor,
            received_on=form.received_on.data,
            origin=views.origin(),
            clock=views.clock(),
            key=key,
        )
        if not outcome.created:
            return _("Questo recupero era già stato registrato.")
        return _("Recupero n. %(id)d registrato.", id=outcome.value.id)

    return _loan_action(loan_id, form, "recovery_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/restituzione", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def overpayment_refund_view(loan_id: int) -> ResponseReturnValue:
    form = OverpaymentRefundForm()
    key = views.form_key(form)

    def act(db: Session) -> str:
        currency = _currency(db, loan_id)
        amount = parse_amount_text(form.amount.data or "", currency)
        row = loan_commands.refund_overpayment(
            db, loan_id, amount.minor, origin=views.origin(), clock=views.clock(), key=key
        ).value
        return _(
            "Restituzione di %(amount)s registrata.",
            amount=format_minor(row.amount_minor, currency),
        )

    return _loan_action(loan_id, form, "refund_form", act)


@bp.get("/tesoreria/prestiti/<int:loan_id>/estratto.<fmt>")
@allow(TREASURER)
def loan_statement(loan_id: int, fmt: str) -> ResponseReturnValue:
    """The loan statement (PDF or CSV), with the borrower's name for handing to them."""
    if fmt not in ("pdf", "csv"):
        raise InvalidInputError(_("Formato non disponibile: pdf o csv."), field="format")
    today = views.today()

    def read(db: Session) -> bytes | str:
        loan = lending.get_loan(db, loan_id)
        copy = statements.loan_statement(
            db, loan_id, on=today, borrower_label=borrower_name(db, loan)
        )
        if fmt == "pdf":
            return statements.render_loan_statement_pdf(copy)
        return statements.loan_statement_csv(copy)

    data = views.read_once(read)
    return _file(
        data,
        f"estratto-prestito-{loan_id}-{today.isoformat()}.{fmt}",
        "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8",
    )


# ------------------------------------------------------------------ borrower
@borrower_bp.get("/account/prestiti")
@signed_in
def my_loans() -> ResponseReturnValue:
    """The signed-in person's own loans."""
    principal = views.principal()
    today = views.today()

    def read(db: Session) -> list[lending.LoanDetail]:
        person_id = own_person_id(db, principal)
        if person_id is None:
            return []
        return [
            lending.loan_detail(db, loan.id, on=today)
            for loan in lending.list_loans(db, borrower_person_id=person_id)
        ]

    return render_template("funds/my_loans.html", details=views.read_once(read))


@borrower_bp.get("/account/prestiti/<int:loan_id>")
@signed_in
def my_loan(loan_id: int) -> ResponseReturnValue:
    principal = views.principal()
    today = views.today()

    def read(db: Session) -> LoanPage:
        own_loan(db, loan_id, principal)
        return loan_page(db, loan_id, today)

    return render_template("funds/loan.html", page=views.read_once(read), treasury=False)


@borrower_bp.get("/account/prestiti/<int:loan_id>/estratto.pdf")
@signed_in
def my_loan_statement(loan_id: int) -> ResponseReturnValue:
    principal = views.principal()
    today = views.today()

    def read(db: Session) -> bytes:
        loan = own_loan(db, loan_id, principal)
        copy = statements.loan_statement(
            db, loan_id, on=today, borrower_label=borrower_name(db, loan)
        )
        return statements.render_loan_statement_pdf(copy)

    return _file(
        views.read_once(read),
        f"estratto-prestito-{loan_id}-{today.isoformat()}.pdf",
        "application/pdf",
    )
