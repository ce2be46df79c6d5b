"""Pages of matching grants: the foundation officer's dashboard and the treasurer's pages.

- `grants` (foundation officers and admins): the dashboard of one's foundations
  (an officer sees only the foundations they act for, through
  `foundation_officers`; another foundation's commitment or statement is a 404
  for them; admins see every foundation), with each commitment's money states
  and, per campaign, progress (raised vs threshold vs budget, match so far)
  drawn as an inline SVG bar chart with its figures in a table; a commitment's
  page; creating a commitment (ratio or threshold, every rule setting) and
  cancelling one (POST after a confirmation page); the grant statement as PDF
  or CSV for a period chosen in a form.
- `grant_treasury` (treasurers, with a confirmed TOTP code to move money): the
  commitments with money released or due back, a foundation's disbursement
  reaching the bank (`record_disbursement`) and a clawback repaid to it
  (`repay_clawback`).

Figures come from `ledger.grants.queries` (money states from the engine) and
statements from `ledger.statements.grants`. Each change runs in one unit of
work with its audit event; the forms carry a key made when they were shown, so
a double submit records one disbursement.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from babel.numbers import format_decimal
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound
from wtforms import (
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ledger.audit.models import AuditEvent
from ledger.campaigns.models import Campaign
from ledger.core.clock import ROME, rome_today
from ledger.core.errors import LedgerError
from ledger.core.money import format_minor
from ledger.funds.call_models import Call
from ledger.grants.errors import CommitmentNotFoundError
from ledger.grants.matching import record_disbursement, repay_clawback
from ledger.grants.models import Allocation, Commitment, Foundation, GrantEvent
from ledger.grants.queries import (
    CampaignMatch,
    Quote,
    States,
    campaign_matches,
    commitment_states,
    quote,
)
from ledger.grants.service import (
    CommitmentSpec,
    cancel_commitment,
    create_commitment,
    foundations_of,
    get_commitment,
    get_foundation,
    list_commitments,
)
from ledger.statements.grants import (
    build_grant_statement,
    grant_statement_csv,
    render_grant_statement_pdf,
    rule_words,
)
from web.access import Principal, allow, audit, current_principal
from web.books import parse_amount_text
from web.db import current_ledger, in_transaction
from web.i18n import current_language, format_money

T = TypeVar("T")

bp = Blueprint("grants", __name__)
treasury_bp = Blueprint("grant_treasury", __name__)

OFFICER = "foundation_officer"
ADMIN = "admin"
TREASURER = "treasurer"
CHART_WIDTH = 300  # the SVG bar chart's viewBox width


def _read(work: Callable[[Session], T]) -> T:
    """This request's read-only unit of work, its rows detached so templates can use them."""

    def run(db: Session) -> T:
        result = work(db)
        db.expunge_all()
        return result

    return in_transaction(run, read_only=True)


def _snapshot(work: Callable[[Session], T]) -> T:
    """A read before the request's unit of work (what a form page shows)."""

    def run(db: Session) -> T:
        result = work(db)
        db.expunge_all()
        return result

    return current_ledger().read(run)


def _principal() -> Principal:
    principal = current_principal()
    assert principal is not None  # the access check ran first
    return principal


# ------------------------------------------------------------------ who sees what
def visible_foundations(db: Session, principal: Principal) -> list[int] | None:
    """The foundations the user may see: None means every one (admins)."""
    if ADMIN in principal.roles:
        return None
    return foundations_of(db, principal.user_id)


def _foundation_for(db: Session, principal: Principal, foundation_id: int) -> Foundation:
    """The foundation, if the user may see it; a 404 otherwise (as if it did not exist)."""
    visible = visible_foundations(db, principal)
    if visible is not None and foundation_id not in visible:
        raise NotFound()
    return get_foundation(db, foundation_id)


def _commitment_for(db: Session, principal: Principal, commitment_id: int) -> Commitment:
    row = get_commitment(db, commitment_id)
    visible = visible_foundations(db, principal)
    if visible is not None and row.foundation_id not in visible:
        raise CommitmentNotFoundError(
            f"nessun impegno con id {commitment_id}", commitment_id=commitment_id
        )
    return row


