"""Forms of signing in and of the personal area (Flask-WTF: every form carries a CSRF token).

Labels are lazily translated, so one form class serves both languages.
Validation here is about shape (required, lengths, equal passwords); the use
cases of `ledger.people` validate meaning (a real codice fiscale, an unused
e-mail) and their errors are attached to the field they name.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from ledger.people.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

_required = DataRequired(message=_l("Campo obbligatorio."))
_password_length = Length(
    min=MIN_PASSWORD_LENGTH,
    max=MAX_PASSWORD_LENGTH,
    message=_l("La password deve avere almeno %(n)s caratteri.", n=MIN_PASSWORD_LENGTH),
)


class RegisterForm(FlaskForm):  # type: ignore[misc]
    full_name = StringField(_l("Nome e cognome"), [_required, Length(max=200)])
    email = EmailField(_l("E-mail"), [_required, Length(max=254)])
    codice_fiscale = StringField(
        _l("Codice fiscale (facoltativo)"),
        [Optional(), Length(max=20)],
        description=_l("Serve per le ricevute delle donazioni detraibili."),
    )
    password = PasswordField(
        _l("Password"),
        [_required, _password_length],
        description=_l("Almeno %(n)s caratteri.", n=MIN_PASSWORD_LENGTH),
    )
    password_confirm = PasswordField(
        _l("Conferma la password"),
        [_required, EqualTo("password", message=_l("Le due password non coincidono."))],
    )
    role = RadioField(
        _l("Ruolo"),
        choices=[
            SelectChoice("donor", _l("Donatore")),
            SelectChoice("proponent", _l("Proponente")),
        ],
        default="donor",
        validators=[_required],
    )
    submit = SubmitField(_l("Crea l'account"))


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("E-mail"), [_required, Length(max=254)])
    password = PasswordField(_l("Password"), [_required, Length(max=MAX_PASSWORD_LENGTH)])
    submit = SubmitField(_l("Accedi"))


class CodeForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        _l("Codice a 6 cifre"),
        [_required, Length(min=6, max=7)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField(_l("Verifica"))


class EnrolForm(CodeForm):
    submit = SubmitField(_l("Attiva"))


class PasswordChangeForm(FlaskForm):  # type: ignore[misc]
    current_password = PasswordField(_l("Password attuale"), [_required])
    new_password = PasswordField(
        _l("Nuova password"),
        [_required, _password_length],
        description=_l("Almeno %(n)s caratteri.", n=MIN_PASSWORD_LENGTH),
    )
    new_password_confirm = PasswordField(
        _l("Conferma la nuova password"),
        [_required, EqualTo("new_password", message=_l("Le due password non coincidono."))],
    )
    submit = SubmitField(_l("Cambia password"))


class ResetRequestForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("E-mail"), [_required, Length(max=254)])
    submit = SubmitField(_l("Invia il link"))


class ResetForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("Nuova password"),
        [_required, _password_length],
        description=_l("Almeno %(n)s caratteri.", n=MIN_PASSWORD_LENGTH),
    )
    password_confirm = PasswordField(
        _l("Conferma la nuova password"),
        [_required, EqualTo("password", message=_l("Le due password non coincidono."))],
    )
    submit = SubmitField(_l("Imposta la password"))


class ConfirmRegistrationForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        _l("La password che hai scelto"), [_required, Length(max=MAX_PASSWORD_LENGTH)]
    )
    submit = SubmitField(_l("Attiva l'account"))


class IdentityForm(FlaskForm):  # type: ignore[misc]
    """A person's name and codice fiscale, corrected (receipts issued with the old ones
    are voided and issued again)."""

    full_name = StringField(_l("Nome e cognome"), [_required, Length(max=200)])
    codice_fiscale = StringField(
        _l("Codice fiscale (facoltativo)"),
        [Optional(), Length(max=20)],
        description=_l("Vuoto: il codice fiscale viene tolto."),
    )
    submit = SubmitField(_l("Correggi i dati"))
