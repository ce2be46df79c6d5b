"""Forms of the fund and loan pages (Flask-WTF: every form carries a CSRF token).

Each money form carries `form_key`, made when the form is shown: it is the
use case's request key (`web.views.form_key`), so a double submit books once. Amounts
are text parsed by `web.amounts.parse_amount_text` ("1.234,56"), never floats.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from web.forms import key_field

_required = DataRequired(message=_l("Campo obbligatorio."))
_amount_help = _l("In euro, con la virgola o il punto per i centesimi: 12,50.")
_amount_kw = {"inputmode": "decimal"}


def _amount(label: str | object, *, required: bool = True) -> StringField:
    return StringField(
        label,
        [_required if required else Optional(), Length(max=24)],
        description=_amount_help,
        render_kw=_amount_kw,
    )


class FundForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    name = StringField(_l("Nome del fondo"), [_required, Length(max=200)])
    kind = RadioField(
        _l("Tipo di fondo"),
        choices=[
            SelectChoice("revolving", _l("Fondo rotativo di microcredito")),
            SelectChoice("microgrant", _l("Fondo per microcontributi")),
        ],
        default="revolving",
        validators=[_required],
    )
    submit = SubmitField(_l("Crea il fondo"))


class DepositForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    amount = _amount(_l("Importo entrato"))
    source = RadioField(
        _l("Provenienza"),
        choices=[
            SelectChoice("donation", _l("Donazioni")),
            SelectChoice("foundation_grant", _l("Contributo di una fondazione")),
            SelectChoice("transfer", _l("Trasferimento da altro conto")),
        ],
        default="foundation_grant",
        validators=[_required],
    )
    effective_on = DateField(_l("Data di accredito"), [Optional()], description=_l("Vuoto: oggi."))
    reference = StringField(
        _l("Riferimento (facoltativo)"),
        [Optional(), Length(max=120)],
        description=_l("Per esempio la causale del bonifico. Niente dati personali."),
    )
    submit = SubmitField(_l("Registra l'entrata"))


class ProductForm(FlaskForm):  # type: ignore[misc]
    name = StringField(_l("Nome del prodotto"), [_required, Length(max=200)])
    min_amount = _amount(_l("Importo minimo"))
    max_amount = _amount(_l("Importo massimo"))
    rate = StringField(
        _l("Tasso annuo nominale (%)"),
        [_required, Length(max=12)],
        description=_l("Per esempio 6 o 2,5; 0 per un prestito senza interessi."),
        render_kw=_amount_kw,
    )
    method = SelectField(
        _l("Piano di rimborso"),
        choices=[
            SelectChoice("declining_equal_instalments", _l("Rate costanti (alla francese)")),
            SelectChoice("equal_principal", _l("Quota capitale costante (all'italiana)")),
            SelectChoice("flat", _l("Interesse fisso sul capitale iniziale (flat)")),
        ],
        validators=[_required],
    )
    min_term = IntegerField(
        _l("Durata minima (mesi)"), [_required, NumberRange(min=1, max=360)], default=6
    )
    max_term = IntegerField(
        _l("Durata massima (mesi)"), [_required, NumberRange(min=1, max=360)], default=36
    )
    grace = IntegerField(
        _l("Mesi di preammortamento (solo interessi)"),
        [Optional(), NumberRange(min=0, max=359)],
        default=0,
    )
    day_count = SelectField(
        _l("Base di calcolo dei giorni"),
        choices=[
            SelectChoice("30/360", _l("30/360 (mese commerciale)")),
            SelectChoice("actual/365", _l("giorni effettivi / 365")),
            SelectChoice("actual/360", _l("giorni effettivi / 360")),
        ],
        validators=[_required],
    )
    rounding = SelectField(
        _l("Arrotondamento al centesimo"),
        choices=[
            SelectChoice("ROUND_HALF_EVEN", _l("al più vicino, metà al pari")),
            SelectChoice("ROUND_HALF_UP", _l("al più vicino, metà per eccesso")),
            SelectChoice("ROUND_DOWN", _l("per difetto")),
        ],
        validators=[_required],
    )
    fee = _amount(_l("Commissione per rata (facoltativa)"), required=False)
    submit = SubmitField(_l("Crea il prodotto"))


class LoanForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    product = SelectField(_l("Prodotto"), [_required])
    borrower_email = EmailField(
        _l("E-mail del beneficiario"),
        [_required, Length(max=254)],
        description=_l("La persona deve essere già registrata."),
    )
    principal = _amount(_l("Capitale"))
    term = IntegerField(_l("Durata (mesi)"), [_required, NumberRange(min=1, max=360)])
    first_due_on = DateField(_l("Scadenza della prima rata"), [_required])
    submit = SubmitField(_l("Concedi il prestito"))


class DisburseForm(FlaskForm):  # type: ignore[misc]
    disbursed_on = DateField(_l("Data di erogazione"), [Optional()], description=_l("Vuoto: oggi."))
    submit = SubmitField(_l("Eroga il prestito"))


class CancelLoanForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField(_l("Annulla il prestito"))


class RepaymentForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    amount = _amount(_l("Importo ricevuto"))
    received_on = DateField(_l("Data del pagamento"), [_required])
    submit = SubmitField(_l("Registra il pagamento"))


class WriteOffForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    on = DateField(_l("Data dello stralcio"), [Optional()], description=_l("Vuoto: oggi."))
    submit = SubmitField(_l("Stralcia il prestito"))


class OverpaymentRefundForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    amount = _amount(_l("Importo restituito"))
    submit = SubmitField(_l("Registra la restituzione"))
