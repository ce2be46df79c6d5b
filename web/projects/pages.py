"""Pages of projects (issue 15): the list, a project's overview, the budget editor, expense
entry with a document's file, money in (grant, partners, campaigns), volunteer hours with the
organisation's register of volunteers (art. 17 c.1 CTS) and the rate table, in-kind, and the
report to a funder.

Who sees what is the domain's rule (`ledger.projects.getters`, through `reads`): project
staff act on the projects their organisation leads (treasurers and admins on all), a
foundation officer reads their foundations' projects only and downloads their reports, a
partner's user reads only its organisation's contributions and costs. A project or a
document one may not read is a 404. Each act is a use case of `ledger.projects.commands`
in the request's one unit of work; the forms that move money carry a key made when they
were shown (a double submit books once) and need a confirmed TOTP code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from ledger.core.errors import LedgerError
from ledger.projects import commands
from ledger.projects.expenses import AllocationSpec
from ledger.projects.files import MAX_BYTES
from ledger.projects.getters import funder_by_foundation, projects_visible_to
from ledger.projects.report import funder_report
from ledger.projects.service import LineSpec, SourceAmount
from ledger.statements import project_report, project_report_pdf
from web import views
from web.access import allow
from web.amounts import parse_amount_text
from web.db import in_transaction
from web.forms import field_error
from web.projects import reads
from web.projects.forms import (
    REPORT_FORMATS,
    BudgetForm,
    CampaignForm,
    ConfirmForm,
    ContributionForm,
    EndForm,
    EnrolForm,
    ExpenseForm,
    GrantForm,
    HoursForm,
    InKindForm,
    RateForm,
    ReportForm,
    RowError,
    amount_of,
    budget_file_rows,
    choices,
    optional_amount_of,
    upload_help,
)
from web.projects.reads import ACTORS, BOOKS, READERS, REPORT_READERS

bp = Blueprint("projects", __name__)

UPLOAD_ENDPOINTS = frozenset({"projects.new_expense", "projects.propose_budget"})


def register_upload_limit() -> None:
    """A document's file may be up to the domain's limit (the form's help says so)."""
    if request.endpoint in UPLOAD_ENDPOINTS:
        request.max_content_length = MAX_BYTES + 1024 * 1024


def _uploaded(field: Any) -> bytes | None:
    data = field.data
    if isinstance(data, FileStorage) and data.filename:
        return bytes(data.read())
    return None


def _act(
    form: Any, work: Callable[[Session], Any], message: str, done: str
) -> ResponseReturnValue | None:
    """Run a use case for a validated form: flash and redirect, or attach the refusal
    to the form (nothing written) and return None for the page to be shown again."""
    try:
        in_transaction(work)
    except RowError as exc:
        exc.field.errors = [*list(exc.field.errors), exc.message]
    except LedgerError as exc:
        field_error(form, exc)
    except ValueError:
        # A choice that was never offered (a tampered form): nothing is written.
        form.form_errors.append(_("Una scelta del modulo non è valida: ricarica la pagina."))
    else:
        flash(message, "success")
        return redirect(done, 303)
    return None


def _status(form: Any) -> int:
    return 422 if form.is_submitted() else 200


# ------------------------------------------------------------------ reading
@bp.get("/progetti")
@allow(*READERS)
def index() -> ResponseReturnValue:
    """The projects the user may read."""
    principal = views.principal()
    rows = views.read_once(lambda db: projects_visible_to(db, reads.user_of(db, principal)))
    return render_template("projects/index.html", rows=rows)


@bp.get("/progetti/<int:project_id>")
@allow(*READERS)
def project(project_id: int) -> ResponseReturnValue:
    """A project's overview (a partner's user: only its organisation's part)."""
    principal = views.principal()
    today = views.today()
    view = views.read_once(lambda db: reads.overview(db, principal, project_id, today))
    return render_template("projects/project.html", view=view)


@bp.get("/progetti/<int:project_id>/documenti/<int:document_id>/file")
@allow(*READERS)
def document_file(project_id: int, document_id: int) -> ResponseReturnValue:
    """A document's file, for who may read its project (404 for anyone else)."""
    principal = views.principal()

    def read(db: Session) -> tuple[bytes, str, str]:
        stored = reads.document_file(db, principal, project_id, document_id)
        return bytes(stored.content), stored.media_type, stored.sha256

    content, media, digest = views.read_once(read)
    extension = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}[media]
    return Response(
        content,
        mimetype=media,
        headers={
            "Content-Disposition": f'attachment; filename="documento-{document_id}.{extension}"',
            "X-Content-Type-Options": "nosniff",
            "ETag": digest,
        },
    )


