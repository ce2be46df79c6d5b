"""The organisation's settings, read-only: the product has no settings store.

What the organisation is and how the server behaves is configured by `LEDGER_*`
variables (web/config.py) and the organisations registered for receipts
(`ledger campaigns`' `register_organisation`); this page shows both as they
are in force, never a secret (only whether one is set) nor the database's
address (only its kind).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from sqlalchemy.engine import make_url

from ledger.campaigns.queries import organisations
from web import views
from web.access import allow
from web.admin.common import ADMIN, bp

# Settings shown as they are (none of them a secret), with what each one means.
SHOWN = (
    ("ORGANISATION_NAME", _l("Nome dell'ente")),
    ("ORGANISATION_TAX_CODE", _l("Codice fiscale dell'ente")),
    ("ORGANISATION_QUALIFICATION", _l("Qualifica dell'ente")),
    ("ORGANISATION_IBAN", _l("IBAN per i bonifici")),
    ("ORGANISATION_BIC", _l("BIC")),
    ("BASE_URL", _l("Indirizzo pubblico del sito")),
    ("MAIL_SENDER", _l("Invio della posta")),
    ("MAIL_FROM", _l("Mittente della posta")),
    ("API_TOKEN_DAYS", _l("Validità predefinita dei token (giorni)")),
    ("DONATION_MIN_MINOR", _l("Donazione online minima (centesimi)")),
    ("DONATION_MAX_MINOR", _l("Donazione online massima (centesimi)")),
    ("OFFLINE_DONATION_MAX_MINOR", _l("Donazione registrata a mano massima (centesimi)")),
    ("SESSION_ABSOLUTE_LIFETIME", _l("Durata massima di un accesso (secondi)")),
    ("BANK_UPLOAD_MAX_BYTES", _l("Dimensione massima di un estratto conto (byte)")),
)
# Secrets: only whether they are set.
SECRETS = (
    ("STRIPE_SECRET_KEY", _l("Chiave segreta di Stripe")),
    ("STRIPE_WEBHOOK_SECRET", _l("Segreto dei webhook di Stripe")),
    ("TOTP_KEY", _l("Chiave che cifra i segreti dei codici a due fattori")),
)


def _database_kind(url: Any) -> str:
    try:
        return make_url(str(url)).get_backend_name()
    except Exception:
        return "?"


@bp.get("/impostazioni")
@allow(ADMIN, two_factor=True)
def settings() -> ResponseReturnValue:
    """The organisation and the server's settings in force, read-only."""
    config = current_app.config
    rows = [(label, config.get(name)) for name, label in SHOWN]
    secrets = [(label, bool(config.get(name))) for name, label in SECRETS]
    orgs = views.read_once(organisations)
    return render_template(
        "admin/settings.html",
        rows=rows,
        secrets=secrets,
        organisations=orgs,
        database=_database_kind(config.get("DATABASE_URL")),
    )
