"""Forms of signing in and of the personal area (Flask-WTF: every form carries a CSRF token).

Labels are lazily translated, so one form class serves both languages.
Validation here is about shape (required, lengths, equal passwords); the use
cases of `ledger.people` validate meaning (a real codice fiscale, an unused
e-mail) and their errors are attached to the field they name.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, NumberRange, Optional

from ledger.people.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from ledger.people.service import MAX_TOKEN_DAYS

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


def link_token_field() -> HiddenField:
    """The token of an e-mailed link, put here by web/static/link-token.js from the
    link's fragment (so it never travels in a URL) and POSTed with the form."""
    return HiddenField(id="link-token", validators=[Length(max=500)])


class ResetForm(FlaskForm):  # type: ignore[misc]
    token = link_token_field()
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


# The scopes a token may have, as the form offers them (value: the scopes, space-separated).
TOKEN_SCOPE_CHOICES = {"read": ("read",), "money read": ("money", "read"), "money": ("money",)}


class TokenForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        _l("A cosa serve"),
        [_required, Length(max=100)],
        description=_l("Per riconoscerlo nell'elenco, ad esempio «esportazione notturna»."),
    )
    scopes = RadioField(
        _l("Che cosa può fare"),
        choices=[
            SelectChoice("read", _l("Solo leggere")),
            SelectChoice("money read", _l("Leggere, muovere denaro e modificare dati")),
            SelectChoice("money", _l("Solo muovere denaro e modificare dati")),
        ],
        default="read",
        validators=[_required],
    )
    days = IntegerField(
        _l("Validità (giorni)"),
        [_required, NumberRange(min=1, max=MAX_TOKEN_DAYS)],
        description=_l("Da 1 a %(n)s giorni; poi il token smette di funzionare.", n=MAX_TOKEN_DAYS),
    )
    code = StringField(
        _l("Codice a 6 cifre"),
        [Optional(), Length(min=6, max=7)],
        description=_l(
            "Solo per un token che muove denaro: le 6 cifre che l'app di autenticazione mostra ora."
        ),
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField(_l("Crea il token"))


class LinkRequestForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(_l("E-mail"), [_required, Length(max=254)])
    submit = SubmitField(_l("Mandami il link di accesso"))


class LinkSignInForm(FlaskForm):  # type: ignore[misc]
    token = link_token_field()
    submit = SubmitField(_l("Accedi"))


class ConfirmRegistrationForm(FlaskForm):  # type: ignore[misc]
    token = link_token_field()
    password = PasswordField(
        _l("La password che hai scelto"), [_required, Length(max=MAX_PASSWORD_LENGTH)]
    )
    submit = SubmitField(_l("Attiva l'account"))


class ConfirmEmailForm(FlaskForm):  # type: ignore[misc]
    """The confirmation of an account's address: the token of its mailed link."""

    token = link_token_field()


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


class EraseForm(FlaskForm):  # type: ignore[misc]
    """An admin erases a person: the TOTP code of now, and an explicit confirmation."""

    confirm = BooleanField(
        _l("Ho capito: la cancellazione non si può annullare."),
        [DataRequired(message=_l("Conferma la cancellazione."))],
    )
    code = StringField(
        _l("Codice a 6 cifre"),
        [_required, Length(min=6, max=7)],
        description=_l("Le 6 cifre che l'app di autenticazione mostra ora."),
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"},
    )
    submit = SubmitField(_l("Cancella i dati della persona"))
