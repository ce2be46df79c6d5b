"""Forms of the campaign pages: a card gift, a refund, a gift received offline, a campaign.

Labels are lazily translated, so one form class serves both languages. Money
forms carry a key made when they were shown (`web.views.form_key`), so a
double submit is one request to the use case.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from web.forms import key_field

_required = DataRequired(message=_l("Campo obbligatorio."))
_amount_help = _l("In euro, con la virgola o il punto per i centesimi: 12,50.")


class DonationForm(FlaskForm):  # type: ignore[misc]
    """A gift by card to a campaign; the key made when the form was shown makes a
    double submit start one payment."""

    form_key = key_field()
    amount = StringField(
        _l("Importo della donazione"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal", "autocomplete": "transaction-amount"},
    )
    # Consent, not opt-out: a donor's name is public only when they ask for it.
    show_name = BooleanField(
        _l("Mostra il mio nome tra i donatori"),
        description=_l(
            "Senza la spunta il tuo nome non compare nell'elenco pubblico; "
            "la ricevuta resta comunque intestata a te."
        ),
    )
    submit = SubmitField(_l("Dona con carta"))


class TransferDonationForm(FlaskForm):  # type: ignore[misc]
    """A gift by bank transfer: the donor pledges an amount and is shown how to pay it;
    the key made when the form was shown makes a double submit one pending gift."""

    form_key = key_field()
    amount = StringField(
        _l("Importo della donazione"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal", "autocomplete": "transaction-amount"},
    )
    show_name = BooleanField(
        _l("Mostra il mio nome tra i donatori"),
        description=_l(
            "Senza la spunta il tuo nome non compare nell'elenco pubblico; "
            "la ricevuta resta comunque intestata a te."
        ),
    )
    donor_name = StringField(
        _l("Nome e cognome per la ricevuta (facoltativo)"),
        [Optional(), Length(max=200)],
        render_kw={"autocomplete": "name"},
    )
    donor_codice_fiscale = StringField(
        _l("Codice fiscale per la ricevuta (facoltativo)"),
        [Optional(), Length(max=20)],
        description=_l("Serve per detrarre o dedurre la donazione."),
    )
    submit = SubmitField(_l("Dona con bonifico"))


class RefundForm(FlaskForm):  # type: ignore[misc]
    """A refund of a gift (treasurers); an empty amount refunds all that remains."""

    form_key = key_field()
    amount = StringField(
        _l("Importo da rimborsare (facoltativo)"),
        [Optional(), Length(max=24)],
        description=_l("Lascia vuoto per rimborsare tutto ciò che resta della donazione."),
        render_kw={"inputmode": "decimal"},
    )
    submit = SubmitField(_l("Rimborsa"))


class OfflineDonationForm(FlaskForm):  # type: ignore[misc]
    """A gift received in cash or by bank transfer, recorded by a treasurer."""

    form_key = key_field()
    campaign = SelectField(_l("Campagna"), [_required])
    method = RadioField(
        _l("Metodo"),
        choices=[
            SelectChoice("cash", _l("Contanti")),
            SelectChoice("bank_transfer", _l("Bonifico bancario")),
        ],
        default="cash",
        validators=[_required],
    )
    amount = StringField(
        _l("Importo"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    donated_on = DateField(
        _l("Data della donazione"),
        [Optional()],
        description=_l("Il giorno in cui il denaro è arrivato; vuoto: oggi."),
    )
    reference = StringField(
        _l("Riferimento del bonifico"),
        [Optional(), Length(max=140)],
        description=_l("Obbligatorio per i bonifici: la causale o il codice dato al donatore."),
    )
    donor_email = EmailField(
        _l("E-mail del donatore (facoltativa)"),
        [Optional(), Length(max=254)],
        description=_l("Collega la donazione a una persona già nota o ne registra una nuova."),
    )
    donor_name = StringField(
        _l("Nome e cognome del donatore (facoltativo)"), [Optional(), Length(max=200)]
    )
    donor_codice_fiscale = StringField(
        _l("Codice fiscale del donatore (facoltativo)"),
        [Optional(), Length(max=20)],
        description=_l("Serve per la ricevuta detraibile di una persona nuova."),
    )
    # Names are shown in public only with the donor's consent: hidden by default.
    anonymous = BooleanField(
        _l("Non mostrare il nome in pubblico"),
        default=True,
        description=_l("Togli la spunta solo se il donatore acconsente a comparire."),
    )
    submit = SubmitField(_l("Registra la donazione"))


class ReissueReceiptForm(FlaskForm):  # type: ignore[misc]
    """The donor of a gift, corrected: its receipt is voided and issued again."""

    form_key = key_field()
    full_name = StringField(_l("Nome e cognome del donatore"), [_required, Length(max=200)])
    codice_fiscale = StringField(
        _l("Codice fiscale del donatore (facoltativo)"), [Optional(), Length(max=20)]
    )
    submit = SubmitField(_l("Annulla e riemetti la ricevuta"))


class CampaignForm(FlaskForm):  # type: ignore[misc]
    """A new campaign (a draft until it is published)."""

    form_key = key_field()
    title = StringField(_l("Titolo"), [_required, Length(max=200)])
    description = TextAreaField(
        _l("Descrizione"),
        [Length(max=20_000)],
        description=_l(
            "In Markdown: **grassetto**, *corsivo*, elenchi e link. Niente nomi di donatori."
        ),
        render_kw={"rows": 8},
    )
    goal = StringField(
        _l("Obiettivo"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    deadline = DateField(
        _l("Scadenza"),
        [_required],
        description=_l("Ultimo giorno per donare (fino alle 23:59, ora italiana)."),
    )
    funding_model = RadioField(
        _l("Modello di raccolta"),
        choices=[
            SelectChoice("keep_what_you_raise", _l("Si tiene quanto raccolto")),
            SelectChoice(
                "all_or_nothing", _l("Tutto o niente: se l'obiettivo manca, si rimborsa tutti")
            ),
        ],
        default="keep_what_you_raise",
        validators=[_required],
    )
    submit = SubmitField(_l("Crea la bozza"))