# ------------------------------------------------------------------ budget
def _budget_lines(db: Session, project_id: int, form: BudgetForm, currency: str) -> list[LineSpec]:
    content = _uploaded(form.budget_file)
    lines: dict[str, tuple[str, str, list[SourceAmount]]] = {}
    if content is not None:
        try:
            raw = budget_file_rows(content)
            for line in raw:
                amounts = []
                for a in line.get("amounts", []):
                    ref = int(a.get("ref", 0))
                    if a["source"] == "grant":
                        ref = funder_by_foundation(db, project_id, ref).id
                    amounts.append(
                        SourceAmount(
                            str(a["source"]),
                            parse_amount_text(str(a["amount"]), currency).minor,
                            ref,
                        )
                    )
                lines[str(line["code"])] = (str(line["category"]), str(line["title"]), amounts)
        except (ValueError, KeyError, TypeError) as exc:
            raise RowError(
                form.budget_file, _("Il file non è un budget in JSON leggibile.")
            ) from exc
    else:
        for row in form.rows:
            if not (row.code.data or "").strip():
                continue
            code = row.code.data.strip()
            if not (row.amount.data or "").strip():
                raise RowError(row.amount, _("Indica l'importo della voce."))
            ref_text = row.ref.data or ""
            ref = 0
            if row.source.data == "grant":
                if not ref_text.startswith("f"):
                    raise RowError(row.ref, _("Scegli il finanziatore del contributo."))
                ref = funder_by_foundation(db, project_id, int(ref_text[1:])).id
            elif row.source.data == "partner":
                if not ref_text.startswith("p"):
                    raise RowError(row.ref, _("Scegli il partner che cofinanzia."))
                ref = int(ref_text[1:])
            amount = SourceAmount(row.source.data, amount_of(row.amount, currency), ref)
            lines.setdefault(code, (row.category.data, (row.title.data or code).strip(), []))[
                2
            ].append(amount)
    if not lines:
        raise RowError(form.rows[0].code, _("Scrivi almeno una voce o carica il file."))
    return [LineSpec(code, c, t, tuple(a)) for code, (c, t, a) in lines.items()]


@bp.get("/progetti/<int:project_id>/budget")
@allow(*READERS)
def budget(project_id: int) -> ResponseReturnValue:
    """The budget: its versions (earlier ones stay readable), the latest shown."""
    return _budget_page(project_id, None)


@bp.get("/progetti/<int:project_id>/budget/<int:version_id>")
@allow(*READERS)
def budget_version(project_id: int, version_id: int) -> ResponseReturnValue:
    """One version of the budget."""
    return _budget_page(project_id, version_id)


def _budget_page(
    project_id: int, version_id: int | None, approve: ConfirmForm | None = None
) -> ResponseReturnValue:
    principal = views.principal()
    page = views.snapshot(lambda db: reads.budget_page(db, principal, project_id, version_id))
    form = approve or ConfirmForm(formdata=None)
    status = 200 if approve is None else 409 if form.form_errors else 422
    return render_template("projects/budget.html", page=page, approve=form), status