# ------------------------------------------------------------------ what the pages show
@dataclass(frozen=True, slots=True)
class Chart:
    """Bar geometry in a viewBox CHART_WIDTH wide: the longest figure fills it."""

    budget: int
    raised: int
    match: int
    threshold: int | None


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    campaign_id: int
    title: str
    status: str
    currency: str
    budget_minor: int
    figures: CampaignMatch

    @property
    def chart(self) -> Chart:
        f = self.figures
        scale = max(self.budget_minor, f.raised_minor, f.matched_minor, f.threshold_minor or 0, 1)

        def width(minor: int) -> int:
            return max(0, minor) * CHART_WIDTH // scale

        return Chart(
            budget=width(self.budget_minor),
            raised=width(f.raised_minor),
            match=width(f.matched_minor),
            threshold=width(f.threshold_minor) if f.threshold_minor is not None else None,
        )

    @property
    def percent(self) -> int:
        return self.figures.raised_minor * 100 // self.budget_minor if self.budget_minor else 0


@dataclass(frozen=True, slots=True)
class CommitmentView:
    row: Commitment
    foundation: str
    states: States
    campaigns: list[CampaignProgress]
    rules: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class FoundationView:
    foundation: Foundation
    commitments: list[CommitmentView]


def _campaign_ids(db: Session, row: Commitment) -> list[int]:
    ids = set(db.scalars(select(Allocation.campaign_id).where(Allocation.commitment_id == row.id)))
    if row.campaign_id is not None:
        ids.add(row.campaign_id)
    return sorted(ids)


def commitment_view(db: Session, row: Commitment) -> CommitmentView:
    campaigns = []
    budget = None
    for campaign_id in _campaign_ids(db, row):
        campaign = db.get(Campaign, campaign_id)
        if campaign is None:
            continue
        mine = [m for m in campaign_matches(db, campaign_id) if m.commitment_id == row.id]
        if not mine:
            continue
        campaigns.append(
            CampaignProgress(
                campaign.id,
                campaign.title,
                campaign.status,
                campaign.currency,
                campaign.goal_minor,
                mine[0],
            )
        )
        if campaign.id == row.campaign_id:
            budget = campaign.goal_minor
    foundation = db.get(Foundation, row.foundation_id)
    return CommitmentView(
        row=row,
        foundation=foundation.name if foundation else "",
        states=commitment_states(db, row.id),
        campaigns=campaigns,
        rules=rule_words(row, budget),
    )


def _dashboard(db: Session, principal: Principal) -> list[FoundationView]:
    visible = visible_foundations(db, principal)
    query = select(Foundation).order_by(Foundation.name)
    if visible is not None:
        query = query.where(Foundation.id.in_(visible))
    return [
        FoundationView(f, [commitment_view(db, row) for row in list_commitments(db, f.id)])
        for f in db.scalars(query)
    ]


STATE_TEXT: dict[str, Callable[[], str]] = {
    "pledged": lambda: _("Promesso, non riservato"),
    "reserved": lambda: _("Riservato"),
    "earned": lambda: _("Maturato"),
    "released": lambda: _("Svincolato"),
    "disbursed": lambda: _("Erogato"),
    "clawback_due": lambda: _("Da restituire alla fondazione"),
}
EVENT_TEXT: dict[str, Callable[[], str]] = {
    "pledged": lambda: _("Impegno assunto"),
    "reserved": lambda: _("Riservato"),
    "earned": lambda: _("Maturato"),
    "released": lambda: _("Svincolato"),
    "disbursed": lambda: _("Erogazione ricevuta"),
    "forfeited": lambda: _("Decaduto (tornato al fondo)"),
    "clawback": lambda: _("Recuperato (tornato al fondo)"),
    "clawback_due": lambda: _("Da restituire (già erogato)"),
    "clawback_kept": lambda: _("Rimborso senza recupero (politica: mantieni)"),
    "clawback_repaid": lambda: _("Restituito alla fondazione"),
    "cancelled": lambda: _("Impegno annullato"),
}
STATES_SHOWN = ("pledged", "reserved", "earned", "released", "disbursed", "clawback_due")


@bp.app_template_global()
def grant_state_name(state: str) -> str:
    return STATE_TEXT[state]() if state in STATE_TEXT else state


@bp.app_template_global()
def grant_event_name(kind: str) -> str:
    return EVENT_TEXT[kind]() if kind in EVENT_TEXT else kind


@bp.app_template_global()
def grant_kind_name(kind: str) -> str:
    return _("Raddoppio in proporzione") if kind == "ratio" else _("Integrazione a soglia")


# ------------------------------------------------------------------ what donors see
DEFAULT_QUOTE_MINOR = 1000  # "your 10 EUR becomes ..."


