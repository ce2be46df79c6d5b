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

Each state change runs in one unit of work with its audit event (ids and
amounts only). Money forms carry a key made when they were shown, from which
the service's request key is derived (``web:<user>:<key>``), so a double submit
books once. The services below are shared with the JSON API (`web.api.funds`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from flask import (
    Blueprint,
    Flask,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.audit.models import AuditEvent
from ledger.core.clock import rome_today
from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.funds import commands as fund_commands
from ledger.funds import lending
from ledger.funds import service as funds
from ledger.funds.errors import InvalidLoanError, LoanNotFoundError
from ledger.funds.models import (
    Fund,
    Loan,
    LoanProductRow,
    LoanRecovery,
    LoanRepayment,
    LoanWriteOff,
    OverpaymentRefund,
)
from ledger.funds.portfolio import portfolio
from ledger.people.models import Person
from ledger.people.service import normalise_email
from ledger.statements import funds as statements
from web import views
from web.access import Principal, allow, audit, current_principal, signed_in
from web.books import parse_amount_text
from web.db import current_ledger, in_transaction
from web.errors import InvalidInputError
from web.forms import field_error
from web.fund_forms import (
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

T = TypeVar("T")

bp = Blueprint("funds", __name__)
borrower_bp = Blueprint("my_loans", __name__)

TREASURER = "treasurer"


def register(app: Flask) -> None:
    """Register the fund blueprints on `app`."""
    for blueprint in (bp, borrower_bp):
        app.register_blueprint(blueprint)


# ------------------------------------------------------------------ helpers
def _detached(work: Callable[[Session], T]) -> Callable[[Session], T]:
    def run(db: Session) -> T:
        result = work(db)
        db.expunge_all()
        return result

    return run


def read_once(work: Callable[[Session], T]) -> T:
    """This request's unit of work, read-only, with its rows usable afterwards."""
    return in_transaction(_detached(work), read_only=True)


def snapshot(work: Callable[[Session], T]) -> T:
    """A read before the request's unit of work (form choices, currencies)."""
    return current_ledger().read(_detached(work))


def _today() -> date:
    return rome_today(current_ledger().clock)


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # the access declaration admits no anonymous visitor
    return principal


def _actor(principal: Principal) -> str:
    return f"user:{principal.user_id}"


def _form_key(form: Any) -> str:
    if not form.form_key.data:
        form.form_key.data = uuid.uuid4().hex
    return str(form.form_key.data)[:64]


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def _earlier_subject(db: Session, action: str, hashed: str) -> str | None:
    """The subject id of an earlier request with this key (kept hashed in its audit event)."""
    events = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
        .limit(500)
    )
    for event in events:
        if (event.details or {}).get("request") == hashed:
            return event.subject_id
    return None


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
    today = _today()
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


# ------------------------------------------------------------------ services shared with the API
def open_and_record_loan(
    db: Session,
    *,
    fund_id: int,
    product_id: int,
    borrower_email: str | None = None,
    borrower_person_id: int | None = None,
    principal_minor: int,
    term_months: int,
    first_due_on: date,
    request_key: str,
    principal: Principal,
) -> tuple[Loan, bool]:
    """Open a loan for a registered person (by e-mail or id) once per request key."""
    existing = db.scalars(
        select(Loan).where(Loan.request_key == f"fund:{fund_id}:loan:{request_key}")
    ).first()
    person_id = borrower_person_id
    if borrower_email is not None:
        email = normalise_email(borrower_email)
        person_id = db.scalar(select(Person.id).where(Person.email == email))
        if person_id is None:
            raise InvalidLoanError(
                _("Nessuna persona registrata con questa e-mail."), field="borrower_email"
            )
    if person_id is None:
        raise InvalidLoanError(_("Indica il beneficiario."), field="borrower_email")
    loan = funds.open_loan(
        db,
        fund_id=fund_id,
        product_id=product_id,
        borrower_person_id=person_id,
        principal_minor=principal_minor,
        term_months=term_months,
        first_due_on=first_due_on,
        key=request_key,
        clock=current_ledger().clock,
        actor=_actor(principal),
    )
    if existing is None:
        audit(
            db,
            "loan.open",
            subject_type="loan",
            subject_id=loan.id,
            details={
                "fund_id": fund_id,
                "product_id": product_id,
                "principal": format_minor(loan.principal_minor, loan.currency),
                "term_months": loan.term_months,
            },
        )
    return loan, existing is None


def disburse(db: Session, loan_id: int, *, principal: Principal, on: date | None) -> Loan:
    """Disburse an approved loan (a loan already disbursed is returned unchanged)."""
    before = lending.get_loan(db, loan_id, lock=True).status
    loan = lending.disburse_loan(
        db, loan_id, clock=current_ledger().clock, actor=_actor(principal), disbursed_on=on
    )
    if before == "approved":
        audit(
            db,
            "loan.disburse",
            subject_type="loan",
            subject_id=loan.id,
            details={
                "amount": format_minor(loan.principal_minor, loan.currency),
                "sequence": loan.disbursement_sequence,
            },
        )
    return loan


def cancel(db: Session, loan_id: int, *, principal: Principal) -> Loan:
    """Cancel a loan granted and never disbursed; its reservation (if any) is released."""
    before = lending.get_loan(db, loan_id, lock=True).status
    loan = lending.cancel_loan(db, loan_id, clock=current_ledger().clock, actor=_actor(principal))
    if before == "approved":
        audit(db, "loan.cancel", subject_type="loan", subject_id=loan.id, details={})
    return loan


def _created(db: Session, model: Any, request_key: str) -> bool:
    return db.scalars(select(model.id).where(model.request_key == request_key)).first() is None


def record_repayment(
    db: Session,
    loan_id: int,
    amount_minor: int,
    *,
    received_on: date,
    request_key: str,
    principal: Principal,
) -> tuple[LoanRepayment, bool]:
    """Record a borrower's payment once per request key, with its audit event."""
    fresh = _created(db, LoanRepayment, f"loan:{loan_id}:repayment:{request_key}")
    row = lending.record_repayment(
        db,
        loan_id,
        amount_minor,
        received_on=received_on,
        key=request_key,
        clock=current_ledger().clock,
        actor=_actor(principal),
    )
    if fresh:
        audit(
            db,
            "loan.repayment",
            subject_type="loan",
            subject_id=loan_id,
            details={
                "repayment_id": row.id,
                "amount": format_minor(row.amount_minor, row.currency),
                "overpayment": format_minor(row.overpayment_minor, row.currency),
                "sequence": row.entry_sequence,
            },
        )
    return row, fresh


def write_off(
    db: Session, loan_id: int, *, on: date | None, request_key: str, principal: Principal
) -> tuple[LoanWriteOff, bool]:
    fresh = (
        db.scalars(select(LoanWriteOff.id).where(LoanWriteOff.loan_id == loan_id)).first() is None
    )
    row = lending.write_off_loan(
        db, loan_id, key=request_key, clock=current_ledger().clock, actor=_actor(principal), on=on
    )
    if fresh:
        loan = lending.get_loan(db, loan_id)
        audit(
            db,
            "loan.write_off",
            subject_type="loan",
            subject_id=loan_id,
            details={
                "principal": format_minor(row.principal_minor, loan.currency),
                "sequence": row.entry_sequence,
            },
        )
    return row, fresh


def record_recovery(
    db: Session,
    loan_id: int,
    amount_minor: int,
    *,
    received_on: date,
    request_key: str,
    principal: Principal,
) -> tuple[LoanRecovery, bool]:
    fresh = _created(db, LoanRecovery, f"loan:{loan_id}:recovery:{request_key}")
    row = lending.record_recovery(
        db,
        loan_id,
        amount_minor,
        received_on=received_on,
        key=request_key,
        clock=current_ledger().clock,
        actor=_actor(principal),
    )
    if fresh:
        loan = lending.get_loan(db, loan_id)
        audit(
            db,
            "loan.recovery",
            subject_type="loan",
            subject_id=loan_id,
            details={
                "recovery_id": row.id,
                "amount": format_minor(row.amount_minor, loan.currency),
                "sequence": row.entry_sequence,
            },
        )
    return row, fresh


def refund_overpayment(
    db: Session, loan_id: int, amount_minor: int, *, request_key: str, principal: Principal
) -> tuple[OverpaymentRefund, bool]:
    fresh = _created(db, OverpaymentRefund, f"loan:{loan_id}:overpayment-refund:{request_key}")
    row = lending.refund_overpayment(
        db,
        loan_id,
        amount_minor,
        key=request_key,
        clock=current_ledger().clock,
        actor=_actor(principal),
    )
    if fresh:
        loan = lending.get_loan(db, loan_id)
        audit(
            db,
            "loan.overpayment_refund",
            subject_type="loan",
            subject_id=loan_id,
            details={
                "refund_id": row.id,
                "amount": format_minor(row.amount_minor, loan.currency),
                "sequence": row.entry_sequence,
            },
        )
    return row, fresh


def borrower_name(db: Session, loan: Loan) -> str:
    person = db.get(Person, loan.borrower_person_id)
    return person.full_name if person is not None else f"n. {loan.borrower_person_id}"


def own_person_id(db: Session, principal: Principal) -> int | None:
    from ledger.people.models import User

    user = db.get(User, principal.user_id)
    return user.person_id if user is not None else None


def own_loan(db: Session, loan_id: int, principal: Principal) -> Loan:
    """The caller's loan; anyone else's is answered as not found."""
    loan = lending.get_loan(db, loan_id)
    if loan.borrower_person_id != own_person_id(db, principal):
        raise LoanNotFoundError(f"Nessun prestito con id {loan_id}.", loan_id=loan_id)
    return loan


# ------------------------------------------------------------------ template helpers
@bp.app_template_global()
def fund_kind(kind: str) -> str:
    labels = {"revolving": _("Fondo rotativo"), "microgrant": _("Microcontributi")}
    return labels.get(kind, kind)


@bp.app_template_global()
def loan_status(status: str) -> str:
    labels = {
        "approved": _("Approvato, da erogare"),
        "disbursed": _("In corso"),
        "repaid": _("Estinto"),
        "written_off": _("Stralciato"),
        "cancelled": _("Annullato"),
    }
    return labels.get(status, status)


@bp.app_template_global()
def percent(value: Decimal) -> str:
    """A fraction as a percentage with two decimals, Italian style ("4,00%")."""
    return f"{(value * 100).quantize(Decimal('0.01'))}".replace(".", ",") + "%"


# ------------------------------------------------------------------ treasury: funds
@dataclass(frozen=True, slots=True)
class FundRow:
    fund: Fund
    position: funds.FundPosition


@bp.get("/tesoreria/fondi")
@allow(TREASURER)
def fund_list() -> ResponseReturnValue:
    """Every fund with its position today."""
    today = _today()

    def read(db: Session) -> list[FundRow]:
        return [FundRow(f, funds.fund_position(db, f.id, on=today)) for f in funds.list_funds(db)]

    return render_template("funds/index.html", rows=read_once(read))


@bp.route("/tesoreria/fondi/nuovo", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def new_fund() -> ResponseReturnValue:
    form = FundForm()
    key = _form_key(form)
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


@dataclass(frozen=True, slots=True)
class FundPage:
    fund: Fund
    position: funds.FundPosition
    products: list[LoanProductRow]
    loans: list[tuple[Loan, str, int, int]]  # loan, borrower, outstanding, days past due


def _fund_page(db: Session, fund_id: int) -> FundPage:
    today = _today()
    fund = funds.get_fund(db, fund_id)
    position = funds.fund_position(db, fund.id, on=today)
    standing = {s.loan_id: s for s in portfolio(db, fund.id, today).loans}
    rows = []
    for loan in lending.list_loans(db, fund_id=fund.id):
        s = standing.get(loan.id)
        rows.append(
            (
                loan,
                borrower_name(db, loan),
                s.outstanding_principal_minor if s else 0,
                s.days_past_due if s else 0,
            )
        )
    return FundPage(fund, position, lending.list_loan_products(db, fund.id), rows)


@bp.get("/tesoreria/fondi/<int:fund_id>")
@allow(TREASURER)
def fund_detail(fund_id: int) -> ResponseReturnValue:
    """A fund's position, products and loans, and the statement form."""
    page = read_once(lambda db: _fund_page(db, fund_id))
    today = _today()
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
    fund = snapshot(lambda db: funds.get_fund(db, fund_id))
    form = DepositForm()
    key = _form_key(form)
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
    fund = snapshot(lambda db: funds.get_fund(db, fund_id))
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

            def work(db: Session) -> LoanProductRow:
                product = lending.create_loan_product(
                    db,
                    fund_id=fund_id,
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
                    clock=current_ledger().clock,
                )
                audit(
                    db,
                    "loan_product.create",
                    subject_type="loan_product",
                    subject_id=product.id,
                    details={"fund_id": fund_id, "annual_rate": product.annual_rate},
                )
                return product

            product = in_transaction(work)
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
    principal = _principal()

    def choices(db: Session) -> tuple[Fund, list[LoanProductRow]]:
        return funds.get_fund(db, fund_id), lending.list_loan_products(db, fund_id)

    fund, products = snapshot(choices)
    form = LoanForm()
    form.product.choices = [(str(p.id), f"{p.name} (n. {p.id})") for p in products]
    key = _form_key(form)
    if form.validate_on_submit():
        try:
            amount = parse_amount_text(form.principal.data or "", fund.currency)
            assert form.first_due_on.data is not None
            loan, _created_now = in_transaction(
                lambda db: open_and_record_loan(
                    db,
                    fund_id=fund_id,
                    product_id=int(form.product.data),
                    borrower_email=form.borrower_email.data or "",
                    principal_minor=amount.minor,
                    term_months=form.term.data or 0,
                    first_due_on=form.first_due_on.data,
                    request_key=f"web:{principal.user_id}:{key}",
                    principal=principal,
                )
            )
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

    data = read_once(read)
    name = f"rendiconto-fondo-{fund_id}-{start.isoformat()}-{end.isoformat()}.{fmt}"
    return _file(data, name, "application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8")


# ------------------------------------------------------------------ treasury: loans
@dataclass(frozen=True, slots=True)
class LoanPage:
    detail: lending.LoanDetail
    fund: Fund
    borrower: str
    borrower_email: str


def _loan_page(db: Session, loan_id: int) -> LoanPage:
    detail = lending.loan_detail(db, loan_id, on=_today())
    person = db.get(Person, detail.loan.borrower_person_id)
    return LoanPage(
        detail,
        funds.get_fund(db, detail.loan.fund_id),
        person.full_name if person else "",
        person.email if person else "",
    )


@bp.get("/tesoreria/prestiti/<int:loan_id>")
@allow(TREASURER)
def loan_detail(loan_id: int) -> ResponseReturnValue:
    """A loan: terms, schedule with payments, standing, and the actions its state allows."""
    page = read_once(lambda db: _loan_page(db, loan_id))
    return render_template(
        "funds/loan.html",
        page=page,
        disburse_form=DisburseForm(),
        cancel_form=CancelLoanForm(),
        repayment_form=RepaymentForm(received_on=_today()),
        recovery_form=RepaymentForm(received_on=_today()),
        refund_form=OverpaymentRefundForm(),
        write_off_form=WriteOffForm(),
        treasury=True,
    )


def _loan_action(
    loan_id: int,
    form: Any,
    name: str,
    act: Callable[[Session], str],
) -> ResponseReturnValue:
    """Run a money action on a loan from its page's form; errors show on the loan page."""
    if form.validate_on_submit():
        try:
            message = in_transaction(act)
        except LedgerError as exc:
            field_error(form, exc)
        else:
            flash(message, "success")
            return redirect(url_for("funds.loan_detail", loan_id=loan_id))
    elif request.method == "GET":
        return redirect(url_for("funds.loan_detail", loan_id=loan_id))
    page = snapshot(lambda db: _loan_page(db, loan_id))
    forms: dict[str, Any] = {
        "disburse_form": DisburseForm(formdata=None),
        "cancel_form": CancelLoanForm(formdata=None),
        "repayment_form": RepaymentForm(formdata=None, received_on=_today()),
        "recovery_form": RepaymentForm(formdata=None, received_on=_today()),
        "refund_form": OverpaymentRefundForm(formdata=None),
        "write_off_form": WriteOffForm(formdata=None),
    }
    forms[name] = form
    return render_template("funds/loan.html", page=page, treasury=True, **forms), 422


@bp.route("/tesoreria/prestiti/<int:loan_id>/erogazione", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def disburse_view(loan_id: int) -> ResponseReturnValue:
    principal = _principal()
    form = DisburseForm()

    def act(db: Session) -> str:
        loan = disburse(db, loan_id, principal=principal, on=form.disbursed_on.data)
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
    principal = _principal()
    form = CancelLoanForm()

    def act(db: Session) -> str:
        loan = cancel(db, loan_id, principal=principal)
        return _("Prestito n. %(id)d annullato: nulla è stato erogato.", id=loan.id)

    return _loan_action(loan_id, form, "cancel_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/rimborso", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def repayment_view(loan_id: int) -> ResponseReturnValue:
    principal = _principal()
    form = RepaymentForm()
    key = _form_key(form)

    def act(db: Session) -> str:
        amount = parse_amount_text(form.amount.data or "", lending.get_loan(db, loan_id).currency)
        assert form.received_on.data is not None
        row, fresh = record_repayment(
            db,
            loan_id,
            amount.minor,
            received_on=form.received_on.data,
            request_key=f"web:{principal.user_id}:{key}",
            principal=principal,
        )
        if not fresh:
            return _("Questo pagamento era già stato registrato.")
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
    principal = _principal()
    form = WriteOffForm()
    key = _form_key(form)

    def act(db: Session) -> str:
        row, _fresh = write_off(
            db,
            loan_id,
            on=form.on.data,
            request_key=f"web:{principal.user_id}:{key}",
            principal=principal,
        )
        return _(
            "Prestito stralciato: capitale di %(amount)s tolto dai crediti.",
            amount=format_minor(row.principal_minor, lending.get_loan(db, loan_id).currency),
        )

    return _loan_action(loan_id, form, "write_off_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/recupero", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def recovery_view(loan_id: int) -> ResponseReturnValue:
    principal = _principal()
    form = RepaymentForm()
    key = _form_key(form)

    def act(db: Session) -> str:
        amount = parse_amount_text(form.amount.data or "", lending.get_loan(db, loan_id).currency)
        assert form.received_on.data is not None
        row, fresh = record_recovery(
            db,
            loan_id,
            amount.minor,
            received_on=form.received_on.data,
            request_key=f"web:{principal.user_id}:{key}",
            principal=principal,
        )
        if not fresh:
            return _("Questo recupero era già stato registrato.")
        return _("Recupero n. %(id)d registrato.", id=row.id)

    return _loan_action(loan_id, form, "recovery_form", act)


@bp.route("/tesoreria/prestiti/<int:loan_id>/restituzione", methods=["GET", "POST"])
@allow(TREASURER, two_factor=True)
def overpayment_refund_view(loan_id: int) -> ResponseReturnValue:
    principal = _principal()
    form = OverpaymentRefundForm()
    key = _form_key(form)

    def act(db: Session) -> str:
        amount = parse_amount_text(form.amount.data or "", lending.get_loan(db, loan_id).currency)
        row, _fresh = refund_overpayment(
            db,
            loan_id,
            amount.minor,
            request_key=f"web:{principal.user_id}:{key}",
            principal=principal,
        )
        return _(
            "Restituzione di %(amount)s registrata.",
            amount=format_minor(row.amount_minor, lending.get_loan(db, loan_id).currency),
        )

    return _loan_action(loan_id, form, "refund_form", act)


@bp.get("/tesoreria/prestiti/<int:loan_id>/estratto.<fmt>")
@allow(TREASURER)
def loan_statement(loan_id: int, fmt: str) -> ResponseReturnValue:
    """The loan statement (PDF or CSV), with the borrower's name for handing to them."""
    if fmt not in ("pdf", "csv"):
        raise InvalidInputError(_("Formato non disponibile: pdf o csv."), field="format")
    today = _today()

    def read(db: Session) -> bytes | str:
        loan = lending.get_loan(db, loan_id)
        copy = statements.loan_statement(
            db, loan_id, on=today, borrower_label=borrower_name(db, loan)
        )
        if fmt == "pdf":
            return statements.render_loan_statement_pdf(copy)
        return statements.loan_statement_csv(copy)

    data = read_once(read)
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
    principal = _principal()
    today = _today()

    def read(db: Session) -> list[lending.LoanDetail]:
        person_id = own_person_id(db, principal)
        if person_id is None:
            return []
        return [
            lending.loan_detail(db, loan.id, on=today)
            for loan in lending.list_loans(db, borrower_person_id=person_id)
        ]

    return render_template("funds/my_loans.html", details=read_once(read))


@borrower_bp.get("/account/prestiti/<int:loan_id>")
@signed_in
def my_loan(loan_id: int) -> ResponseReturnValue:
    principal = _principal()

    def read(db: Session) -> LoanPage:
        own_loan(db, loan_id, principal)
        return _loan_page(db, loan_id)

    return render_template("funds/loan.html", page=read_once(read), treasury=False)


@borrower_bp.get("/account/prestiti/<int:loan_id>/estratto.pdf")
@signed_in
def my_loan_statement(loan_id: int) -> ResponseReturnValue:
    principal = _principal()
    today = _today()

    def read(db: Session) -> bytes:
        loan = own_loan(db, loan_id, principal)
        copy = statements.loan_statement(
            db, loan_id, on=today, borrower_label=borrower_name(db, loan)
        )
        return statements.render_loan_statement_pdf(copy)

    return _file(
        read_once(read), f"estratto-prestito-{loan_id}-{today.isoformat()}.pdf", "application/pdf"
    )