@bp.route("/progetti/<int:project_id>/budget/proponi", methods=["GET", "POST"])
@allow(*ACTORS, two_factor=True)
def propose_budget(project_id: int) -> ResponseReturnValue:
    """A new budget version (the first or a revision): repeated rows of line x source, or
    the JSON file the CLI takes; a second person approves it."""
    principal = views.principal()
    project = views.snapshot(lambda db: reads.actable(db, principal, project_id))
    ref_choices = choices(views.snapshot(lambda db: reads.ref_choices(db, project_id)))
    form = BudgetForm()
    for row in form.rows:
        row.ref.choices = ref_choices
    key = views.form_key(form)
    if form.validate_on_submit():
        currency = project.currency

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            lines = _budget_lines(db, project_id, form, currency)
            commands.propose_budget(
                db,
                project_id,
                lines,
                note=form.note.data or None,
                origin=views.origin(),
                clock=views.clock(),
                key=key,
            )

        done = _act(
            form,
            work,
            _("Versione proposta: un'altra persona deve approvarla."),
            url_for("projects.budget", project_id=project_id),
        )
        if done is not None:
            return done
    return render_template(
        "projects/propose_budget.html", project=project, form=form, upload_help=upload_help()
    ), _status(form)


@bp.post("/progetti/<int:project_id>/budget/<int:version_id>/approva")
@allow(*ACTORS, two_factor=True)
def approve_budget(project_id: int, version_id: int) -> ResponseReturnValue:
    """Approve a proposed version: a person other than the proposer (the refusal is shown
    on the page, nothing changed)."""
    principal = views.principal()
    form = ConfirmForm()
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            page = reads.budget_page(db, principal, project_id, version_id)
            assert page.shown is not None
            commands.approve_budget(db, version_id, origin=views.origin(), clock=views.clock())

        done = _act(
            form,
            work,
            _("Versione approvata: è il budget in vigore."),
            url_for("projects.budget_version", project_id=project_id, version_id=version_id),
        )
        if done is not None:
            return done
    return _budget_page(project_id, version_id, form)


# ------------------------------------------------------------------ expenses
def _allocations(
    db: Session, project_id: int, form: ExpenseForm, currency: str
) -> list[AllocationSpec]:
    partner = int(form.partner.data) if form.partner.data else None
    specs = []
    for row in form.allocations:
        if not (row.line.data or "") and not (row.amount.data or "").strip():
            continue
        if not row.line.data:
            raise RowError(row.line, _("Scegli la voce del budget."))
        if not row.source.data:
            raise RowError(row.source, _("Scegli la fonte."))
        source, _sep, ref_text = row.source.data.partition(":")
        ref = int(ref_text or 0)
        if source == "grant":
            ref = funder_by_foundation(db, project_id, ref).id
        specs.append(
            AllocationSpec(row.line.data, source, amount_of(row.amount, currency), ref, partner)
        )
    if not specs:
        raise RowError(form.allocations[0].line, _("Imputa il documento ad almeno una voce."))
    return specs


@bp.route("/progetti/<int:project_id>/spese/nuova", methods=["GET", "POST"])
@allow(*ACTORS, two_factor=True)
def new_expense(project_id: int) -> ResponseReturnValue:
    """An expense document with its file (a photo from the phone is fine), proof of
    payment and allocation rows; refused, nothing written, beyond its amount."""
    principal = views.principal()
    found = views.snapshot(lambda db: reads.expense_choices(db, principal, project_id))
    form = ExpenseForm()
    form.supplier.choices = choices(found.suppliers)
    form.partner.choices = choices(found.partners)
    for row in form.allocations:
        row.line.choices = choices(found.lines)
        row.source.choices = choices(found.sources)
    key = views.form_key(form)
    if not form.is_submitted():
        form.issued_on.data = views.today()
    if form.validate_on_submit():
        currency = found.project.currency
        content = _uploaded(form.file)

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            commands.record_expense(
                db,
                project_id,
                kind=form.kind.data,
                supplier_id=int(form.supplier.data),
                number=form.number.data or "",
                issued_on=form.issued_on.data,
                net_minor=amount_of(form.net, currency),
                vat_minor=optional_amount_of(form.vat, currency),
                vat_recoverable=bool(form.vat_recoverable.data),
                paid_by=form.paid_by.data,
                partner_id=int(form.partner.data) if form.partner.data else None,
                allocations=_allocations(db, project_id, form, currency),
                file=content,
                payment_line_id=form.bank_line.data,
                payment_sequence=form.entry.data,
                origin=views.origin(),
                clock=views.clock(),
                key=key,
            )

        done = _act(
            form,
            work,
            _("Spesa registrata."),
            url_for("projects.project", project_id=project_id),
        )
        if done is not None:
            return done
    return render_template(
        "projects/expense.html", choices=found, form=form, upload_help=upload_help()
    ), _status(form)


