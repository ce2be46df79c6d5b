"""Forms of the administration pages (Flask-WTF: every form carries a CSRF token).

Labels are lazily translated. Shape only (required, lengths); the use cases
validate meaning and their refusals are attached by `web.forms.field_error`.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from ledger.people.models import ROLES
from web.forms import key_field
from web.i18n import ROLE_NAMES

_required = DataRequired(message=_l("Campo obbligatorio."))


class _Checkboxes(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class RolesForm(FlaskForm):  # type: ignore[misc]
    """The roles a user should have from now on (at least one)."""

    roles = _Checkboxes(
        _l("Ruoli"),
        choices=[SelectChoice(role, ROLE_NAMES[role]) for role in ROLES],
        validate_choice=True,
    )
    submit = SubmitField(_l("Salva i ruoli"))


class DeactivateForm(FlaskForm):  # type: ignore[misc]
    confirm = BooleanField(
        _l("Confermo: questa persona non potrà più accedere e i suoi token saranno revocati"),
        [DataRequired(message=_l("Spunta la conferma per disattivare l'utente."))],
    )
    submit = SubmitField(_l("Disattiva l'utente"))


class ReactivateForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField(_l("Riattiva l'utente"))


class FoundationForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    name = StringField(_l("Nome della fondazione"), [_required, Length(max=200)])
    tax_code = StringField(_l("Codice fiscale (facoltativo)"), [Optional(), Length(max=16)])
    submit = SubmitField(_l("Registra la fondazione"))


class OfficerForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    email = EmailField(
        _l("E-mail del referente"),
        [_required, Length(max=254)],
        description=_l("Un utente che ha già il ruolo di referente di fondazione."),
    )
    submit = SubmitField(_l("Aggiungi il referente"))


class ClosePeriodForm(FlaskForm):  # type: ignore[misc]
    form_key = key_field()
    period = StringField(
        _l("Mese da chiudere (AAAA-MM)"),
        [
            _required,
            Regexp(r"^\d{4}-\d{2}$", message=_l("Scrivi il mese nella forma 2026-03.")),
        ],
        description=_l(
            "Dopo la chiusura nulla può essere registrato con una data fino all'ultimo "
            "giorno del mese."
        ),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    confirm = BooleanField(
        _l("Confermo la chiusura del mese"),
        [DataRequired(message=_l("Spunta la conferma per chiudere il mese."))],
    )
    submit = SubmitField(_l("Chiudi il mese"))


class VerifyForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField(_l("Verifica i conti"))
