"""The books' page form: a manual journal entry between two accounts (treasurers)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from web.forms import key_field

_required = DataRequired(message=_l("Campo obbligatorio."))


class EntryForm(FlaskForm):  # type: ignore[misc]
    """A manual journal entry between two accounts (treasurers)."""

    form_key = key_field()
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