# ------------------------------------------------------------------ money in
def _money(project_id: int, **forms: Any) -> ResponseReturnValue:
    principal = views.principal()
    page = views.snapshot(lambda db: reads.money_page(db, principal, project_id))
    all_forms: dict[str, Any] = {
        "grant": GrantForm(formdata=None),
        "contribution": ContributionForm(formdata=None),
        "campaign": CampaignForm(formdata=None),
        "in_kind": InKindForm(formdata=None),
        "confirm": ConfirmForm(formdata=None),
    }
    all_forms.update(forms)
    all_forms["grant"].funder.choices = choices(page.funders)
    all_forms["contribution"].partner.choices = choices(page.partners)
    all_forms["in_kind"].organisation.choices = choices([("", "—"), *page.partners])
    for name in ("grant", "contribution", "in_kind"):
        views.form_key(all_forms[name])
        if all_forms[name].received_on.data is None:
            all_forms[name].received_on.data = views.today()
    status = 422 if forms and any(f.is_submitted() for f in forms.values()) else 200
    return render_template("projects/money.html", page=page, **all_forms), status


@bp.get("/progetti/<int:project_id>/entrate")
@allow(*ACTORS, two_factor=True)
def money_in(project_id: int) -> ResponseReturnValue:
    """Money in: the funder's advance and tranches, partners' cash, campaigns paid out,
    goods and services in kind."""
    return _money(project_id)


def _money_done(project_id: int) -> str:
    return url_for("projects.money_in", project_id=project_id)


@bp.post("/progetti/<int:project_id>/entrate/finanziatore")
@allow(*ACTORS, two_factor=True)
def receive_grant(project_id: int) -> ResponseReturnValue:
    principal = views.principal()
    page = views.snapshot(lambda db: reads.money_page(db, principal, project_id))
    form = GrantForm()
    form.funder.choices = choices(page.funders)
    key = views.form_key(form)
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            funder = funder_by_foundation(db, project_id, int(form.funder.data))
            commands.receive_grant(
                db,
                project_id,
                funder.id,
                amount_of(form.amount, page.project.currency),
                kind=form.kind.data,
                received_on=form.received_on.data,
                origin=views.origin(),
                clock=views.clock(),
                key=key,
            )

        done = _act(form, work, _("Entrata del finanziatore registrata."), _money_done(project_id))
        if done is not None:
            return done
    return _money(project_id, grant=form)


@bp.post("/progetti/<int:project_id>/entrate/partner")
@allow(*ACTORS, two_factor=True)
def receive_contribution(project_id: int) -> ResponseReturnValue:
    principal = views.principal()
    page = views.snapshot(lambda db: reads.money_page(db, principal, project_id))
    form = ContributionForm()
    form.partner.choices = choices(page.partners)
    key = views.form_key(form)
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            commands.receive_contribution(
                db,
                project_id,
                int(form.partner.data),
                amount_of(form.amount, page.project.currency),
                received_on=form.received_on.data,
                origin=views.origin(),
                clock=views.clock(),
                key=key,
            )

        done = _act(form, work, _("Contributo del partner registrato."), _money_done(project_id))
        if done is not None:
            return done
    return _money(project_id, contribution=form)


