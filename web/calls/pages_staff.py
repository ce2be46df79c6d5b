"""Calls for ideas: the public pages, the proponent's applications, the committee, the staff.

Four blueprints, one per audience:

- `calls` (anyone): open and past calls, a call's rules and the ideas it
  financed (the proponent is named only if they agreed when applying);
- `my_applications` (proponents): apply, change a draft, submit, withdraw,
  follow the application's history and decision, report on each milestone;
- `committee` (reviewers): the applications of their calls; declare a conflict
  of interest, then score (a conflicted reviewer cannot);
- `call_admin` (admins and treasurers): create calls (admins), screen, rank,
  propose and approve awards (two different people), approve and pay tranches
  (two different people again), close awards and book money given back.
  Reading needs the role; every action also needs a confirmed TOTP code.

Every action runs in one unit of work with its audit event; the domain rules
live in `ledger.funds` (calls, applications, reviews, awards). The helpers in
the "services shared with the API" section are what `web.api.calls` calls too.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ledger.audit.models import AuditEvent
from ledger.core.clock import ROME
from ledger.core.errors import IdempotencyConflictError, LedgerError
from ledger.core.money import format_minor
from ledger.funds import applications as apps
from ledger.funds import awards as award_rules
from ledger.funds import reviews as review_rules
from ledger.funds.call_errors import ApplicationNotFoundError, CallNotFoundError
from ledger.funds.call_models import (
    Application,
    ApplicationEvent,
    Award,
    Call,
    CallCriterion,
    CallQuestion,
    ConflictDeclaration,
    Review,
    Tranche,
)
from ledger.funds.calls import (
    CallFigures,
    NewCall,
    call_figures,
    calls_of_reviewer,
    committee,
    create_call,
    criteria_of,
    get_call,
    is_reviewer,
    list_calls,
    questions_of,
)
from ledger.funds.models import Fund, LoanProductRow
from ledger.people.models import Person, User, UserRole
from web.access import Principal, allow, audit, current_principal, public
from web.books import parse_amount_text
from web.campaigns import description_html
from web.db import current_ledger, in_transaction
from web.errors import InvalidInputError

T = TypeVar("T")

bp = Blueprint("calls", __name__)
proponent_bp = Blueprint("my_applications", __name__)
committee_bp = Blueprint("committee", __name__)
admin_bp = Blueprint("call_admin", __name__)

STAFF = ("admin", "treasurer")
PROPONENT = "proponent"
REVIEWER = "reviewer"


def register(app: Flask) -> None:
    """Register the four blueprints of calls for ideas on `app`."""
    for blueprint in (bp, proponent_bp, committee_bp, admin_bp):
        app.register_blueprint(blueprint)


def _detached(work: Callable[[Session], T]) -> Callable[[Session], T]:
    def run(db: Session) -> T:
        result = work(db)
        db.expunge_all()
        return result

    return run


def read_once(work: Callable[[Session], T]) -> T:
    """This request's unit of work, read-only, its rows usable afterwards."""
    return in_transaction(_detached(work), read_only=True)


def snapshot(work: Callable[[Session], T]) -> T:
    """A read in its own snapshot (before the request's unit of work)."""
    return current_ledger().read(_detached(work))


def _clock() -> Any:
    return current_ledger().clock


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # enforce_access admitted only signed-in users here
    return principal


def request_hash(key: str) -> str:
    """What the audit log keeps of a request key: its hash."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


# ------------------------------------------------------------------ texts
STATUS_TEXT: dict[str, Any] = {
    "draft": _l("bozza"),
    "submitted": _l("inviata"),
    "withdrawn": _l("ritirata"),
    "screened_out": _l("non ammessa"),
    "in_review": _l("in valutazione"),
    "awarded": _l("contributo proposto"),
    "approved": _l("contributo approvato"),
    "rejected": _l("non finanziata"),
    "disbursing": _l("in erogazione"),
    "closed": _l("conclusa"),
}
KIND_TEXT: dict[str, Any] = {
    "grant": _l("contributo a fondo perduto"),
    "loan": _l("prestito"),
    "either": _l("contributo o prestito"),
}
TRANCHE_TEXT: dict[str, Any] = {
    "planned": _l("prevista"),
    "approved": _l("approvata"),
    "paid": _l("pagata"),
    "released": _l("non erogata, tornata al fondo"),
}
AWARD_TEXT: dict[str, Any] = {
    "proposed": _l("proposto, in attesa di approvazione"),
    "approved": _l("approvato"),
    "refused": _l("proposta non approvata"),
    "closed": _l("chiuso"),
}
# Refusals of the domain, in the page's language (the domain's own text is Italian).
ERROR_TEXT: dict[str, Any] = {
    "call_closed": _l(
        "Il bando non è aperto in questo momento: la candidatura non può essere inviata."
    ),
    "application_state": _l("L'operazione non è possibile nello stato attuale della candidatura."),
    "not_on_committee": _l("Non fai parte della commissione di questo bando."),
    "conflict_of_interest": _l(
        "Con un conflitto di interessi dichiarato (o senza dichiarazione) non puoi valutare "
        "questa candidatura."
    ),
    "four_eyes": _l(
        "Serve una seconda persona: chi ha proposto (o approvato) non può anche approvare "
        "(o pagare)."
    ),
    "call_budget_exceeded": _l("L'importo supera quanto resta del budget del bando."),
    "fund_insufficient": _l("Il fondo non ha abbastanza denaro disponibile per questo impegno."),
    "milestone_report_missing": _l(
        "Manca la relazione del proponente sulla tappa precedente: la tranche attende."
    ),
    "tranche_state": _l("L'operazione non è possibile nello stato attuale della tranche."),
    "award_state": _l("L'operazione non è possibile nello stato attuale del contributo."),
}


@bp.app_template_global()
def application_status(status: str) -> str:
    return str(STATUS_TEXT.get(status, status))


@bp.app_template_global()
def award_kind_name(kind: str) -> str:
    return str(KIND_TEXT.get(kind, kind))


@bp.app_template_global()
def tranche_status(status: str) -> str:
    return str(TRANCHE_TEXT.get(status, status))


@bp.app_template_global()
def award_status(status: str) -> str:
    return str(AWARD_TEXT.get(status, status))


# Refusals that name a field, by (code, field).
FIELD_TEXT: dict[tuple[str, str], Any] = {
    ("invalid_application", "title"): _l(
        "Il titolo dell'idea è obbligatorio (massimo 200 caratteri)."
    ),
    ("invalid_application", "summary"): _l(
        "La descrizione dell'idea è obbligatoria (massimo 10.000 caratteri)."
    ),
    ("invalid_application", "requested"): _l(
        "L'importo richiesto deve essere positivo e non superare il contributo massimo del bando."
    ),
    ("invalid_application", "kind"): _l("Questo bando non concede questa forma di sostegno."),
    ("invalid_application", "answers"): _l(
        "Rispondi a tutte le domande di ammissibilità prima di inviare."
    ),
    ("invalid_award", "amount"): _l(
        "L'importo deve essere positivo e non superare il contributo massimo del bando."
    ),
    ("invalid_award", "kind"): _l("Questo bando non concede questa forma di sostegno."),
    ("invalid_award", "tranches"): _l(
        "Le tranche sono importi positivi, ciascuno con la sua tappa, e sommano all'importo."
    ),
    ("invalid_award", "term_months"): _l(
        "Per un prestito indica la durata in mesi e una prima scadenza futura."
    ),
    ("invalid_award", "first_due_on"): _l(
        "Per un prestito indica la durata in mesi e una prima scadenza futura."
    ),
    ("invalid_award", "report"): _l("La relazione è obbligatoria (massimo 10.000 caratteri)."),
    ("invalid_review", "scores"): _l("Dai a ogni criterio un punteggio intero da 0 a 10."),
}


def error_message(exc: LedgerError) -> str:
    """A domain refusal as the page shows it, in the page's language where known."""
    text = FIELD_TEXT.get((exc.code, str(exc.details.get("field", "")))) or ERROR_TEXT.get(exc.code)
    return str(text) if text is not None else exc.message


