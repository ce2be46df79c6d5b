"""The organisation that runs the instance, as its settings name it (ORGANISATION_*).

A campaign created without naming its recipient is the settings'
organisation's: `default_recipient` reads it, and refuses settings whose
codice fiscale is missing or invalid (503, naming the setting), before any
use case runs. The use case finds it by its codice fiscale or registers it.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from ledger.campaigns.commands import Recipient
from ledger.core.errors import LedgerError
from ledger.people.errors import InvalidPersonError
from ledger.people.service import normalise_codice_fiscale


class OrganisationNotConfiguredError(LedgerError):
    """The organisation that runs the instance has no valid codice fiscale in the settings."""

    code = "organisation_not_configured"
    http_status = 503


def default_recipient() -> Recipient:
    """The organisation named in the settings (ORGANISATION_*), checked."""
    config = current_app.config
    raw = str(config.get("ORGANISATION_TAX_CODE") or "").strip()
    if not raw:
        raise OrganisationNotConfiguredError(
            _(
                "Manca il codice fiscale dell'ente che gestisce il registro: impostalo in "
                "LEDGER_ORGANISATION_TAX_CODE (11 cifre o 16 caratteri)."
            ),
            setting="LEDGER_ORGANISATION_TAX_CODE",
        )
    try:
        normalise_codice_fiscale(raw)
    except InvalidPersonError:
        raise OrganisationNotConfiguredError(
            _(
                "Il codice fiscale dell'ente in LEDGER_ORGANISATION_TAX_CODE non è valido: "
                "controlla le 11 cifre (o i 16 caratteri)."
            ),
            setting="LEDGER_ORGANISATION_TAX_CODE",
        ) from None
    return Recipient(
        name=str(config.get("ORGANISATION_NAME") or ""),
        tax_code=raw,
        qualification=str(config.get("ORGANISATION_QUALIFICATION") or ""),
    )