@bp.post("/progetti/<int:project_id>/entrate/in-natura")
@allow(*ACTORS, two_factor=True)
def in_kind(project_id: int) -> ResponseReturnValue:
    principal = views.principal()
    page = views.snapshot(lambda db: reads.money_page(db, principal, project_id))
    form = InKindForm()
    form.organisation.choices = choices([("", "—"), *page.partners])
    key = views.form_key(form)
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            commands.record_in_kind(
                db,
                project_id,
                description=form.description.data or "",
                fair_value_minor=amount_of(form.value, page.project.currency),
                received_on=form.received_on.data,
                organisation_id=int(form.organisation.data) if form.organisation.data else None,
                origin=views.origin(),
                clock=views.clock(),
                key=key,
            )

        done = _act(form, work, _("Bene o servizio in natura registrato."), _money_done(project_id))
        if done is not None:
            return done
    return _money(project_id, in_kind=form)


@bp.post("/progetti/<int:project_id>/entrate/campagne")
@allow(*BOOKS, two_factor=True)
def link_campaign(project_id: int) -> ResponseReturnValue:
    principal = views.principal()
    form = CampaignForm()
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            commands.link_campaign(
                db, project_id, int(form.campaign.data), origin=views.origin(), clock=views.clock()
            )

        done = _act(form, work, _("Campagna collegata al progetto."), _money_done(project_id))
        if done is not None:
            return done
    return _money(project_id, campaign=form)


@bp.post("/progetti/<int:project_id>/entrate/campagne/<int:campaign_id>/proponi")
@allow(*ACTORS, two_factor=True)
def propose_payout(project_id: int, campaign_id: int) -> ResponseReturnValue:
    """Propose paying a succeeded campaign's money out to the project."""
    principal = views.principal()
    form = ConfirmForm()
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            commands.propose_payout(
                db, project_id, campaign_id, origin=views.origin(), clock=views.clock()
            )

        done = _act(
            form,
            work,
            _("Versamento proposto: un'altra persona deve eseguirlo."),
            _money_done(project_id),
        )
        if done is not None:
            return done
    return _money(project_id, confirm=form)


@bp.post("/progetti/<int:project_id>/entrate/versamenti/<int:receipt_id>/paga")
@allow(*BOOKS, two_factor=True)
def pay_payout(project_id: int, receipt_id: int) -> ResponseReturnValue:
    """Pay a proposed campaign payout: a person other than the proposer."""
    principal = views.principal()
    form = ConfirmForm()
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            from ledger.projects.models import ProjectReceipt

            receipt = db.get(ProjectReceipt, receipt_id)
            if receipt is None or receipt.project_id != project_id:
                from ledger.projects.errors import ProjectNotFoundError

                raise ProjectNotFoundError("Nessun versamento.", receipt_id=receipt_id)
            commands.pay_payout(db, receipt_id, origin=views.origin(), clock=views.clock())

        done = _act(form, work, _("Versamento eseguito."), _money_done(project_id))
        if done is not None:
            return done
    return _money(project_id, confirm=form)


