"""Forms of the bank pages (Flask-WTF: every form carries a CSRF token).

Each form that writes carries `form_key`, made when it was shown: the use case's
request key (`web.views.form_key`), so a double submit imports, ignores, books or
matches once. Amounts are text parsed by `web.amounts.parse_amount_text`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from ledger.reconcile.formats.tabular import PRESETS
from ledger.reconcile.matching import RECORD_KINDS
from web.forms import key_field

_required = DataRequired(message=_l("Campo obbligatorio."))

FORMAT_CHOICES = [
    SelectChoice("auto", _l("Riconoscimento automatico")),
    SelectChoice("camt053", "camt.053"),
    SelectChoice("camt054", "camt.054"),
    SelectChoice("mt940", "MT940"),
    SelectChoice("csv", "CSV"),
    SelectChoice("xlsx", "XLSX"),
]
KIND_LABELS = {
    "gift": _l("Donazione (n.)"),
    "repayment": _l("Rimborso di prestito (n.)"),
    "entry": _l("Registrazione contabile (n.)"),
    "payout": _l("Versamento Stripe (po_…)"),
}


class BankAccountForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    iban = StringField(
        _l("IBAN"),
        [_required, Length(max=50)],
        description=_l("Con o senza spazi: IT60 X054 2811 1010 0000 0123 456."),
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
    )
    account = SelectField(_l("Conto del registro che rispecchia"), validators=[_required])
    name = StringField(_l("Nome (facoltativo)"), [Optional(), Length(max=200)])
    submit = SubmitField(_l("Crea il conto bancario"))


class ImportForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    file = FileField(
        _l("File dell'estratto conto"),
        description=_l("camt.053, camt.054, MT940, CSV o XLSX esportato dalla banca."),
    )
    format = SelectField(_l("Formato"), choices=FORMAT_CHOICES, default="auto")
    preset = SelectField(
        _l("Schema delle colonne (CSV e XLSX)"),
        choices=[SelectChoice("", _l("Nessuno"))]
        + [SelectChoice(name, name) for name in sorted(PRESETS)],
        default="",
        validators=[Optional()],
    )
    accept_unbalanced = BooleanField(
        _l("Importa anche un estratto che non quadra o non continua il precedente")
    )
    reason = TextAreaField(
        _l("Motivo dell'accettazione"),
        [Optional(), Length(max=500)],
        description=_l("Obbligatorio se accetti un estratto che non quadra; resta registrato."),
    )
    submit = SubmitField(_l("Importa"))


class ApplyReferencesForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField(_l("Applica riferimenti"))


class IgnoreForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    reason = TextAreaField(_l("Motivo"), [_required, Length(max=500)])
    submit = SubmitField(_l("Ignora il movimento"))


class BookForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    account = SelectField(_l("Conto"), validators=[_required])
    narration = StringField(_l("Descrizione"), [_required, Length(max=500)])
    submit = SubmitField(_l("Registra"))


class MatchPartForm(Form):  # type: ignore[misc]
    """One part of a match (several parts split the line)."""

    kind = SelectField(
        _l("Tipo"),
        choices=[SelectChoice(k, KIND_LABELS[k]) for k in RECORD_KINDS],
        default="gift",
    )
    record = StringField(_l("Numero"), [Optional(), Length(max=255)])
    amount = StringField(
        _l("Importo"), [Optional(), Length(max=24)], render_kw={"inputmode": "decimal"}
    )


class MatchForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    parts = FieldList(FormField(MatchPartForm), min_entries=3, max_entries=10)
    submit = SubmitField(_l("Abbina"))
