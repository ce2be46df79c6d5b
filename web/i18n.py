"""Languages: Italian by default, English on request; amounts and dates per locale.

The language is the one the visitor chose with the switch (kept in the
session, and on the user for signed-in users), else Italian: the browser's
Accept-Language does not override the programme's language. Amounts keep the
ISO code after the number in both languages ("1.234,56 EUR", "1,234.56 EUR"),
which is how the books and statements print them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from flask import Flask, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

from ledger.core.clock import ROME
from ledger.core.money import CURRENCY_EXPONENTS
from ledger.people.passwords import MIN_PASSWORD_LENGTH
from web.extensions import babel

LANGUAGES = {"it": "Italiano", "en": "English"}
DEFAULT_LANGUAGE = "it"
SESSION_LANGUAGE = "lang"

ROLE_NAMES = {
    "donor": _l("Donatore"),
    "proponent": _l("Proponente"),
    "reviewer": _l("Revisore"),
    "treasurer": _l("Tesoriere"),
    "foundation_officer": _l("Referente di fondazione"),
    "admin": _l("Amministratore"),
    "project_staff": _l("Staff di progetto"),
    "partner": _l("Partner di progetto"),
}

# What an API token may do, as its owner reads it.
SCOPE_NAMES = {"read": _l("lettura"), "money": _l("denaro e modifiche")}

# Domain errors carry an Italian message (the domain knows no Flask); pages show
# these translations, keyed by the error's stable code and the field it names.
DOMAIN_MESSAGES = {
    ("invalid_person", "email"): _l(
        "L'indirizzo e-mail non è valido: scrivilo nella forma nome@dominio.it."
    ),
    ("invalid_person", "codice_fiscale"): _l(
        "Il codice fiscale non è valido: controlla i 16 caratteri (o le 11 cifre per un ente)."
    ),
    ("invalid_person", "full_name"): _l("Il nome è obbligatorio."),
    ("email_taken", "email"): _l(
        "Questo indirizzo e-mail è già registrato: accedi o reimposta la password."
    ),
    ("weak_password", "password"): _l(
        "La password deve avere almeno %(n)s caratteri.", n=MIN_PASSWORD_LENGTH
    ),
    ("wrong_password", "current_password"): _l("La password attuale non è corretta."),
    ("wrong_password", "password"): _l("La password non è quella scelta alla registrazione."),
    ("email_not_verified", ""): _l(
        "Conferma prima il tuo indirizzo e-mail: segui il link che ti abbiamo mandato."
    ),
    ("not_allowed", ""): _l(
        "Solo la persona stessa o la tesoreria possono correggere nome e codice fiscale."
    ),
    ("nothing_to_correct", ""): _l(
        "La ricevuta riporta già questi dati: non c'è nulla da correggere."
    ),
    ("invalid_fund", "effective_on"): _l("La data di accredito non può essere nel futuro."),
    ("invalid_loan", "borrower_email"): _l("Nessuna persona registrata con questa e-mail."),
    ("invalid_loan", "borrower"): _l("Indica il beneficiario."),
    ("invalid_donation", "donated_on"): _l("La data della donazione non può essere nel futuro."),
    ("invalid_donor", "donor_email"): _l("Per collegare un donatore serve la sua e-mail."),
    ("invalid_donor", "donor_name"): _l(
        "Questa e-mail non è registrata: indica anche nome e cognome del donatore."
    ),
    ("invalid_person", "donor_email"): _l(
        "L'indirizzo e-mail non è valido: scrivilo nella forma nome@dominio.it."
    ),
    ("invalid_person", "donor_codice_fiscale"): _l(
        "Il codice fiscale non è valido: controlla i 16 caratteri."
    ),
    # A form sent again with its key but other data (a page kept open and edited).
    ("idempotency_conflict", ""): _l(
        "Questo modulo era già stato inviato con altri dati: ricarica la pagina e riprova."
    ),
    ("invalid_totp_code", "code"): _l(
        "Il codice non è corretto o è scaduto: inserisci le 6 cifre che l'app mostra ora."
    ),
    # the administration pages (web/admin/)
    ("invalid_person", "roles"): _l("Ogni utente deve avere almeno un ruolo."),
    ("not_allowed", "user"): _l("Non puoi disattivare il tuo stesso account."),
    ("not_allowed", "roles"): _l(
        "Non puoi togliere a te stesso il ruolo di amministratore: lo fa un altro amministratore."
    ),
    ("user_not_found", "email"): _l("Nessun utente con questa e-mail."),
    ("role_missing", "email"): _l(
        "Questo utente non ha il ruolo di referente di fondazione: assegnaglielo prima."
    ),
    ("invalid_commitment", "name"): _l(
        "Il nome è obbligatorio (massimo 200 caratteri) e non deve essere già usato da "
        "un'altra fondazione."
    ),
    ("invalid_period", ""): _l(
        "Questo mese non si può ancora chiudere: si chiude un mese solo quando è finito."
    ),
    ("two_factor_required", "code"): _l(
        "Un token che muove denaro richiede l'autenticazione a due fattori: "
        "attivala prima dall'area personale."
    ),
    # the register of volunteers (web/projects/)
    ("volunteer_register", "person"): _l(
        "Questa persona è già iscritta al registro dei volontari: chiudi prima l'iscrizione aperta."
    ),
    ("volunteer_register", "enrolled_on"): _l(
        "I periodi di una persona non si sovrappongono: la nuova iscrizione inizia dopo "
        "l'ultimo giorno della precedente."
    ),
    ("invalid_project", "ended_on"): _l("La fine dell'iscrizione non può precedere il suo inizio."),
}


def error_text(code: str, field: str, message: str) -> str:
    """The page text of a domain error: its translation when known, else its message."""
    translated = DOMAIN_MESSAGES.get((code, field))
    return str(translated) if translated is not None else message


_DATE_FORMATS = {"it": "dd/MM/yyyy", "en": "d MMM yyyy"}
_DATETIME_FORMATS = {"it": "dd/MM/yyyy HH:mm", "en": "d MMM yyyy HH:mm"}


def select_locale() -> str:
    chosen = session.get(SESSION_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None else DEFAULT_LANGUAGE


def format_money(minor: int, currency: str) -> str:
    """`minor` units of `currency` in the current locale, ISO code after the number."""
    exponent = CURRENCY_EXPONENTS.get(currency, 2)
    value = Decimal(minor).scaleb(-exponent)
    pattern = "#,##0" + ("." + "0" * exponent if exponent else "")
    return f"{format_decimal(value, format=pattern, locale=current_language())} {currency}"


def format_day(value: date | None) -> str:
    if value is None:
        return ""
    language = current_language()
    return format_date(value, _DATE_FORMATS[language], locale=language)


def format_instant(value: datetime | None) -> str:
    """An aware timestamp shown in Italian time (Europe/Rome)."""
    if value is None:
        return ""
    language = current_language()
    return format_datetime(value, _DATETIME_FORMATS[language], tzinfo=ROME, locale=language)


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Europe/Rome")
    babel.init_app(app, locale_selector=select_locale)
    app.add_template_filter(format_money, "money")
    app.add_template_filter(format_day, "date_it")
    app.add_template_filter(format_instant, "datetime_it")
    app.add_template_filter(format_day, "day")
    app.add_template_filter(format_instant, "instant")
    app.jinja_env.globals["languages"] = LANGUAGES
    app.jinja_env.globals["role_names"] = ROLE_NAMES
    app.jinja_env.globals["scope_names"] = SCOPE_NAMES
    app.jinja_env.globals["current_language"] = current_language