# ------------------------------------------------------------------ volunteer time
def _volunteer(
    project_id: int, *, failed_end: int | None = None, **forms: Any
) -> ResponseReturnValue:
    """The volunteer page: the hours form (people of the register only), the hours, the
    register of volunteers with its enrol form and an end form per open enrolment."""
    principal = views.principal()
    page = views.snapshot(lambda db: reads.volunteer_page(db, principal, project_id))
    all_forms: dict[str, Any] = {
        "form": HoursForm(formdata=None),
        "enrol": EnrolForm(formdata=None),
        "end": EndForm(formdata=None),
    }
    all_forms.update(forms)
    all_forms["form"].person.choices = choices(page.people)
    for name in ("form", "enrol"):
        views.form_key(all_forms[name])
    today = views.today()
    for form, name in ((all_forms["form"], "done_on"), (all_forms["enrol"], "enrolled_on")):
        if getattr(form, name).data is None and not form.is_submitted():
            getattr(form, name).data = today
    fresh_end = EndForm(formdata=None)
    fresh_end.ended_on.data = today
    rates = views.snapshot(reads.rates)
    status = 422 if forms and any(f.is_submitted() for f in forms.values()) else 200
    return render_template(
        "projects/volunteer.html",
        page=page,
        rates=rates,
        failed_end=failed_end,
        fresh_end=fresh_end,
        **all_forms,
    ), status


def _volunteer_done(project_id: int) -> str:
    return url_for("projects.volunteer_hours", project_id=project_id)


@bp.route("/progetti/<int:project_id>/volontariato", methods=["GET", "POST"])
@allow(*ACTORS, two_factor=True)
def volunteer_hours(project_id: int) -> ResponseReturnValue:
    """The time of a volunteer enrolled in the register on the day, valued at the role's
    rate; the page also keeps the register of volunteers."""
    principal = views.principal()
    if request.method == "GET":
        return _volunteer(project_id)
    page = views.snapshot(lambda db: reads.volunteer_page(db, principal, project_id))
    form = HoursForm()
    form.person.choices = choices(page.people)
    key = views.form_key(form)
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            minutes = (form.hours.data or 0) * 60 + (form.minutes.data or 0)
            if minutes <= 0:
                raise RowError(form.hours, _("Indica il tempo dedicato."))
            commands.record_volunteer_hours(
                db,
                project_id,
                person_id=int(form.person.data),
                activity=form.activity.data or "",
                role=form.role.data or "",
                minutes=minutes,
                done_on=form.done_on.data,
                origin=views.origin(),
                clock=views.clock(),
                key=key,
            )

        done = _act(form, work, _("Ore di volontariato registrate."), _volunteer_done(project_id))
        if done is not None:
            return done
    return _volunteer(project_id, form=form)


@bp.post("/progetti/<int:project_id>/volontariato/registro")
@allow(*ACTORS, two_factor=True)
def enrol_volunteer(project_id: int) -> ResponseReturnValue:
    """Enrol a person in the organisation's register of volunteers (art. 17 c.1 CTS)."""
    principal = views.principal()
    form = EnrolForm()
    key = views.form_key(form)
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.actable(db, principal, project_id)
            commands.enrol_volunteer(
                db,
                person_id=int(form.person.data),
                enrolled_on=form.enrolled_on.data,
                activity=form.activity.data or None,
                origin=views.origin(),
                clock=views.clock(),
                key=key,
            )

        message = _("Persona iscritta al registro dei volontari.")
        done = _act(form, work, message, _volunteer_done(project_id))
        if done is not None:
            return done
    return _volunteer(project_id, enrol=form)


@bp.post("/progetti/<int:project_id>/volontariato/registro/<int:enrolment_id>/chiudi")
@allow(*ACTORS, two_factor=True)
def end_volunteer(project_id: int, enrolment_id: int) -> ResponseReturnValue:
    """End an enrolment of the register on its last day (a double submit ends it once)."""
    principal = views.principal()
    form = EndForm()
    if form.validate_on_submit():

        def work(db: Session) -> None:
            reads.register_enrolment(db, principal, project_id, enrolment_id)
            commands.end_volunteer(
                db,
                enrolment_id=enrolment_id,
                ended_on=form.ended_on.data,
                origin=views.origin(),
                clock=views.clock(),
                # One key per enrolment and day: a second submit of the form answers the first.
                key=f"end-{enrolment_id}-{form.ended_on.data.isoformat()}",
            )

        done = _act(form, work, _("Iscrizione chiusa."), _volunteer_done(project_id))
        if done is not None:
            return done
    return _volunteer(project_id, failed_end=enrolment_id, end=form)


