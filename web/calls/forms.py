"""Forms of the pages of calls for ideas (Flask-WTF: every form carries a CSRF token).

Questions of a call (`answer_<id>`) and criteria of its rubric (`score_<id>`)
vary per call, so the pages read those fields from the request themselves.
`attach` puts a domain refusal on the field it names, in the page's language.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
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

from ledger.core.errors import LedgerError
from web.calls.texts import error_message
from web.forms import key_field

_required = DataRequired(message=_l("Campo obbligatorio."))
_amount_help = _l("In euro, con la virgola o il punto per i centesimi: 12,50.")


class ApplicationForm(FlaskForm):  # type: ignore[misc]
    """An idea for a call; questions are added per call (`answer_<id>` fields)."""

    form_key = key_field()
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
    form_key = key_field()
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
    form_key = key_field()
    amount = StringField(
        _l("Importo restituito"),
        [_required, Length(max=24)],
        description=_amount_help,
        render_kw={"inputmode": "decimal"},
    )


def attach(form: FlaskForm, exc: LedgerError) -> None:
    """Attach a domain refusal to the form field it names, or to the form as a whole."""
    name = str(exc.details.get("field", ""))
    target = getattr(form, name, None) if name else None
    text = error_message(exc)
    if target is not None and hasattr(target, "errors") and not callable(target.errors):
        target.errors = [*list(target.errors), text]
    else:
        form.form_errors.append(text)
