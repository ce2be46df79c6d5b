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
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

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


ACCOUNT_OWN_PRESET = _l("Lo schema del conto")


def preset_choices(has_own: bool) -> list[SelectChoice]:
    """The import form's presets: the account's own first (no name: the use case reads
    it) when it has one, else none."""
    first = SelectChoice("", ACCOUNT_OWN_PRESET if has_own else _l("Nessuno"))
    return [first] + [SelectChoice(name, name) for name in sorted(PRESETS)]


class HoldForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    account = SelectField(
        _l("Conto del registro tenuto in questo conto bancario"), validators=[_required]
    )
    submit = SubmitField(_l("Aggiungi il conto"))


class ImportForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    file = FileField(
        _l("File dell'estratto conto"),
        description=_l("camt.053, camt.054, MT940, CSV o XLSX esportato dalla banca."),
    )
    format = SelectField(_l("Formato"), choices=FORMAT_CHOICES, default="auto")
    preset = SelectField(
        _l("Schema delle colonne (CSV e XLSX)"),
        choices=preset_choices(False),
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


# ------------------------------------------------------------------ a line becomes a record
def _optional_int(value: object) -> int | None:
    if value in (None, ""):
        return None
    return int(str(value))


class GiftForm(FlaskForm):  # type: ignore[misc]
    """An incoming line turned into an offline gift by bank transfer for a campaign."""

    form_key = key_field()
    campaign = SelectField(_l("Campagna"), coerce=_optional_int, validators=[_required])
    amount = StringField(
        _l("Importo"),
        [Optional(), Length(max=24)],
        description=_l("Quanto resta da spiegare, se non lo cambi."),
        render_kw={"inputmode": "decimal"},
        id="gift-amount",
    )
    donor = IntegerField(
        _l("Donatore (numero della persona, facoltativo)"),
        [Optional(), NumberRange(min=1)],
        render_kw={"inputmode": "numeric"},
    )
    named = BooleanField(_l("Mostra il nome del donatore (non anonima)"))
    submit = SubmitField(_l("Registra come donazione"))


class RepaymentForm(FlaskForm):  # type: ignore[misc]
    """An incoming line turned into a repayment of a loan."""

    form_key = key_field()
    loan = SelectField(_l("Prestito"), coerce=_optional_int, validators=[_required])
    amount = StringField(
        _l("Importo"),
        [Optional(), Length(max=24)],
        description=_l("Quanto resta da spiegare, se non lo cambi."),
        render_kw={"inputmode": "decimal"},
        id="repayment-amount",
    )
    submit = SubmitField(_l("Registra come rimborso di prestito"))


# ------------------------------------------------------------------ rules
RULE_DIRECTIONS = [
    SelectChoice("any", _l("Entrate e uscite")),
    SelectChoice("in", _l("Solo entrate")),
    SelectChoice("out", _l("Solo uscite")),
]
RULE_ACTIONS = [
    SelectChoice("book", _l("Registra sul conto indicato")),
    SelectChoice("campaign", _l("Proponi una donazione alla campagna indicata")),
    SelectChoice("loan", _l("Proponi un rimborso del prestito indicato")),
]


class RuleForm(FlaskForm):  # type: ignore[misc]
    """A rule of the account: conditions (all must hold), one action, its place."""

    form_key = key_field()
    name = StringField(_l("Nome della regola"), [_required, Length(max=200)])
    counterparty_iban = StringField(
        _l("IBAN della controparte"),
        [Optional(), Length(max=50)],
        render_kw={"autocapitalize": "characters", "spellcheck": "false"},
    )
    text_contains = StringField(_l("La descrizione contiene"), [Optional(), Length(max=200)])
    text_regex = StringField(
        _l("La descrizione corrisponde all'espressione regolare"),
        [Optional(), Length(max=200)],
        render_kw={"spellcheck": "false"},
    )
    amount_min = StringField(
        _l("Importo minimo"), [Optional(), Length(max=24)], render_kw={"inputmode": "decimal"}
    )
    amount_max = StringField(
        _l("Importo massimo"), [Optional(), Length(max=24)], render_kw={"inputmode": "decimal"}
    )
    direction = SelectField(_l("Direzione"), choices=RULE_DIRECTIONS, default="any")
    action = SelectField(_l("Azione"), choices=RULE_ACTIONS, default="book")
    account = SelectField(_l("Conto (per registrare)"), validators=[Optional()])
    narration = StringField(_l("Descrizione della registrazione"), [Optional(), Length(max=500)])
    campaign = SelectField(
        _l("Campagna (per proporre una donazione)"), coerce=_optional_int, validators=[Optional()]
    )
    loan = SelectField(
        _l("Prestito (per proporre un rimborso)"), coerce=_optional_int, validators=[Optional()]
    )
    position = IntegerField(
        _l("Posizione (facoltativa)"),
        [Optional(), NumberRange(min=1)],
        description=_l("1 è provata per prima; se vuota, la regola va in fondo."),
        render_kw={"inputmode": "numeric"},
    )
    submit = SubmitField(_l("Aggiungi la regola"))


class MoveRuleForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    position = HiddenField()


class DisableRuleForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()


# ------------------------------------------------------------------ the account's preset
DECIMAL_CHOICES = [
    SelectChoice("it", _l("Italiano (1.250,00)")),
    SelectChoice("en", _l("Inglese (1,250.00)")),
]
DELIMITER_CHOICES = [
    SelectChoice(";", _l("Punto e virgola (;)")),
    SelectChoice(",", _l("Virgola (,)")),
    SelectChoice("tab", _l("Tabulazione")),
    SelectChoice("|", _l("Barra verticale (|)")),
]


class PresetForm(FlaskForm):  # type: ignore[misc]
    """The columns of the account's CSV or XLSX export, named by their header text."""

    form_key = key_field()
    date_column = StringField(_l("Colonna della data contabile"), [_required, Length(max=100)])
    date_format = StringField(
        _l("Formato della data"),
        [_required, Length(max=32)],
        default="%d/%m/%Y",
        description=_l("Come strptime: %d/%m/%Y per 31/12/2026, %d.%m.%y per 31.12.26."),
        render_kw={"spellcheck": "false"},
    )
    value_date_column = StringField(
        _l("Colonna della data valuta (facoltativa)"), [Optional(), Length(max=100)]
    )
    amount_column = StringField(
        _l("Colonna dell'importo con segno"),
        [Optional(), Length(max=100)],
        description=_l("Oppure le due colonne qui sotto."),
    )
    debit_column = StringField(_l("Colonna degli addebiti"), [Optional(), Length(max=100)])
    credit_column = StringField(_l("Colonna degli accrediti"), [Optional(), Length(max=100)])
    text_columns = TextAreaField(
        _l("Colonne della descrizione"),
        [_required, Length(max=1000)],
        description=_l("Una per riga, nell'ordine in cui unirle."),
    )
    decimal = SelectField(_l("Separatore decimale"), choices=DECIMAL_CHOICES, default="it")
    skip_rows = IntegerField(
        _l("Righe prima dell'intestazione"),
        [Optional(), NumberRange(min=0, max=1000)],
        default=0,
        render_kw={"inputmode": "numeric"},
    )
    delimiter = SelectField(
        _l("Separatore delle colonne (CSV)"), choices=DELIMITER_CHOICES, default=";"
    )
    sheet = StringField(_l("Foglio (XLSX, facoltativo: il primo)"), [Optional(), Length(max=100)])
    submit = SubmitField(_l("Salva lo schema"))

    def settings(self) -> dict[str, object]:
        """The settings `set_account_preset` takes, as the CLI gives them."""

        def text(value: str | None) -> str | None:
            return (value or "").strip() or None

        delimiter = self.delimiter.data or ";"
        return {
            "date_column": text(self.date_column.data),
            "date_format": text(self.date_format.data),
            "value_date_column": text(self.value_date_column.data),
            "amount_column": text(self.amount_column.data),
            "debit_column": text(self.debit_column.data),
            "credit_column": text(self.credit_column.data),
            "text_columns": [
                t.strip() for t in (self.text_columns.data or "").splitlines() if t.strip()
            ],
            "decimal": self.decimal.data or "it",
            "skip_rows": self.skip_rows.data or 0,
            "delimiter": "\t" if delimiter == "tab" else delimiter,
            "sheet": text(self.sheet.data),
        }

    def fill(self, settings: dict[str, object]) -> None:
        """Show the account's current settings in the form."""
        for name in (
            "date_column",
            "date_format",
            "value_date_column",
            "amount_column",
            "debit_column",
            "credit_column",
            "decimal",
            "sheet",
        ):
            getattr(self, name).data = settings.get(name) or getattr(self, name).data
        self.text_columns.data = "\n".join(str(t) for t in settings.get("text_columns") or [])
        self.skip_rows.data = settings.get("skip_rows") or 0
        delimiter = settings.get("delimiter") or ";"
        self.delimiter.data = "tab" if delimiter == "\t" else delimiter