@bp.get("/progetti/tariffe-volontariato")
@allow(*ACTORS, two_factor=True)
def rates() -> ResponseReturnValue:
    """The volunteer rate table: a role's hourly rate from a date (the collective
    agreement's rate for the equivalent job). Project staff read it; the treasury
    adds to it (`add_rate`)."""
    form = RateForm()
    form.valid_from.data = views.today()
    return _rates_page(form)


@bp.post("/progetti/tariffe-volontariato")
@allow(*BOOKS, two_factor=True)
def add_rate() -> ResponseReturnValue:
    """Add a row to the rate table (it values every project's volunteer time)."""
    form = RateForm()
    if form.validate_on_submit():

        def work(db: Session) -> None:
            commands.set_volunteer_rate(
                db,
                role=form.role.data or "",
                hourly_minor=amount_of(form.hourly, "EUR"),
                valid_from=form.valid_from.data,
                basis=form.basis.data or None,
                origin=views.origin(),
                clock=views.clock(),
            )

        done = _act(form, work, _("Tariffa aggiunta."), url_for("projects.rates"))
        if done is not None:
            return done
    return _rates_page(form)


def _rates_page(form: RateForm) -> ResponseReturnValue:
    rows = views.snapshot(reads.rates)
    may_set = views.snapshot(lambda db: reads.may_set_rates(db, views.principal()))
    return render_template("projects/rates.html", form=form, rows=rows, may_set=may_set), _status(
        form
    )


# ------------------------------------------------------------------ the report
@bp.get("/progetti/<int:project_id>/rendiconto")
@allow(*REPORT_READERS)
def report(project_id: int) -> ResponseReturnValue:
    """The report to a funder for a period, as PDF, CSV, XLSX or JSON (an officer: only
    their own foundation's)."""
    principal = views.principal()

    def read(db: Session) -> tuple[Any, list[tuple[int, str]]]:
        found = reads.readable(db, principal, project_id)
        funders = reads.report_funders(db, principal, project_id)
        if not funders:
            from werkzeug.exceptions import Forbidden

            raise Forbidden()
        return found, funders

    project, funders = views.snapshot(read)
    form = ReportForm(request.args)
    form.funder.choices = choices(funders)
    asked = bool(request.args)
    if not asked:
        form.funder.data = funders[0][0]
        form["from"].data = project.starts_on
        form["to"].data = min(project.ends_on, views.today())
    if asked and form.validate():
        start, end = form["from"].data, form["to"].data
        foundation_id = int(form.funder.data)
        fmt = form["format"].data
        if foundation_id not in {f for f, _n in funders}:
            form.funder.errors = [_("Scegli uno dei finanziatori del progetto.")]
        elif start > end:
            form["to"].errors = [_("Il periodo finisce prima di cominciare.")]
        else:
            generated_on = views.today()

            def build(db: Session) -> bytes:
                reads.readable(db, principal, project_id)
                data = funder_report(db, project_id, foundation_id, start, end)
                if fmt == "json":
                    import json

                    return json.dumps(
                        project_report.report_json(data), ensure_ascii=False, indent=2
                    ).encode("utf-8")
                if fmt == "csv":
                    return project_report.report_csv(data).encode("utf-8")
                if fmt == "xlsx":
                    return project_report.report_xlsx(data)
                return project_report_pdf.report_pdf(data, generated_on=generated_on)

            body = views.read_once(build)
            media = {
                "pdf": "application/pdf",
                "csv": "text/csv",
                "json": "application/json",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            }[fmt]
            name = f"rendiconto-progetto-{project_id}-{foundation_id}-{start}-{end}.{fmt}"
            return Response(
                body,
                mimetype=media,
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
    status = 422 if asked else 200
    return render_template(
        "projects/report.html", project=project, form=form, formats=REPORT_FORMATS
    ), status