@dataclass(frozen=True, slots=True)
class DonorGrants:
    """The matching grants on a campaign page: each commitment's match so far (settled
    gifts only, it falls only with a refund) and what a gift would bring now."""

    matches: list[CampaignMatch]
    quote: Quote | None
    amount_minor: int


def donor_grants(
    db: Session, campaign: Campaign, *, person_id: int | None, amount_minor: int | None
) -> DonorGrants:
    matches = [
        m
        for m in campaign_matches(db, campaign.id)
        if m.status != "cancelled" or m.matched_minor or m.clawback_due_minor
    ]
    amount = amount_minor or DEFAULT_QUOTE_MINOR
    offered = any(m.status == "open" for m in matches)
    now = current_ledger().clock.now()
    found = (
        quote(db, campaign.id, amount, person_id=person_id, now=now)
        if offered and campaign.status == "live"
        else None
    )
    return DonorGrants(matches, found, amount)


@bp.app_template_global()
def grant_ratio(text: str | None) -> str:
    """A ratio ("2", "0.5") as the page's language writes a number ("0,5" in Italian)."""
    if not text:
        return ""
    return format_decimal(Decimal(text), format="#,##0.##########", locale=current_language())


# ------------------------------------------------------------------ the officer's pages
@bp.get("/fondazioni")
@allow(OFFICER, ADMIN)
def dashboard() -> ResponseReturnValue:
    """The foundations the user acts for, their commitments and campaigns' progress."""
    principal = _principal()
    views = _read(lambda db: _dashboard(db, principal))
    today = rome_today(current_ledger().clock)
    return render_template(
        "grants/dashboard.html",
        views=views,
        states=STATES_SHOWN,
        period_start=today.replace(month=1, day=1),
        period_end=today,
        chart_width=CHART_WIDTH,
    )


@bp.get("/fondazioni/impegni/<int:commitment_id>")
@allow(OFFICER, ADMIN)
def commitment(commitment_id: int) -> ResponseReturnValue:
    """One commitment: rules in words, money states, campaigns, its log."""
    principal = _principal()

    def read(db: Session) -> tuple[CommitmentView, list[GrantEvent]]:
        row = _commitment_for(db, principal, commitment_id)
        events = list(
            db.scalars(
                select(GrantEvent)
                .where(GrantEvent.commitment_id == row.id)
                .order_by(GrantEvent.id.desc())
                .limit(200)
            )
        )
        return commitment_view(db, row), events

    view, events = _read(read)
    today = rome_today(current_ledger().clock)
    return render_template(
        "grants/commitment.html",
        view=view,
        events=events,
        states=STATES_SHOWN,
        chart_width=CHART_WIDTH,
        period_start=today.replace(month=1, day=1),
        period_end=today,
    )


# ------------------------------------------------------------------ statements
class StatementForm(FlaskForm):  # type: ignore[misc]
    """The period of a statement, asked with GET (a download changes nothing)."""

    class Meta:
        csrf = False

    dal = DateField(_l("Dal"), [DataRequired(message=_l("Indica il primo giorno del periodo."))])
    al = DateField(_l("Al"), [DataRequired(message=_l("Indica l'ultimo giorno del periodo."))])
    formato = RadioField(
        _l("Formato"),
        choices=[SelectChoice("pdf", "PDF"), SelectChoice("csv", "CSV")],
        default="pdf",
        validators=[DataRequired(message=_l("Scegli PDF o CSV."))],
    )
    submit = SubmitField(_l("Scarica il rendiconto"))


@bp.get("/fondazioni/<int:foundation_id>/rendiconto")
@allow(OFFICER, ADMIN)
def statement(foundation_id: int) -> ResponseReturnValue:
    """The grant statement of a foundation for a period, as PDF or CSV (the form without
    a period; the form again, with its errors, for a bad one)."""
    principal = _principal()
    today = rome_today(current_ledger().clock)
    form = StatementForm(request.args)
    asked = bool(request.args)
    if not asked:
        form.dal.data = today.replace(month=1, day=1)
        form.al.data = today
    if asked and form.validate():
        start, end = form.dal.data, form.al.data
        if start > end:
            form.al.errors = [_("Il periodo finisce prima di cominciare.")]
        elif end > today:
            form.al.errors = [_("Il periodo non può finire nel futuro.")]
        else:

            def build(db: Session) -> tuple[bytes | str, str]:
                foundation = _foundation_for(db, principal, foundation_id)
                data = build_grant_statement(db, foundation.id, start, end, today=today)
                if form.formato.data == "csv":
                    return grant_statement_csv(data), foundation.name
                return render_grant_statement_pdf(data), foundation.name

            body, _name = _read(build)
            filename = f"rendiconto-fondazione-{foundation_id}-{start}-{end}"
            if form.formato.data == "csv":
                return Response(
                    body,
                    mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
                )
            return Response(
                body,
                mimetype="application/pdf",
                headers={"Content-Disposition": f'attachment; filename="{filename}.pdf"'},
            )
    foundation = _read(lambda db: _foundation_for(db, principal, foundation_id))
    status = 422 if asked else 200
    return render_template("grants/statement.html", form=form, foundation=foundation), status


