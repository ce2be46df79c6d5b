"""The forms of the grants pages and how a commitment form becomes a `CommitmentSpec`.

Parsing stays here (amounts in the Italian way, percentages, ratios, the
window's days in Europe/Rome); what the act itself requires is checked by
`ledger.grants.commands`, and `domain_error` puts its refusal next to the
field it names.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from wtforms import (
    DateField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ledger.campaigns.models import Campaign
from ledger.core.clock import ROME
from ledger.core.errors import LedgerError
from ledger.funds.call_models import Call
from ledger.grants.service import CommitmentSpec
from web.amounts import parse_amount_text
from web.forms import key_field
from web.i18n import error_text, format_money

_required = DataRequired(message=_l("Campo obbligatorio."))


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


_amount_help = _l("In euro, con la virgola per i centesimi: 48000 o 12,50.")
_optional_amount_help = _l("Facoltativo. In euro, con la virgola per i centesimi.")


class _Checkboxes(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CommitmentForm(FlaskForm):  # type: ignore[misc]
    """A matching-grant commitment: the shared settings, then those of its kind."""

    form_key = key_field()
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


def domain_error(form: CommitmentForm, exc: LedgerError) -> None:
    """Attach the domain's refusal of a commitment to the form field it names."""
    name = DOMAIN_FIELDS.get(str(exc.details.get("field", "")))
    # The domain's texts are Italian, the rules' are English: say it in the page's words.
    if exc.code == "invalid_commitment":
        text = exc.message
    elif exc.code == "idempotency_conflict":
        text = error_text(exc.code, "", exc.message)
    else:
        text = _("Valore non accettato.")
    if name is not None:
        field = getattr(form, name)
        field.errors = [*list(field.errors), text]
    else:
        form.form_errors.append(text)


def scope_choices(db: Session) -> list[SelectChoice]:
    """What a commitment can cover: a draft or live campaign, or every campaign of a call."""
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


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """The confirmation that cancels a commitment."""

    submit = SubmitField(_l("Annulla l'impegno"))


class MoneyForm(FlaskForm):  # type: ignore[misc]
    """Money of a commitment that reached or left the bank: amount and bank reference."""

    form_key = key_field()
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
