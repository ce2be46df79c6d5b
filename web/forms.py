"""Forms of the pages (Flask-WTF: every form carries a CSRF token).

Labels are lazily translated, so one form class serves both languages.
Validation here is about shape (required, lengths, equal passwords); the
domain services validate meaning (a real codice fiscale, an unused e-mail)
and their errors are attached to the field they name.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    Form,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from ledger.core.errors import LedgerError
from web.i18n import error_text

_required = DataRequired(message=_l("Campo obbligatorio."))


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A form with no fields but the CSRF token (sign-out, language switch)."""

    lang = HiddenField()


class EntryForm(FlaskForm):  # type: ignore[misc]
    """A manual journal entry between two accounts (treasurers)."""

    form_key = HiddenField()
    debit_account = SelectField(_l("Conto in dare (riceve)"), [_required])
    credit_account = SelectField(_l("Conto in avere (cede)"), [_required])
    amount = StringField(
        _l("Importo"),
        [_required, Length(max=24)],
        description=_l("In euro, con la virgola o il punto per i centesimi: 12,50."),
        render_kw={"inputmode": "decimal"},
    )
    effective_on = DateField(_l("Data di competenza"), [Optional()])
    narration = TextAreaField(
        _l("Descrizione"),
        [Length(max=500)],
        description=_l("Niente nomi, e-mail o codici fiscali: il giornale non si cancella."),
    )
    submit = SubmitField(_l("Registra"))


def field_error(form: Form, exc: LedgerError) -> None:
    """Attach a domain error to the form field it names, or to the form as a whole."""
    name = str(exc.details.get("field", ""))
    text = error_text(exc.code, name, exc.message)
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors), text]
    else:
        form.form_errors.append(text)
