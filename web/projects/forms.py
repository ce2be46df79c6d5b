"""The forms of the projects pages and how their text becomes the use cases' arguments.

Parsing stays here (amounts in the Italian way, budget rows, allocation rows);
what an act requires is checked by `ledger.projects.commands`, whose refusal
`web.forms.field_error` puts next to the field it names.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ledger.projects.files import MAX_BYTES
from web.amounts import parse_amount_text
from web.forms import key_field

_required = DataRequired(message=_l("Campo obbligatorio."))
_amount_help = _l("In euro, con la virgola per i centesimi: 1500 o 12,50.")

ROWS = 8
CATEGORIES = [
    SelectChoice("personnel", _l("Personale")),
    SelectChoice("services", _l("Servizi esterni")),
    SelectChoice("goods", _l("Beni e attrezzature")),
    SelectChoice("works", _l("Lavori")),
    SelectChoice("running", _l("Costi di funzionamento")),
    SelectChoice("travel", _l("Viaggi")),
    SelectChoice("beneficiaries", _l("Sostegno ai beneficiari")),
    SelectChoice("overheads", _l("Costi generali")),
]
SOURCES = [
    SelectChoice("grant", _l("Contributo del finanziatore")),
    SelectChoice("partner", _l("Cofinanziamento di un partner")),
    SelectChoice("fundraising", _l("Raccolta fondi e crowdfunding")),
    SelectChoice("own", _l("Fondi propri")),
    SelectChoice("public", _l("Fondi pubblici")),
    SelectChoice("volunteer", _l("Volontariato valorizzato")),
    SelectChoice("in_kind", _l("Beni e servizi in natura")),
]
UPLOAD_HELP = _l("PDF, JPEG o PNG, al massimo %(mb)d MB: anche una foto dal telefono.")


def upload_help() -> str:
    return str(UPLOAD_HELP) % {"mb": MAX_BYTES // (1024 * 1024)}


class BudgetRow(Form):  # type: ignore[misc]
    """One amount of a line from one source (rows with the same code make one line)."""

    code = StringField(_l("Codice voce"), [Optional(), Length(max=16)])
    category = SelectField(_l("Categoria"), choices=CATEGORIES, validators=[Optional()])
    title = StringField(_l("Descrizione"), [Optional(), Length(max=200)])
    source = SelectField(_l("Fonte"), choices=SOURCES, validators=[Optional()])
    ref = SelectField(_l("Finanziatore o partner"), validators=[Optional()], validate_choice=False)
    amount = StringField(
        _l("Importo"), [Optional(), Length(max=24)], render_kw={"inputmode": "decimal"}
    )


class BudgetForm(FlaskForm):  # type: ignore[misc]
    """A budget version to propose: repeated rows, or the JSON file the CLI takes."""

    form_key = key_field()
    rows = FieldList(FormField(BudgetRow), min_entries=ROWS, max_entries=40)
    budget_file = FileField(
        _l("Oppure il file JSON del budget"),
        description=_l(
            'Lo stesso file di "ledger projects budget-propose": una lista di voci con '
            "code, category, title e amounts (source, ref, amount)."
        ),
    )
    note = StringField(_l("Nota (motivo della rimodulazione)"), [Optional(), Length(max=500)])
    submit = SubmitField(_l("Proponi la versione"))


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField(_l("Conferma"))


class AllocationRow(Form):  # type: ignore[misc]
    line = SelectField(_l("Voce"), validators=[Optional()], validate_choice=False)
    source = SelectField(_l("Fonte"), validators=[Optional()], validate_choice=False)
    amount = StringField(
        _l("Importo imputato"), [Optional(), Length(max=24)], render_kw={"inputmode": "decimal"}
    )


class ExpenseForm(FlaskForm):  # type: ignore[misc]
    """An expense document, its file, its proof of payment and its allocation rows."""

    form_key = key_field()
    kind = SelectField(
        _l("Tipo di documento"),
        choices=[
            SelectChoice("invoice", _l("Fattura")),
            SelectChoice("receipt", _l("Ricevuta o scontrino")),
            SelectChoice("payslip", _l("Busta paga")),
            SelectChoice("timesheet", _l("Foglio ore")),
        ],
        default="invoice",
    )
    supplier = SelectField(_l("Fornitore"), [_required], coerce=int, validate_choice=False)
    number = StringField(_l("Numero del documento"), [_required, Length(max=64)])
    issued_on = DateField(_l("Data del documento"), [_required])
    net = StringField(
        _l("Imponibile"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    vat = StringField(
        _l("IVA"), [Optional(), Length(max=24)], render_kw={"inputmode": "decimal"}, default="0"
    )
    vat_recoverable = BooleanField(
        _l("IVA detraibile (non è un costo ammissibile)"),
    )
    paid_by = SelectField(
        _l("Pagato"),
        choices=[
            SelectChoice("bank", _l("Dalla banca del progetto")),
            SelectChoice("payable", _l("Da pagare (debito verso il fornitore)")),
            SelectChoice("partner", _l("Da un partner, a suo carico")),
        ],
        default="bank",
    )
    partner = SelectField(
        _l("Partner che ha sostenuto il costo"), validators=[Optional()], validate_choice=False
    )
    file = FileField(
        _l("File del documento"),
        render_kw={"accept": "image/*,application/pdf", "capture": "environment"},
    )
    bank_line = IntegerField(
        _l("Quietanza: riga bancaria riconciliata (n.)"),
        [Optional(), NumberRange(min=1)],
    )
    entry = IntegerField(
        _l("Quietanza: registrazione del giornale (n.)"), [Optional(), NumberRange(min=1)]
    )
    allocations = FieldList(FormField(AllocationRow), min_entries=3, max_entries=20)
    submit = SubmitField(_l("Registra la spesa"))


class GrantForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    funder = SelectField(_l("Finanziatore"), [_required], coerce=int, validate_choice=False)
    kind = SelectField(
        _l("Tipo"),
        choices=[
            SelectChoice("grant_advance", _l("Anticipo")),
            SelectChoice("grant_tranche", _l("Tranche")),
        ],
        default="grant_advance",
    )
    amount = StringField(
        _l("Importo ricevuto"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    received_on = DateField(_l("Ricevuto il"), [_required])
    submit = SubmitField(_l("Registra l'entrata"))


class ContributionForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    partner = SelectField(_l("Partner"), [_required], coerce=int, validate_choice=False)
    amount = StringField(
        _l("Contributo in denaro ricevuto"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    received_on = DateField(_l("Ricevuto il"), [_required])
    submit = SubmitField(_l("Registra il contributo"))


class CampaignForm(FlaskForm):  # type: ignore[misc]
    campaign = IntegerField(_l("Campagna (n.)"), [_required, NumberRange(min=1)])
    submit = SubmitField(_l("Collega la campagna"))


class InKindForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    description = StringField(_l("Bene o servizio ricevuto"), [_required, Length(max=200)])
    value = StringField(
        _l("Valore equo"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    received_on = DateField(_l("Ricevuto il"), [_required])
    organisation = SelectField(_l("Da"), validators=[Optional()], validate_choice=False)
    submit = SubmitField(_l("Registra in natura"))


class HoursForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    # Only the people in the register of volunteers are offered (and accepted).
    person = SelectField(
        _l("Volontario iscritto al registro"),
        [_required],
        coerce=int,
        description=_l("Le ore contano solo nei giorni in cui la persona è iscritta."),
    )
    activity = StringField(_l("Attività"), [_required, Length(max=200)])
    role = StringField(_l("Ruolo (come nella tabella delle tariffe)"), [_required, Length(max=64)])
    hours = IntegerField(_l("Ore"), [Optional(), NumberRange(min=0, max=24)], default=0)
    minutes = IntegerField(_l("Minuti"), [Optional(), NumberRange(min=0, max=59)], default=0)
    done_on = DateField(_l("Giorno"), [_required])
    submit = SubmitField(_l("Registra le ore"))


class EnrolForm(FlaskForm):  # type: ignore[misc]
    """A person enrolled in the register of volunteers from a day (its fields' ids differ
    from the hours form's, which is on the same page)."""

    form_key = key_field("enrol-form_key")
    person = IntegerField(
        _l("Persona (n. nell'anagrafica)"),
        [_required, NumberRange(min=1)],
        id="enrol-person",
        render_kw={"inputmode": "numeric"},
    )
    enrolled_on = DateField(_l("Iscritta dal"), [_required], id="enrol-enrolled_on")
    activity = StringField(
        _l("Servizio svolto"), [Optional(), Length(max=200)], id="enrol-activity"
    )
    submit = SubmitField(_l("Iscrivi al registro"), id="enrol-submit")


class EndForm(FlaskForm):  # type: ignore[misc]
    """The last day of an enrolment in the register of volunteers."""

    ended_on = DateField(_l("Ultimo giorno"), [_required])
    submit = SubmitField(_l("Chiudi l'iscrizione"))


class RateForm(FlaskForm):  # type: ignore[misc]
    role = StringField(_l("Ruolo"), [_required, Length(max=64)])
    hourly = StringField(
        _l("Tariffa oraria"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )
    valid_from = DateField(_l("In vigore dal"), [_required])
    basis = StringField(
        _l("Riferimento (contratto collettivo, livello)"), [Optional(), Length(max=200)]
    )
    submit = SubmitField(_l("Aggiungi la tariffa"))


class _ReportMeta:
    csrf = False


# The query names of the report's address are those of the API and the brief:
# ?funder=&from=&to=&format= ("from" is a Python keyword, hence the class made by type()).
ReportForm: Any = type(
    "ReportForm",
    (FlaskForm,),
    {
        "__doc__": "The report's funder, period and format, asked with GET (a download "
        "changes nothing).",
        "Meta": _ReportMeta,
        "funder": SelectField(_l("Finanziatore"), [_required], coerce=int, validate_choice=False),
        "from": DateField(_l("Dal"), [_required]),
        "to": DateField(_l("Al"), [_required]),
        "format": SelectField(
            _l("Formato"),
            choices=[
                SelectChoice("pdf", "PDF"),
                SelectChoice("csv", "CSV"),
                SelectChoice("xlsx", "XLSX"),
                SelectChoice("json", "JSON"),
            ],
            default="pdf",
        ),
        "submit": SubmitField(_l("Scarica il rendiconto")),
    },
)
REPORT_FORMATS = ("pdf", "csv", "xlsx", "json")


class RowError(Exception):
    """A row of a form that cannot be read: the field to show it on and the message."""

    def __init__(self, field: Any, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def amount_of(field: Any, currency: str) -> int:
    """The minor units typed in `field` (a LedgerError, shown on the field, otherwise)."""
    return parse_amount_text(field.data or "", currency).minor


def optional_amount_of(field: Any, currency: str) -> int:
    """Like `amount_of`, with nothing or a zero ("0", "0,00") read as 0."""
    text = (field.data or "").strip()
    if not text or set(text) <= set("0,. "):
        return 0
    return amount_of(field, currency)


def choices(pairs: Any) -> list[SelectChoice]:
    """Select choices from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def budget_file_rows(content: bytes) -> list[dict[str, Any]]:
    """The lines of an uploaded budget JSON file (ValueError when it is not one)."""
    raw = json.loads(content.decode("utf-8"))
    if not isinstance(raw, list) or not all(isinstance(line, dict) for line in raw):
        raise ValueError("not a list of lines")
    return raw