# ------------------------------------------------------------------ forms
_required = DataRequired(message=_l("Campo obbligatorio."))
_amount_help = _l("In euro, con la virgola o il punto per i centesimi: 12,50.")


class ApplicationForm(FlaskForm):  # type: ignore[misc]
    """An idea for a call; questions are added per call (`answer_<id>` fields)."""

    form_key = HiddenField()
    title = StringField(_l("Titolo dell'idea"), [_required, Length(max=200)])
    summary = TextAreaField(
        _l("Descrizione dell'idea"),
        [_required, Length(max=10_000)],
        description=_l("Che cosa farai, per chi, con quali risorse. Sarà pubblica se finanziata."),
        render_kw={"rows": 8},
    )
    requested = StringField(
        _l("Importo richiesto"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    kind = RadioField(
        _l("Forma del sostegno"),
        choices=[
            SelectChoice("grant", _l("Contributo a fondo perduto")),
            SelectChoice("loan", _l("Prestito")),
        ],
        default="grant",
        validators=[_required],
    )
    # Consent, not opt-out: unticked by default.
    public_name_consent = BooleanField(
        _l("Acconsento a mostrare il mio nome nell'elenco pubblico delle idee finanziate"),
        description=_l("Senza la spunta si vede solo l'idea, non chi l'ha proposta."),
    )
    save = SubmitField(_l("Salva la bozza"))


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A form with only the CSRF token (submit, withdraw, approve...)."""

    note = StringField(_l("Nota (facoltativa)"), [Optional(), Length(max=500)])


class ReportForm(FlaskForm):  # type: ignore[misc]
    report = TextAreaField(
        _l("Relazione sulla tappa"),
        [_required, Length(max=10_000)],
        description=_l("Che cosa è stato fatto e come è stato speso il denaro ricevuto."),
        render_kw={"rows": 8},
    )
    submit = SubmitField(_l("Invia la relazione"))


class ConflictForm(FlaskForm):  # type: ignore[misc]
    conflicted = RadioField(
        _l("Conflitto di interessi"),
        choices=[
            SelectChoice("no", _l("Non ho conflitti di interessi con questa candidatura")),
            SelectChoice("yes", _l("Ho un conflitto di interessi: non valuterò")),
        ],
        validators=[_required],
    )
    submit = SubmitField(_l("Dichiara"))


class ScoreForm(FlaskForm):  # type: ignore[misc]
    """Scores per criterion are added per call (`score_<id>` fields)."""

    comment = TextAreaField(_l("Commento"), [Optional(), Length(max=5_000)], render_kw={"rows": 4})
    submit = SubmitField(_l("Invia la valutazione"))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CallForm(FlaskForm):  # type: ignore[misc]
    form_key = HiddenField()
    fund = SelectField(_l("Fondo"), [_required])
    title = StringField(_l("Titolo"), [_required, Length(max=200)])
    description = TextAreaField(_l("Descrizione"), [Length(max=20_000)], render_kw={"rows": 6})
    budget = StringField(
        _l("Budget del bando"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    max_award = StringField(
        _l("Contributo massimo per idea"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    opens_at = DateTimeLocalField(
        _l("Apertura (ora italiana)"), [_required], format="%Y-%m-%dT%H:%M"
    )
    closes_at = DateTimeLocalField(
        _l("Chiusura (ora italiana)"), [_required], format="%Y-%m-%dT%H:%M"
    )
    award_kind = RadioField(
        _l("Forma del sostegno"),
        choices=[
            SelectChoice("grant", _l("Contributi a fondo perduto")),
            SelectChoice("loan", _l("Prestiti")),
            SelectChoice("either", _l("Contributi o prestiti")),
        ],
        default="grant",
        validators=[_required],
    )
    loan_product = SelectField(_l("Prodotto di prestito (per i prestiti)"), [Optional()])
    questions = TextAreaField(
        _l("Domande di ammissibilità"),
        [Length(max=15_000)],
        description=_l(
            "Una per riga, con la risposta richiesta dopo una barra: "
            "«Il progetto si svolge nel Comune? | sì»."
        ),
        render_kw={"rows": 4},
    )
    criteria = TextAreaField(
        _l("Griglia di valutazione"),
        [_required, Length(max=5_000)],
        description=_l("Un criterio per riga, con il peso dopo una barra: «Impatto sociale | 3»."),
        render_kw={"rows": 4},
    )
    reviewers = MultiCheckboxField(_l("Commissione"), coerce=int)
    submit = SubmitField(_l("Crea il bando"))


class ProposalForm(FlaskForm):  # type: ignore[misc]
    amount = StringField(
        _l("Importo assegnato"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    kind = RadioField(
        _l("Forma del sostegno"),
        choices=[
            SelectChoice("grant", _l("Contributo a fondo perduto")),
            SelectChoice("loan", _l("Prestito")),
        ],
        validators=[_required],
    )
    tranches = TextAreaField(
        _l("Tranche (contributi)"),
        [Length(max=6_000)],
        description=_l(
            "Una per riga: importo | tappa su cui il proponente relaziona. Vuoto: un solo "
            "pagamento."
        ),
        render_kw={"rows": 3},
    )
    term_months = IntegerField(
        _l("Durata in mesi (prestiti)"), [Optional(), NumberRange(min=1, max=120)]
    )
    first_due_on = DateField(_l("Prima scadenza (prestiti)"), [Optional()])
    submit = SubmitField(_l("Proponi"))


class ReturnForm(FlaskForm):  # type: ignore[misc]
    # Made when the page is shown: a double submit books the return once.
    form_key = HiddenField()
    amount = StringField(
        _l("Importo restituito"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )


def _yes(text: str) -> bool | None:
    value = text.strip().lower()
    if value in ("sì", "si", "yes", "y", "s"):
        return True
    if value in ("no", "n"):
        return False
    return None


def parse_questions(text: str) -> list[tuple[str, bool]]:
    """Lines «question | sì/no» -> (question, required answer)."""
    result = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        question, bar, answer = line.rpartition("|")
        required = _yes(answer) if bar else None
        if not bar or required is None or not question.strip():
            raise InvalidInputError(
                _("Ogni domanda finisce con «| sì» o «| no»: «%(line)s».", line=line.strip()[:80]),
                field="questions",
            )
        result.append((question.strip(), required))
    return result


def parse_criteria(text: str) -> list[tuple[str, int]]:
    """Lines «criterion | weight» -> (criterion, weight)."""
    result = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        name, bar, weight = line.rpartition("|")
        if not bar or not weight.strip().isdigit() or not name.strip():
            raise InvalidInputError(
                _("Ogni criterio finisce con «| peso» (un intero): «%(line)s».", line=line[:80]),
                field="criteria",
            )
        result.append((name.strip(), int(weight.strip())))
    return result


def parse_tranches(text: str, currency: str) -> list[award_rules.TrancheSpec]:
    """Lines «amount | milestone» -> tranche specs."""
    result = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        amount, bar, milestone = line.partition("|")
        if not bar:
            raise InvalidInputError(
                _("Ogni tranche è «importo | tappa»: «%(line)s».", line=line.strip()[:80]),
                field="tranches",
            )
        try:
            money = parse_amount_text(amount, currency)
        except LedgerError:
            raise InvalidInputError(
                _("Importo della tranche non valido: «%(line)s».", line=line.strip()[:80]),
                field="tranches",
            ) from None
        result.append(award_rules.TrancheSpec(money.minor, milestone.strip()))
    return result


def _attach(form: FlaskForm, exc: LedgerError) -> None:
    name = str(exc.details.get("field", ""))
    target = getattr(form, name, None) if name else None
    text = error_message(exc)
    if target is not None and hasattr(target, "errors") and not callable(target.errors):
        target.errors = [*list(target.errors), text]
    else:
        form.form_errors.append(text)


# ------------------------------------------------------------------ services shared with the API
def _audit(db: Session, action: str, subject_type: str, subject_id: int, **details: Any) -> None:
    audit(db, action, subject_type=subject_type, subject_id=subject_id, details=details)


def replayed(db: Session, action: str, key_hash: str, subject_id: int | None) -> AuditEvent | None:
    """The audit event of an earlier request with this key hash (the API's idempotency):
    raises IdempotencyConflictError when the key was used on another subject."""
    query = (
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
        .limit(500)
    )
    for event in db.scalars(query):
        if (event.details or {}).get("request") == key_hash:
            if subject_id is not None and event.subject_id != str(subject_id):
                raise IdempotencyConflictError(
                    "this key was used for another request", action=action
                )
            return event
    return None


def do_create_call(db: Session, spec: NewCall, principal: Principal) -> Call:
    call = create_call(db, spec, actor_user_id=principal.user_id, clock=_clock())
    _audit(
        db,
        "call.create",
        "call",
        call.id,
        fund_id=call.fund_id,
        budget=format_minor(call.budget_minor, call.currency),
        max_award=format_minor(call.max_award_minor, call.currency),
        award_kind=call.award_kind,
    )
    return call


def do_create_application(
    db: Session, call_id: int, draft: apps.ApplicationDraft, principal: Principal
) -> Application:
    found = apps.create_application(
        db, call_id, draft, proponent_user_id=principal.user_id, clock=_clock()
    )
    _audit(db, "application.create", "application", found.id, call_id=call_id)
    return found


def do_update_application(
    db: Session, application_id: int, draft: apps.ApplicationDraft, principal: Principal
) -> Application:
    found = apps.update_application(
        db, application_id, draft, proponent_user_id=principal.user_id, clock=_clock()
    )
    _audit(db, "application.update", "application", found.id)
    return found


def do_submit(db: Session, application_id: int, principal: Principal) -> Application:
    found = apps.submit_application(
        db, application_id, proponent_user_id=principal.user_id, clock=_clock()
    )
    _audit(db, "application.submit", "application", application_id)
    return found


def do_withdraw(db: Session, application_id: int, principal: Principal) -> Application:
    found = apps.withdraw_application(
        db, application_id, proponent_user_id=principal.user_id, clock=_clock()
    )
    _audit(db, "application.withdraw", "application", application_id)
    return found


def do_screen(db: Session, application_id: int, principal: Principal) -> Application:
    found = apps.screen_application(
        db, application_id, actor_user_id=principal.user_id, clock=_clock()
    )
    _audit(db, "application.screen", "application", application_id, status=found.status)
    return found


def do_reject(
    db: Session, application_id: int, principal: Principal, note: str | None
) -> Application:
    found = apps.reject_application(
        db, application_id, actor_user_id=principal.user_id, clock=_clock(), note=note
    )
    _audit(db, "application.reject", "application", application_id)
    return found


def do_declare(
    db: Session, application_id: int, conflicted: bool, principal: Principal
) -> ConflictDeclaration:
    found = review_rules.declare_conflict(
        db,
        application_id,
        reviewer_user_id=principal.user_id,
        conflicted=conflicted,
        clock=_clock(),
    )
    _audit(db, "application.conflict", "application", application_id, conflicted=conflicted)
    return found


def do_score(
    db: Session, application_id: int, scores: dict[int, int], comment: str, principal: Principal
) -> Review:
    found = review_rules.score_application(
        db,
        application_id,
        reviewer_user_id=principal.user_id,
        scores=scores,
        comment=comment,
        clock=_clock(),
    )
    _audit(db, "application.review", "application", application_id, review_id=found.id)
    return found


@dataclass(frozen=True, slots=True)
class Proposal:
    amount_minor: int
    kind: str
    tranches: list[award_rules.TrancheSpec] = field(default_factory=list)
    term_months: int | None = None
    first_due_on: date | None = None


def do_propose(db: Session, application_id: int, proposal: Proposal, principal: Principal) -> Award:
    award = award_rules.propose_award(
        db,
        application_id,
        amount_minor=proposal.amount_minor,
        kind=proposal.kind,
        tranches=proposal.tranches,
        term_months=proposal.term_months,
        first_due_on=proposal.first_due_on,
        actor_user_id=principal.user_id,
        clock=_clock(),
    )
    _audit(
        db,
        "award.propose",
        "award",
        award.id,
        application_id=application_id,
        amount=format_minor(award.amount_minor, award.currency),
        kind=award.kind,
    )
    return award


def do_approve_award(
    db: Session, award_id: int, principal: Principal, key_hash: str | None = None
) -> tuple[Award, bool]:
    """Approve (reserving the money); with a key hash, a replay returns the award."""
    if key_hash and replayed(db, "award.approve", key_hash, award_id) is not None:
        return award_rules.get_award(db, award_id), False
    award = award_rules.approve_award(db, award_id, actor_user_id=principal.user_id, clock=_clock())
    details: dict[str, Any] = {"amount": format_minor(award.amount_minor, award.currency)}
    if award.loan_id is not None:
        details["loan_id"] = award.loan_id
    if key_hash:
        details["request"] = key_hash
    _audit(db, "award.approve", "award", award_id, **details)
    return award, True


def do_refuse_award(db: Session, award_id: int, principal: Principal, note: str | None) -> Award:
    award = award_rules.refuse_award(
        db, award_id, actor_user_id=principal.user_id, clock=_clock(), note=note
    )
    _audit(db, "award.refuse", "award", award_id)
    return award


def do_approve_tranche(db: Session, tranche_id: int, principal: Principal) -> Tranche:
    tranche = award_rules.approve_tranche(
        db, tranche_id, actor_user_id=principal.user_id, clock=_clock()
    )
    _audit(db, "tranche.approve", "tranche", tranche_id, award_id=tranche.award_id)
    return tranche


def do_pay_tranche(
    db: Session, tranche_id: int, principal: Principal, key_hash: str | None = None
) -> tuple[Tranche, bool]:
    if key_hash and replayed(db, "tranche.pay", key_hash, tranche_id) is not None:
        return award_rules.get_tranche(db, tranche_id), False
    tranche = award_rules.pay_tranche(
        db, tranche_id, actor_user_id=principal.user_id, clock=_clock()
    )
    details: dict[str, Any] = {
        "award_id": tranche.award_id,
        "amount": format_minor(tranche.amount_minor, tranche.currency),
        "entry_id": tranche.payment_ref,
    }
    if key_hash:
        details["request"] = key_hash
    _audit(db, "tranche.pay", "tranche", tranche_id, **details)
    return tranche, True


def do_report(db: Session, tranche_id: int, text: str, principal: Principal) -> Tranche:
    tranche = award_rules.report_milestone(
        db, tranche_id, proponent_user_id=principal.user_id, report=text, clock=_clock()
    )
    _audit(db, "tranche.report", "tranche", tranche_id)
    return tranche


def do_close_award(
    db: Session, award_id: int, principal: Principal, key_hash: str | None = None
) -> tuple[Award, bool]:
    if key_hash and replayed(db, "award.close", key_hash, award_id) is not None:
        return award_rules.get_award(db, award_id), False
    award = award_rules.close_award(db, award_id, actor_user_id=principal.user_id, clock=_clock())
    details: dict[str, Any] = {"released": format_minor(award.released_minor, award.currency)}
    if key_hash:
        details["request"] = key_hash
    _audit(db, "award.close", "award", award_id, **details)
    return award, True


def do_return(
    db: Session, award_id: int, amount_minor: int, principal: Principal, key_hash: str | None
) -> tuple[Award, bool]:
    if key_hash:
        earlier = replayed(db, "award.return", key_hash, award_id)
        if earlier is not None:
            award = award_rules.get_award(db, award_id)
            if (earlier.details or {}).get("amount") != format_minor(amount_minor, award.currency):
                raise IdempotencyConflictError("this key was used for another amount")
            return award, False
    award = award_rules.return_unspent(
        db, award_id, amount_minor, actor_user_id=principal.user_id, clock=_clock()
    )
    details: dict[str, Any] = {"amount": format_minor(amount_minor, award.currency)}
    if key_hash:
        details["request"] = key_hash
    _audit(db, "award.return", "award", award_id, **details)
    return award, True


def do_disburse_loan(
    db: Session, award_id: int, principal: Principal, key_hash: str | None = None
) -> tuple[Award, bool]:
    if key_hash and replayed(db, "award.disburse", key_hash, award_id) is not None:
        return award_rules.get_award(db, award_id), False
    award = award_rules.disburse_award_loan(
        db, award_id, actor_user_id=principal.user_id, clock=_clock()
    )
    details: dict[str, Any] = {"loan_id": award.loan_id}
    if key_hash:
        details["request"] = key_hash
    _audit(db, "award.disburse", "award", award_id, **details)
    return award, True


# ------------------------------------------------------------------ what pages read
@dataclass(frozen=True, slots=True)
class FinancedIdea:
    application: Application
    award: Award
    proponent_name: str | None


@dataclass(frozen=True, slots=True)
class CallPage:
    call: Call
    figures: CallFigures
    questions: list[CallQuestion]
    criteria: list[CallCriterion]
    financed: list[FinancedIdea]
    now: datetime


def financed_ideas(db: Session, call_id: int) -> list[FinancedIdea]:
    """Ideas of the call with an approved (or closed) award; a name only with consent."""
    rows = db.execute(
        select(Application, Award)
        .join(Award, Award.application_id == Application.id)
        .where(
            Application.call_id == call_id,
            Application.status.in_(apps.FINANCED),
            Award.status.in_(("approved", "closed")),
        )
        .order_by(Application.id)
    ).all()
    result = []
    for application, award in rows:
        name = None
        if application.public_name_consent:
            name = db.scalar(
                select(Person.full_name)
                .join(User, User.person_id == Person.id)
                .where(User.id == application.proponent_user_id)
            )
        result.append(FinancedIdea(application, award, name))
    return result


def call_page_data(db: Session, call_id: int) -> CallPage:
    call = get_call(db, call_id)
    return CallPage(
        call=call,
        figures=call_figures(db, call_id),
        questions=questions_of(db, call_id),
        criteria=criteria_of(db, call_id),
        financed=financed_ideas(db, call_id),
        now=_clock().now(),
    )


@dataclass(frozen=True, slots=True)
class ApplicationPage:
    application: Application
    call: Call
    questions: list[CallQuestion]
    answers: dict[int, bool]
    history: list[ApplicationEvent]
    awards: list[Award]
    tranches: dict[int, list[Tranche]]
    now: datetime
    ranked: review_rules.Ranked | None = None
    reviews: list[tuple[Review, dict[int, int]]] = field(default_factory=list)
    criteria: list[CallCriterion] = field(default_factory=list)
    declarations: list[ConflictDeclaration] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)


def _names(db: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = db.execute(
        select(User.id, Person.full_name)
        .join(Person, Person.id == User.person_id)
        .where(User.id.in_(user_ids))
    ).all()
    return {int(user_id): str(name) for user_id, name in rows}


def application_page_data(db: Session, found: Application, *, staff: bool) -> ApplicationPage:
    awards = award_rules.awards_of(db, found.id)
    history = apps.history(db, found.id)
    page = ApplicationPage(
        application=found,
        call=get_call(db, found.call_id),
        questions=questions_of(db, found.call_id),
        answers=apps.answers_of(db, found.id),
        history=history,
        awards=awards,
        tranches={a.id: award_rules.tranches_of(db, a.id) for a in awards},
        now=_clock().now(),
    )
    if not staff:
        return page
    score, count = review_rules.application_score(db, found.id)
    reviews = review_rules.reviews_of(db, found.id)
    declarations = list(
        db.scalars(
            select(ConflictDeclaration).where(ConflictDeclaration.application_id == found.id)
        )
    )
    people = {found.proponent_user_id}
    people |= {e.actor_user_id for e in history if e.actor_user_id is not None}
    people |= {r.reviewer_user_id for r in reviews}
    people |= {d.reviewer_user_id for d in declarations}
    for award in awards:
        people |= {
            u for u in (award.proposed_by_user_id, award.approved_by_user_id) if u is not None
        }
    return ApplicationPage(
        application=page.application,
        call=page.call,
        questions=page.questions,
        answers=page.answers,
        history=page.history,
        awards=page.awards,
        tranches=page.tranches,
        now=page.now,
        ranked=review_rules.Ranked(found, score, count, 0, None),
        reviews=[(r, review_rules.scores_of(db, r.id)) for r in reviews],
        criteria=criteria_of(db, found.call_id),
        declarations=declarations,
        names=_names(db, people),
    )


# ------------------------------------------------------------------ public pages
@bp.get("/bandi")
@public
def index() -> ResponseReturnValue:
    """Every call for ideas: open ones first, then the past ones with what they financed."""

    def read(db: Session) -> list[tuple[Call, CallFigures]]:
        return [(c, call_figures(db, c.id)) for c in list_calls(db)]

    rows = read_once(read)
    return render_template("calls/index.html", rows=rows, now=_clock().now())


@bp.get("/bandi/<int:call_id>")
@public
def call(call_id: int) -> ResponseReturnValue:
    """A call: its rules, its window, its rubric and the ideas it financed."""
    page = read_once(lambda db: call_page_data(db, call_id))
    return render_template(
        "calls/call.html", page=page, description=description_html(page.call.description_md)
    )


# ------------------------------------------------------------------ proponents
def _answers_from_form(questions: list[CallQuestion]) -> dict[int, bool]:
    answers = {}
    for question in questions:
        raw = request.form.get(f"answer_{question.id}", "")
        if raw in ("yes", "no"):
            answers[question.id] = raw == "yes"
    return answers


def _draft_from_form(
    form: ApplicationForm, questions: list[CallQuestion], currency: str
) -> apps.ApplicationDraft:
    try:
        requested = parse_amount_text(form.requested.data or "", currency)
    except LedgerError as exc:
        raise InvalidInputError(error_message(exc), field="requested") from None
    return apps.ApplicationDraft(
        title=form.title.data or "",
        summary=form.summary.data or "",
        requested_minor=requested.minor,
        kind=form.kind.data or "",
        answers=_answers_from_form(questions),
        public_name_consent=bool(form.public_name_consent.data),
    )


@proponent_bp.route("/bandi/<int:call_id>/candidatura", methods=["GET", "POST"])
@allow(PROPONENT)
def new(call_id: int) -> ResponseReturnValue:
    """Apply to a call: the application is saved as a draft, to submit afterwards."""
    principal = _principal()
    page = snapshot(lambda db: call_page_data(db, call_id))
    form = ApplicationForm()
    if page.call.award_kind != "either" and request.method == "GET":
        form.kind.data = page.call.award_kind
    answers = _answers_from_form(page.questions) if request.method == "POST" else {}
    status = 200
    if form.validate_on_submit():
        try:
            draft = _draft_from_form(form, page.questions, page.call.currency)
            created = in_transaction(
                lambda db: do_create_application(db, call_id, draft, principal)
            )
        except LedgerError as exc:
            _attach(form, exc)
            status = exc.http_status
        else:
            flash(
                _("Bozza salvata. Controllala e inviala prima della chiusura del bando."),
                "success",
            )
            return redirect(url_for("my_applications.detail", application_id=created.id), 303)
    if form.is_submitted() and status == 200:
        status = 422
    return render_template(
        "calls/apply.html", page=page, form=form, answers=answers, application=None
    ), status


@proponent_bp.route("/account/candidature/<int:application_id>/modifica", methods=["GET", "POST"])
@allow(PROPONENT)
def edit(application_id: int) -> ResponseReturnValue:
    """Change a draft."""
    principal = _principal()

    def read(db: Session) -> tuple[Application, CallPage, dict[int, bool]]:
        found = apps.own_application(db, application_id, principal.user_id)
        return found, call_page_data(db, found.call_id), apps.answers_of(db, found.id)

    found, page, answers = snapshot(read)
    form = ApplicationForm(obj=None)
    if request.method == "GET":
        form.title.data = found.title
        form.summary.data = found.summary
        form.requested.data = format_minor(found.requested_minor, found.currency).replace(".", ",")
        form.kind.data = found.kind
        form.public_name_consent.data = found.public_name_consent
    else:
        answers = _answers_from_form(page.questions)
    status = 200
    if form.validate_on_submit():
        try:
            draft = _draft_from_form(form, page.questions, page.call.currency)
            in_transaction(lambda db: do_update_application(db, application_id, draft, principal))
        except LedgerError as exc:
            _attach(form, exc)
            status = exc.http_status
        else:
            flash(_("Bozza aggiornata."), "success")
            return redirect(url_for("my_applications.detail", application_id=application_id), 303)
    if form.is_submitted() and status == 200:
        status = 422
    return render_template(
        "calls/apply.html", page=page, form=form, answers=answers, application=found
    ), status


@proponent_bp.get("/account/candidature")
@allow(PROPONENT)
def mine() -> ResponseReturnValue:
    """The proponent's own applications."""
    principal = _principal()

    def read(db: Session) -> list[tuple[Application, Call]]:
        return [
            (a, get_call(db, a.call_id)) for a in apps.applications_of_user(db, principal.user_id)
        ]

    return render_template("calls/mine.html", rows=read_once(read))


def _own_page(application_id: int) -> ApplicationPage:
    principal = _principal()
    return snapshot(
        lambda db: application_page_data(
            db, apps.own_application(db, application_id, principal.user_id), staff=False
        )
    )


def _render_own(
    application_id: int, *, error: str | None = None, status: int = 200
) -> ResponseReturnValue:
    page = _own_page(application_id)
    return render_template(
        "calls/application.html", page=page, action=ActionForm(), error=error
    ), status


@proponent_bp.get("/account/candidature/<int:application_id>")
@allow(PROPONENT)
def detail(application_id: int) -> ResponseReturnValue:
    """The proponent's application: its state, its history, the decision and the tranches."""
    return _render_own(application_id)


def _own_action(
    application_id: int, work: Callable[[Session], Any], done: str
) -> ResponseReturnValue:
    form = ActionForm()
    if not form.validate_on_submit():
        return _render_own(application_id, error=_("Modulo scaduto: riprova."), status=400)
    try:
        in_transaction(work)
    except (ApplicationNotFoundError, CallNotFoundError):
        raise NotFound() from None
    except LedgerError as exc:
        return _render_own(application_id, error=error_message(exc), status=exc.http_status)
    flash(done, "success")
    return redirect(url_for("my_applications.detail", application_id=application_id), 303)


@proponent_bp.post("/account/candidature/<int:application_id>/invia")
@allow(PROPONENT)
def submit(application_id: int) -> ResponseReturnValue:
    """Submit a draft (refused once the call has closed: the draft stays as it was)."""
    principal = _principal()
    return _own_action(
        application_id,
        lambda db: do_submit(db, application_id, principal),
        _("Candidatura inviata: la commissione la valuterà dopo la verifica dei requisiti."),
    )


@proponent_bp.post("/account/candidature/<int:application_id>/ritira")
@allow(PROPONENT)
def withdraw(application_id: int) -> ResponseReturnValue:
    """Withdraw the application (final)."""
    principal = _principal()
    return _own_action(
        application_id,
        lambda db: do_withdraw(db, application_id, principal),
        _("Candidatura ritirata."),
    )


@proponent_bp.route(
    "/account/candidature/<int:application_id>/tranche/<int:tranche_id>/relazione",
    methods=["GET", "POST"],
)
@allow(PROPONENT)
def report(application_id: int, tranche_id: int) -> ResponseReturnValue:
    """Report on the milestone of a paid tranche (the next tranche waits for it)."""
    principal = _principal()
    page = _own_page(application_id)
    tranche = next((t for ts in page.tranches.values() for t in ts if t.id == tranche_id), None)
    if tranche is None:
        raise NotFound()
    form = ReportForm()
    status = 200
    if form.validate_on_submit():
        try:
            text = form.report.data or ""
            in_transaction(lambda db: do_report(db, tranche_id, text, principal))
        except LedgerError as exc:
            _attach(form, exc)
            status = exc.http_status
        else:
            flash(_("Relazione inviata."), "success")
            return redirect(url_for("my_applications.detail", application_id=application_id), 303)
    if form.is_submitted() and status == 200:
        status = 422
    return render_template("calls/report.html", page=page, tranche=tranche, form=form), status


# ------------------------------------------------------------------ the committee
@committee_bp.get("/valutazione")
@allow(REVIEWER)
def queue() -> ResponseReturnValue:
    """The calls the reviewer sits on and their applications in review."""
    principal = _principal()

    def read(db: Session) -> list[tuple[Call, list[tuple[Application, str]]]]:
        result = []
        for found in calls_of_reviewer(db, principal.user_id):
            rows = []
            for application in apps.applications_of_call(db, found.id):
                if application.status != "in_review":
                    continue
                declared = review_rules.declaration_of(db, application.id, principal.user_id)
                reviewed = db.scalars(
                    select(Review.id).where(
                        Review.application_id == application.id,
                        Review.reviewer_user_id == principal.user_id,
                    )
                ).first()
                if reviewed is not None:
                    state = "scored"
                elif declared is None:
                    state = "undeclared"
                else:
                    state = "conflicted" if declared.conflicted else "to_score"
                rows.append((application, state))
            result.append((found, rows))
        return result

    return render_template("calls/committee.html", calls=read_once(read))


def _reviewer_page(application_id: int, user_id: int) -> tuple[ApplicationPage, Any, Any]:
    def read(db: Session) -> tuple[ApplicationPage, Any, Any]:
        found = apps.get_application(db, application_id)
        if found.status == "draft" or not is_reviewer(db, found.call_id, user_id):
            raise NotFound()
        page = application_page_data(db, found, staff=False)
        declared = review_rules.declaration_of(db, application_id, user_id)
        mine = db.scalars(
            select(Review).where(
                Review.application_id == application_id, Review.reviewer_user_id == user_id
            )
        ).first()
        return (
            ApplicationPage(
                application=page.application,
                call=page.call,
                questions=page.questions,
                answers=page.answers,
                history=[],
                awards=[],
                tranches={},
                now=page.now,
                criteria=criteria_of(db, found.call_id),
                # The committee sees who proposed the idea: that is what a conflict is about.
                names=_names(db, {found.proponent_user_id}),
            ),
            declared,
            mine,
        )

    return snapshot(read)


@committee_bp.route("/valutazione/candidature/<int:application_id>", methods=["GET", "POST"])
@allow(REVIEWER)
def review(application_id: int) -> ResponseReturnValue:
    """One application for a committee member: the conflict declaration, then the scores."""
    principal = _principal()
    page, declared, mine = _reviewer_page(application_id, principal.user_id)
    form = ScoreForm()
    conflict_form = ConflictForm(formdata=None)
    values: dict[int, str] = {}
    status = 200
    if form.validate_on_submit():
        scores: dict[int, int] = {}
        for criterion in page.criteria:
            raw = request.form.get(f"score_{criterion.id}", "").strip()
            values[criterion.id] = raw
            if raw.isdigit() and len(raw) <= 2:
                scores[criterion.id] = int(raw)
        try:
            comment = form.comment.data or ""
            in_transaction(lambda db: do_score(db, application_id, scores, comment, principal))
        except LedgerError as exc:
            form.form_errors.append(error_message(exc))
            status = exc.http_status
        else:
            flash(_("Valutazione registrata."), "success")
            return redirect(url_for("committee.queue"), 303)
    elif form.is_submitted():
        status = 400
    return render_template(
        "calls/review.html",
        page=page,
        form=form,
        conflict_form=conflict_form,
        declared=declared,
        mine=mine,
        values=values,
    ), status


@committee_bp.post("/valutazione/candidature/<int:application_id>/conflitto")
@allow(REVIEWER)
def conflict(application_id: int) -> ResponseReturnValue:
    """Declare whether the reviewer has a conflict of interest (final)."""
    principal = _principal()
    page, declared, mine = _reviewer_page(application_id, principal.user_id)
    conflict_form = ConflictForm()
    if conflict_form.validate_on_submit():
        conflicted = conflict_form.conflicted.data == "yes"
        try:
            in_transaction(lambda db: do_declare(db, application_id, conflicted, principal))
        except LedgerError as exc:
            conflict_form.form_errors.append(error_message(exc))
            status = exc.http_status
        else:
            flash(_("Dichiarazione registrata."), "success")
            return redirect(url_for("committee.review", application_id=application_id), 303)
    else:
        status = 422
    return render_template(
        "calls/review.html",
        page=page,
        form=ScoreForm(formdata=None),
        conflict_form=conflict_form,
        declared=declared,
        mine=mine,
        values={},
    ), status


# ------------------------------------------------------------------ the staff
@admin_bp.get("/gestione/bandi")
@allow(*STAFF)
def calls_admin() -> ResponseReturnValue:
    """Every call with its budget figures."""

    def read(db: Session) -> list[tuple[Call, CallFigures]]:
        return [(c, call_figures(db, c.id)) for c in list_calls(db)]

    return render_template("calls/admin_index.html", rows=read_once(read), now=_clock().now())


def _rome(value: datetime) -> datetime:
    """A local date-time typed in the form, in Italian time, as an aware instant."""
    return value.replace(tzinfo=ROME)


@admin_bp.route("/gestione/bandi/nuovo", methods=["GET", "POST"])
@allow("admin", two_factor=True)
def new_call() -> ResponseReturnValue:
    """Create a call for ideas: fund, budget, window, rules, rubric and committee."""
    principal = _principal()

    def read(db: Session) -> tuple[list[Fund], list[LoanProductRow], list[tuple[int, str]]]:
        funds = list(db.scalars(select(Fund).order_by(Fund.id)))
        products = list(db.scalars(select(LoanProductRow).order_by(LoanProductRow.id)))
        reviewers = db.execute(
            select(User.id, Person.full_name)
            .join(Person, Person.id == User.person_id)
            .join(UserRole, UserRole.user_id == User.id)
            .where(UserRole.role == REVIEWER, User.active.is_(True))
            .order_by(Person.full_name)
        ).all()
        return funds, products, [(int(i), str(n)) for i, n in reviewers]

    funds, products, reviewers = snapshot(read)
    form = CallForm()
    form.fund.choices = [SelectChoice(str(f.id), f"{f.name} (n. {f.id})") for f in funds]
    form.loan_product.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(p.id), f"{p.name} (n. {p.id}, fondo {p.fund_id})") for p in products
    ]
    form.reviewers.choices = [SelectChoice(i, n) for i, n in reviewers]
    if form.validate_on_submit():
        try:
            fund = next(f for f in funds if str(f.id) == form.fund.data)
            opens, closes = form.opens_at.data, form.closes_at.data
            assert opens is not None and closes is not None
            spec = NewCall(
                fund_id=fund.id,
                title=form.title.data or "",
                description_md=form.description.data or "",
                budget_minor=_amount_field(form.budget.data, fund.currency, "budget"),
                max_award_minor=_amount_field(form.max_award.data, fund.currency, "max_award"),
                currency=fund.currency,
                opens_at=_rome(opens),
                closes_at=_rome(closes),
                award_kind=form.award_kind.data or "",
                questions=parse_questions(form.questions.data or ""),
                criteria=parse_criteria(form.criteria.data or ""),
                reviewer_user_ids=list(form.reviewers.data or []),
                loan_product_id=int(form.loan_product.data) if form.loan_product.data else None,
            )
            created = in_transaction(lambda db: do_create_call(db, spec, principal))
        except LedgerError as exc:
            _attach(form, exc)
        else:
            flash(_("Bando «%(title)s» creato.", title=created.title), "success")
            return redirect(url_for("call_admin.call_detail", call_id=created.id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("calls/new_call.html", form=form, has_funds=bool(funds)), status


def _amount_field(text: str | None, currency: str, name: str) -> int:
    try:
        return parse_amount_text(text or "", currency).minor
    except LedgerError as exc:
        raise InvalidInputError(error_message(exc), field=name) from None


@admin_bp.get("/gestione/bandi/<int:call_id>")
@allow(*STAFF)
def call_detail(call_id: int) -> ResponseReturnValue:
    """A call's applications: the ranking of those in review and every other state."""

    def read(db: Session) -> tuple[CallPage, list[review_rules.Ranked], list[Application], Any]:
        page = call_page_data(db, call_id)
        ranked = review_rules.ranking(db, call_id)
        shown = {r.application.id for r in ranked}
        others = [
            a
            for a in apps.applications_of_call(db, call_id)
            if a.id not in shown and a.status != "draft"
        ]
        return page, ranked, others, _names(db, set(committee(db, call_id)))

    page, ranked, others, members = read_once(read)
    return render_template(
        "calls/admin_call.html", page=page, ranked=ranked, others=others, members=members
    )


def _staff_page(application_id: int) -> ApplicationPage:
    def read(db: Session) -> ApplicationPage:
        found = apps.get_application(db, application_id)
        if found.status == "draft":
            raise NotFound()
        return application_page_data(db, found, staff=True)

    return snapshot(read)


def _render_staff(
    application_id: int,
    *,
    error: str | None = None,
    status: int = 200,
    proposal: ProposalForm | None = None,
) -> ResponseReturnValue:
    page = _staff_page(application_id)
    form = proposal or ProposalForm(formdata=None)
    if proposal is None:
        form.kind.data = page.application.kind
        form.amount.data = format_minor(
            page.application.requested_minor, page.application.currency
        ).replace(".", ",")
    return render_template(
        "calls/admin_application.html",
        page=page,
        action=ActionForm(formdata=None),
        proposal=form,
        returned=ReturnForm(formdata=None, form_key=uuid.uuid4().hex),
        error=error,
    ), status


@admin_bp.get("/gestione/candidature/<int:application_id>")
@allow(*STAFF)
def application_detail(application_id: int) -> ResponseReturnValue:
    """An application for the staff: answers, reviews, history, award and tranches."""
    return _render_staff(application_id)


def _staff_action(
    application_id: int, work: Callable[[Session], Any], done: str
) -> ResponseReturnValue:
    form = ActionForm()
    if not form.validate_on_submit():
        return _render_staff(application_id, error=_("Modulo scaduto: riprova."), status=400)
    try:
        in_transaction(work)
    except LedgerError as exc:
        if exc.http_status == 404:
            raise NotFound() from None
        return _render_staff(application_id, error=error_message(exc), status=exc.http_status)
    flash(done, "success")
    return redirect(url_for("call_admin.application_detail", application_id=application_id), 303)


def _application_of_award(award_id: int) -> int:
    def read(db: Session) -> int:
        return award_rules.get_award(db, award_id).application_id

    try:
        return snapshot(read)
    except LedgerError:
        raise NotFound() from None


def _application_of_tranche(tranche_id: int) -> int:
    def read(db: Session) -> int:
        tranche = award_rules.get_tranche(db, tranche_id)
        return award_rules.get_award(db, tranche.award_id).application_id

    try:
        return snapshot(read)
    except LedgerError:
        raise NotFound() from None


def _note() -> str | None:
    return (request.form.get("note") or "").strip()[:500] or None


@admin_bp.post("/gestione/candidature/<int:application_id>/verifica")
@allow(*STAFF, two_factor=True)
def screen(application_id: int) -> ResponseReturnValue:
    """Screen a submitted application: eligible ones go to the committee."""
    principal = _principal()
    return _staff_action(
        application_id,
        lambda db: do_screen(db, application_id, principal),
        _("Requisiti verificati."),
    )


@admin_bp.post("/gestione/candidature/<int:application_id>/respingi")
@allow(*STAFF, two_factor=True)
def reject(application_id: int) -> ResponseReturnValue:
    """The idea is not financed."""
    principal = _principal()
    note = _note()
    return _staff_action(
        application_id,
        lambda db: do_reject(db, application_id, principal, note),
        _("Candidatura non finanziata."),
    )


@admin_bp.post("/gestione/candidature/<int:application_id>/proposta")
@allow(*STAFF, two_factor=True)
def propose(application_id: int) -> ResponseReturnValue:
    """Propose an award (amount, kind, tranches or loan terms); another person approves it."""
    principal = _principal()
    page = _staff_page(application_id)
    form = ProposalForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 400
        return _render_staff(application_id, proposal=form, status=status)
    try:
        currency = page.application.currency
        proposal = Proposal(
            amount_minor=_amount_field(form.amount.data, currency, "amount"),
            kind=form.kind.data or "",
            tranches=parse_tranches(form.tranches.data or "", currency),
            term_months=form.term_months.data,
            first_due_on=form.first_due_on.data,
        )
        in_transaction(lambda db: do_propose(db, application_id, proposal, principal))
    except LedgerError as exc:
        _attach(form, exc)
        return _render_staff(application_id, proposal=form, status=exc.http_status)
    flash(_("Contributo proposto: ora serve l'approvazione di un'altra persona."), "success")
    return redirect(url_for("call_admin.application_detail", application_id=application_id), 303)


@admin_bp.post("/gestione/contributi/<int:award_id>/approva")
@allow(*STAFF, two_factor=True)
def approve_award(award_id: int) -> ResponseReturnValue:
    """Approve a proposed award (not its proposer): the fund reserves the money."""
    principal = _principal()
    return _staff_action(
        _application_of_award(award_id),
        lambda db: do_approve_award(db, award_id, principal),
        _("Contributo approvato: il denaro è impegnato sul fondo."),
    )


@admin_bp.post("/gestione/contributi/<int:award_id>/rifiuta")
@allow(*STAFF, two_factor=True)
def refuse_award(award_id: int) -> ResponseReturnValue:
    """Refuse a proposal: the application goes back to review."""
    principal = _principal()
    note = _note()
    return _staff_action(
        _application_of_award(award_id),
        lambda db: do_refuse_award(db, award_id, principal, note),
        _("Proposta non approvata: la candidatura torna in valutazione."),
    )


@admin_bp.post("/gestione/tranche/<int:tranche_id>/approva")
@allow(*STAFF, two_factor=True)
def approve_tranche(tranche_id: int) -> ResponseReturnValue:
    """Approve a tranche for payment (after the previous milestone's report)."""
    principal = _principal()
    return _staff_action(
        _application_of_tranche(tranche_id),
        lambda db: do_approve_tranche(db, tranche_id, principal),
        _("Tranche approvata: un'altra persona la paga."),
    )


@admin_bp.post("/gestione/tranche/<int:tranche_id>/paga")
@allow(*STAFF, two_factor=True)
def pay_tranche(tranche_id: int) -> ResponseReturnValue:
    """Pay an approved tranche (not its approver): the fund's entry is booked."""
    principal = _principal()
    return _staff_action(
        _application_of_tranche(tranche_id),
        lambda db: do_pay_tranche(db, tranche_id, principal),
        _("Tranche pagata e registrata."),
    )


@admin_bp.post("/gestione/contributi/<int:award_id>/chiudi")
@allow(*STAFF, two_factor=True)
def close_award(award_id: int) -> ResponseReturnValue:
    """Close a grant: tranches never paid go back to the fund."""
    principal = _principal()
    return _staff_action(
        _application_of_award(award_id),
        lambda db: do_close_award(db, award_id, principal),
        _("Contributo chiuso: quanto non erogato è tornato disponibile nel fondo."),
    )


@admin_bp.post("/gestione/contributi/<int:award_id>/restituzione")
@allow(*STAFF, two_factor=True)
def return_unspent(award_id: int) -> ResponseReturnValue:
    """Book money the proponent gave back unspent: it returns to the fund."""
    principal = _principal()
    application_id = _application_of_award(award_id)
    form = ReturnForm()
    if not form.validate_on_submit():
        return _render_staff(application_id, error=_("Indica l'importo restituito."), status=422)
    try:
        currency = snapshot(lambda db: award_rules.get_award(db, award_id).currency)
        minor = _amount_field(form.amount.data, currency, "amount")
        key = (form.form_key.data or "")[:64] or uuid.uuid4().hex
        key_hash = request_hash(f"web:{principal.user_id}:{key}")
        in_transaction(lambda db: do_return(db, award_id, minor, principal, key_hash))
    except LedgerError as exc:
        return _render_staff(application_id, error=error_message(exc), status=exc.http_status)
    flash(_("Restituzione registrata: il denaro è tornato nel fondo."), "success")
    return redirect(url_for("call_admin.application_detail", application_id=application_id), 303)


@admin_bp.post("/gestione/contributi/<int:award_id>/eroga")
@allow(*STAFF, two_factor=True)
def disburse_loan(award_id: int) -> ResponseReturnValue:
    """Disburse an approved loan award (not its approver)."""
    principal = _principal()
    return _staff_action(
        _application_of_award(award_id),
        lambda db: do_disburse_loan(db, award_id, principal),
        _("Prestito erogato: prosegue con le sue rate nel fondo."),
    )