# ------------------------------------------------------------------ creating a commitment
_required = DataRequired(message=_l("Campo obbligatorio."))
_amount_help = _l("In euro, con la virgola per i centesimi: 48000 o 12,50.")
_optional_amount_help = _l("Facoltativo. In euro, con la virgola per i centesimi.")


class _Checkboxes(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CommitmentForm(FlaskForm):  # type: ignore[misc]
    """A matching-grant commitment: the shared settings, then those of its kind."""

    form_key = HiddenField()
    title = StringField(_l("Titolo dell'impegno"), [_required, Length(max=200)])
    kind = RadioField(
        _l("Tipo di regola"),
        choices=[
            SelectChoice("ratio", _l("Raddoppio: tot EUR per ogni 1 EUR donato")),
            SelectChoice(
                "threshold", _l("Soglia: raggiunta una soglia, la fondazione aggiunge un importo")
            ),
        ],
        default="ratio",
        validators=[_required],
    )
    scope = SelectField(_l("Destinazione"), [_required])
    pool = StringField(
        _l("Importo impegnato"),
        [_required, Length(max=24)],
        description=_l("Il massimo che la fondazione mette a disposizione, in euro."),
        render_kw={"inputmode": "decimal"},
    )
    window_start = DateField(
        _l("Ammissibile dal"),
        [_required],
        description=_l("Dalle 00:00 di questo giorno, ora italiana."),
    )
    window_end = DateField(
        _l("Ammissibile fino al"),
        [_required],
        description=_l("Fino alle 23:59:59 di questo giorno, ora italiana."),
    )
    counting = RadioField(
        _l("Come si contano le donazioni"),
        choices=[
            SelectChoice("gross", _l("Lorde (commissioni comprese)")),
            SelectChoice("net", _l("Nette delle commissioni di pagamento")),
        ],
        default="gross",
        validators=[_required],
    )
    clawback_policy = RadioField(
        _l("Se una donazione è rimborsata"),
        choices=[
            SelectChoice("claw_back", _l("La parte non più dovuta torna alla fondazione")),
            SelectChoice("keep", _l("Il cofinanziamento già riconosciuto resta")),
        ],
        default="claw_back",
        validators=[_required],
    )
    # Ratio match.
    ratio = StringField(
        _l("EUR aggiunti per ogni 1 EUR donato"),
        [Optional(), Length(max=20)],
        description=_l("Per esempio 2 (2 EUR per ogni euro) o 0,5."),
        render_kw={"inputmode": "decimal"},
    )
    methods = _Checkboxes(
        _l("Metodi di pagamento ammessi"),
        choices=[
            SelectChoice("card", _l("Carta")),
            SelectChoice("bank_transfer", _l("Bonifico")),
            SelectChoice("cash", _l("Contanti")),
        ],
        default=["card", "bank_transfer", "cash"],
    )
    min_gift = StringField(
        _l("Donazione minima"),
        [Optional(), Length(max=24)],
        description=_optional_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    max_gift = StringField(
        _l("Parte massima considerata di ogni donazione"),
        [Optional(), Length(max=24)],
        description=_optional_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    donor_cap = StringField(
        _l("Tetto per donatore"),
        [Optional(), Length(max=24)],
        description=_optional_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    campaign_cap = StringField(
        _l("Tetto per campagna"),
        [Optional(), Length(max=24)],
        description=_optional_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    # Threshold top-up.
    threshold = StringField(
        _l("Soglia"),
        [Optional(), Length(max=24)],
        description=_l("Una percentuale del budget (40%) o un importo in euro (20000)."),
    )
    min_donors = StringField(
        _l("Numero minimo di donatori diversi"),
        [Optional(), Length(max=6)],
        description=_l("Facoltativo."),
        render_kw={"inputmode": "numeric"},
    )
    topup = StringField(
        _l("Integrazione della fondazione"),
        [Optional(), Length(max=24)],
        description=_l("Una percentuale del budget (60%) o un importo in euro (30000)."),
    )
    topup_cap = StringField(
        _l("Integrazione massima"),
        [Optional(), Length(max=24)],
        description=_optional_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    topup_policy = RadioField(
        _l("Se la raccolta supera l'obiettivo"),
        choices=[
            SelectChoice("fixed", _l("L'integrazione resta fissa")),
            SelectChoice("remaining_to_goal", _l("Si integra solo quanto manca all'obiettivo")),
        ],
        default="fixed",
    )
    bonus = StringField(
        _l("Premio di completamento"),
        [Optional(), Length(max=12)],
        description=_l(
            "Facoltativo: percentuale del budget se la raccolta da sola raggiunge "
            "l'obiettivo, senza l'integrazione (per esempio 5%)."
        ),
    )
    bonus_cap = StringField(
        _l("Premio massimo"),
        [Optional(), Length(max=24)],
        description=_optional_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    submit = SubmitField(_l("Crea l'impegno"))


class FormInputError(Exception):
    """A form value that cannot be read; the message is shown next to `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


_PERCENT = re.compile(r"^(\d{1,3}(?:[.,]\d{1,4})?)\s*%$")


def _money(form: CommitmentForm, name: str, *, required: bool = False) -> int | None:
    text = (getattr(form, name).data or "").strip()
    if not text:
        if required:
            raise FormInputError(name, _("Campo obbligatorio."))
        return None
    try:
        return parse_amount_text(text, "EUR").minor
    except LedgerError:
        raise FormInputError(
            name, _("Importo non valido: un numero positivo con al massimo due decimali, 12,50.")
        ) from None


def _share(form: CommitmentForm, name: str, text: str) -> str:
    """ "40%" -> "0.4": a percentage in (0, 100]."""
    match = _PERCENT.match(text)
    assert match is not None
    share = Decimal(match.group(1).replace(",", ".")) / 100
    if not 0 < share <= 1:
        raise FormInputError(name, _("La percentuale deve essere tra 0 e 100."))
    return format(share.normalize(), "f")


def _amount_or_share(form: CommitmentForm, name: str) -> tuple[int | None, str | None]:
    text = "".join((getattr(form, name).data or "").split())
    if not text:
        raise FormInputError(name, _("Campo obbligatorio per una regola a soglia."))
    if text.endswith("%"):
        if not _PERCENT.match(text):
            raise FormInputError(name, _("Percentuale non valida: per esempio 40%."))
        return None, _share(form, name, text)
    return _money(form, name, required=True), None


def _ratio(form: CommitmentForm) -> str:
    text = "".join((form.ratio.data or "").split()).replace(",", ".")
    if not text:
        raise FormInputError("ratio", _("Indica quanti EUR aggiunge la fondazione per ogni euro."))
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0 or value > 100 or len(text) > 12:
        raise FormInputError(
            "ratio", _("Rapporto non valido: un numero positivo, per esempio 2 o 0,5.")
        )
    return format(value.normalize(), "f")


def _count(form: CommitmentForm, name: str) -> int | None:
    text = (getattr(form, name).data or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 1_000_000:
        raise FormInputError(name, _("Un numero intero da 1 in su, oppure lascia vuoto."))
    return int(text)


def _window(form: CommitmentForm) -> tuple[datetime, datetime]:
    first, last = form.window_start.data, form.window_end.data
    if first > last:
        raise FormInputError("window_end", _("La fine viene prima dell'inizio."))
    start = datetime.combine(first, time(0, 0), tzinfo=ROME).astimezone(UTC)
    end = datetime.combine(last, time(23, 59, 59), tzinfo=ROME).astimezone(UTC)
    return start, end


def spec_of(form: CommitmentForm, foundation_id: int) -> CommitmentSpec:
    """The form as a commitment spec; FormInputError names the first bad field."""
    scope = form.scope.data or ""
    campaign_id = call_id = None
    if scope.startswith("c:") and scope[2:].isdigit():
        campaign_id = int(scope[2:])
    elif scope.startswith("b:") and scope[2:].isdigit():
        call_id = int(scope[2:])
    else:
        raise FormInputError("scope", _("Scegli una campagna o un bando."))
    pool = _money(form, "pool", required=True)
    assert pool is not None
    start, end = _window(form)
    common: dict[str, Any] = {
        "foundation_id": foundation_id,
        "title": form.title.data or "",
        "kind": form.kind.data,
        "pool_minor": pool,
        "window_start": start,
        "window_end": end,
        "campaign_id": campaign_id,
        "call_id": call_id,
        "count_net": form.counting.data == "net",
        "clawback_policy": form.clawback_policy.data,
    }
    if form.kind.data == "ratio":
        methods = tuple(
            m for m in ("card", "bank_transfer", "cash") if m in (form.methods.data or [])
        )
        if not methods:
            raise FormInputError("methods", _("Scegli almeno un metodo di pagamento."))
        minimum, maximum = _money(form, "min_gift"), _money(form, "max_gift")
        if minimum is not None and maximum is not None and maximum < minimum:
            raise FormInputError("max_gift", _("Non può essere minore della donazione minima."))
        return CommitmentSpec(
            **common,
            ratio=_ratio(form),
            methods=methods,
            min_gift_minor=minimum,
            max_gift_minor=maximum,
            donor_cap_minor=_money(form, "donor_cap"),
            campaign_cap_minor=_money(form, "campaign_cap"),
        )
    threshold_minor, threshold_share = _amount_or_share(form, "threshold")
    topup_minor, topup_share = _amount_or_share(form, "topup")
    bonus_text = "".join((form.bonus.data or "").split())
    bonus_share = None
    if bonus_text:
        if not bonus_text.endswith("%"):
            bonus_text += "%"
        if not _PERCENT.match(bonus_text):
            raise FormInputError("bonus", _("Percentuale non valida: per esempio 5%."))
        bonus_share = _share(form, "bonus", bonus_text)
    if form.topup_policy.data not in ("fixed", "remaining_to_goal"):
        raise FormInputError("topup_policy", _("Scegli una delle due possibilità."))
    return CommitmentSpec(
        **common,
        threshold_minor=threshold_minor,
        threshold_share=threshold_share,
        topup_minor=topup_minor,
        topup_share=topup_share,
        topup_policy=form.topup_policy.data,
        topup_cap_minor=_money(form, "topup_cap"),
        min_donors=_count(form, "min_donors"),
        bonus_share=bonus_share,
        bonus_cap_minor=_money(form, "bonus_cap"),
    )


# Domain fields (InvalidCommitmentError / rule errors) -> form fields and Italian texts.
DOMAIN_FIELDS: dict[str, str] = {
    "title": "title",
    "kind": "kind",
    "campaign_id": "scope",
    "call_id": "scope",
    "currency": "scope",
    "pool_minor": "pool",
    "clawback_policy": "clawback_policy",
    "ratio": "ratio",
    "methods": "methods",
    "min_gift": "min_gift",
    "max_gift": "max_gift",
    "donor_cap": "donor_cap",
    "campaign_cap": "campaign_cap",
    "threshold": "threshold",
    "threshold_share": "threshold",
    "topup": "topup",
    "topup_share": "topup",
    "topup_policy": "topup_policy",
    "policy": "topup_policy",
    "cap_minor": "topup_cap",
    "min_donors": "min_donors",
    "share": "bonus",
    "bonus_share": "bonus",
    "start": "window_start",
    "end": "window_end",
}


def _domain_error(form: CommitmentForm, exc: LedgerError) -> None:
    name = DOMAIN_FIELDS.get(str(exc.details.get("field", "")))
    # The domain's texts are Italian, the rules' are English: say it in the page's words.
    text = exc.message if exc.code == "invalid_commitment" else _("Valore non accettato.")
    if name is not None:
        field = getattr(form, name)
        field.errors = [*list(field.errors), text]
    else:
        form.form_errors.append(text)


def _scope_choices(db: Session) -> list[SelectChoice]:
    choices = [SelectChoice("", _("Scegli..."))]
    for campaign in db.scalars(
        select(Campaign).where(Campaign.status.in_(("draft", "live"))).order_by(Campaign.id)
    ):
        choices.append(
            SelectChoice(
                f"c:{campaign.id}",
                _(
                    "Campagna n. %(id)d: %(title)s (obiettivo %(goal)s)",
                    id=campaign.id,
                    title=campaign.title,
                    goal=format_money(campaign.goal_minor, campaign.currency),
                ),
            )
        )
    for call in db.scalars(select(Call).order_by(Call.id)):
        choices.append(
            SelectChoice(
                f"b:{call.id}",
                _("Ogni campagna del bando n. %(id)d: %(title)s", id=call.id, title=call.title),
            )
        )
    return choices


def _replayed(db: Session, action: str, key: str) -> AuditEvent | None:
    """The audit event of an earlier request with this form key (among the 500 latest)."""
    for event in db.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
        .limit(500)
    ):
        if (event.details or {}).get("request") == key:
            return event
    return None


def _form_key(form: Any) -> str:
    if not form.form_key.data:
        form.form_key.data = uuid.uuid4().hex
    return str(form.form_key.data)[:64]


@bp.route("/fondazioni/<int:foundation_id>/impegni/nuovo", methods=["GET", "POST"])
@allow(OFFICER, ADMIN, two_factor=True)
def new_commitment(foundation_id: int) -> ResponseReturnValue:
    """A new matching-grant commitment of the foundation (nothing is written on a bad form)."""
    principal = _principal()

    def read(db: Session) -> tuple[Foundation, list[SelectChoice]]:
        return _foundation_for(db, principal, foundation_id), _scope_choices(db)

    foundation, choices = _snapshot(read)
    form = CommitmentForm()
    form.scope.choices = choices
    key = _form_key(form)
    if not form.is_submitted():
        today = rome_today(current_ledger().clock)
        form.window_start.data = today
        form.window_end.data = today.replace(month=12, day=31)
    if form.validate_on_submit():
        try:
            spec = spec_of(form, foundation_id)

            def create(db: Session) -> int:
                _foundation_for(db, principal, foundation_id)
                earlier = _replayed(db, "commitment.create", key)
                if earlier is not None and earlier.subject_id is not None:
                    return int(earlier.subject_id)  # a double submit: the first one stands
                row = create_commitment(
                    db,
                    spec,
                    clock=current_ledger().clock,
                    created_by=principal.user_id,
                    actor=f"user:{principal.user_id}",
                )
                audit(
                    db,
                    "commitment.create",
                    subject_type="commitment",
                    subject_id=row.id,
                    details={
                        "foundation_id": foundation_id,
                        "kind": row.kind,
                        "pool": format_minor(row.pool_minor, row.currency),
                        "request": key,
                    },
                )
                return row.id

            commitment_id = in_transaction(create)
        except FormInputError as exc:
            field = getattr(form, exc.field)
            field.errors = [*list(field.errors), exc.message]
        except LedgerError as exc:
            _domain_error(form, exc)
        else:
            flash(_("Impegno creato: la somma promessa è registrata."), "success")
            return redirect(url_for("grants.commitment", commitment_id=commitment_id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("grants/new_commitment.html", form=form, foundation=foundation), status


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField(_l("Annulla l'impegno"))


@bp.route("/fondazioni/impegni/<int:commitment_id>/annulla", methods=["GET", "POST"])
@allow(OFFICER, ADMIN, two_factor=True)
def cancel(commitment_id: int) -> ResponseReturnValue:
    """Cancel a commitment after a confirmation: top-ups not reached yet end and the
    unreserved pool goes back to the foundation; matches already reserved for gifts
    received, and what was earned, released or paid in, stay owed."""
    principal = _principal()
    view = _snapshot(lambda db: commitment_view(db, _commitment_for(db, principal, commitment_id)))
    form = ConfirmForm()
    if form.validate_on_submit():
        if view.row.status == "cancelled":
            flash(_("L'impegno era già stato annullato."), "warning")
            return redirect(url_for("grants.commitment", commitment_id=commitment_id), 303)

        def work(db: Session) -> None:
            _commitment_for(db, principal, commitment_id)
            cancel_commitment(
                db,
                commitment_id,
                clock=current_ledger().clock,
                cancelled_by=principal.user_id,
                actor=f"user:{principal.user_id}",
            )
            audit(db, "commitment.cancel", subject_type="commitment", subject_id=commitment_id)

        try:
            in_transaction(work)
        except LedgerError as exc:
            form.form_errors.append(exc.message)
        else:
            flash(_("Impegno annullato."), "success")
            return redirect(url_for("grants.commitment", commitment_id=commitment_id), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("grants/cancel.html", view=view, form=form, states=STATES_SHOWN), status


# ------------------------------------------------------------------ the treasurer's pages
@dataclass(frozen=True, slots=True)
class TreasuryLine:
    commitment_id: int
    foundation: str
    title: str
    campaign_id: int
    campaign_title: str
    currency: str
    released_minor: int
    disbursed_minor: int
    clawback_due_minor: int


def _treasury_lines(db: Session) -> list[TreasuryLine]:
    lines = []
    for allocation, row, campaign, foundation in db.execute(
        select(Allocation, Commitment, Campaign, Foundation)
        .join(Commitment, Commitment.id == Allocation.commitment_id)
        .join(Campaign, Campaign.id == Allocation.campaign_id)
        .join(Foundation, Foundation.id == Commitment.foundation_id)
        .order_by(Commitment.id, Campaign.id)
    ):
        lines.append(
            TreasuryLine(
                row.id,
                foundation.name,
                row.title,
                campaign.id,
                campaign.title,
                row.currency,
                allocation.released_minor,
                allocation.disbursed_minor,
                allocation.clawback_due_minor,
            )
        )
    return lines


@treasury_bp.get("/tesoreria/cofinanziamenti")
@allow(TREASURER)
def lines() -> ResponseReturnValue:
    """Every commitment on every campaign: released (to be paid in), paid in, due back."""
    return render_template("grants/treasury.html", lines=_read(_treasury_lines))


class MoneyForm(FlaskForm):  # type: ignore[misc]
    form_key = HiddenField()
    amount = StringField(
        _l("Importo"),
        [_required, Length(max=24)],
        description=_l("In euro, con la virgola per i centesimi: 12,50."),
        render_kw={"inputmode": "decimal"},
    )
    reference = StringField(
        _l("Riferimento del bonifico"),
        [_required, Length(max=100)],
        description=_l("La causale o il codice del movimento bancario."),
    )
    submit = SubmitField(_l("Registra"))


def _line(db: Session, commitment_id: int, campaign_id: int) -> TreasuryLine:
    for line in _treasury_lines(db):
        if line.commitment_id == commitment_id and line.campaign_id == campaign_id:
            return line
    raise NotFound()


def _money_page(commitment_id: int, campaign_id: int, *, repayment: bool) -> ResponseReturnValue:
    principal = _principal()
    line = _snapshot(lambda db: _line(db, commitment_id, campaign_id))
    form = MoneyForm()
    key = _form_key(form)
    action = "commitment.clawback_repaid" if repayment else "commitment.disbursement"
    if form.validate_on_submit():
        try:
            amount = parse_amount_text(form.amount.data or "", line.currency).minor
            reference = " ".join((form.reference.data or "").split())

            def work(db: Session) -> int:
                if _replayed(db, action, key) is not None:
                    return 0  # a double submit: booked once already
                book = repay_clawback if repayment else record_disbursement
                sequence = book(
                    db,
                    commitment_id,
                    campaign_id,
                    amount,
                    key=key,
                    clock=current_ledger().clock,
                    actor=f"user:{principal.user_id}",
                )
                audit(
                    db,
                    action,
                    subject_type="commitment",
                    subject_id=commitment_id,
                    details={
                        "request": key,
                        "campaign_id": campaign_id,
                        "amount": format_minor(amount, line.currency),
                        "reference": reference,
                        "entry_sequence": sequence,
                    },
                )
                return sequence

            in_transaction(work)
        except LedgerError as exc:
            if exc.code == "grant_disbursement":
                limit = line.clawback_due_minor if repayment else line.released_minor
                form.amount.errors = [
                    *list(form.amount.errors),
                    _(
                        "L'importo supera quanto è dovuto: al massimo %(amount)s.",
                        amount=format_money(limit, line.currency),
                    ),
                ]
            else:
                form.amount.errors = [*list(form.amount.errors), exc.message]
        else:
            flash(
                _("Restituzione registrata.") if repayment else _("Erogazione registrata."),
                "success",
            )
            return redirect(url_for("grant_treasury.lines"), 303)
    status = 422 if form.is_submitted() else 200
    return render_template("grants/money.html", line=line, form=form, repayment=repayment), status


@treasury_bp.route(
    "/tesoreria/cofinanziamenti/<int:commitment_id>/<int:campaign_id>/erogazione",
    methods=["GET", "POST"],
)
@allow(TREASURER, two_factor=True)
def disbursement(commitment_id: int, campaign_id: int) -> ResponseReturnValue:
    """The foundation's payment of released match reached the bank."""
    return _money_page(commitment_id, campaign_id, repayment=False)


@treasury_bp.route(
    "/tesoreria/cofinanziamenti/<int:commitment_id>/<int:campaign_id>/restituzione",
    methods=["GET", "POST"],
)
@allow(TREASURER, two_factor=True)
def repayment(commitment_id: int, campaign_id: int) -> ResponseReturnValue:
    """Money due back to the foundation (clawback after disbursement) left the bank."""
    return _money_page(commitment_id, campaign_id, repayment=True)
