"""The organisation that runs the instance, as its settings name it (ORGANISATION_*).

`transfer_account` is where donors give by bank transfer: the IBAN
(LEDGER_ORGANISATION_IBAN), the BIC (LEDGER_ORGANISATION_BIC, optional) and the
beneficiary's name (LEDGER_ORGANISATION_NAME); `check_transfer_settings`
refuses to start with an IBAN or BIC that python-stdnum does not accept.

A campaign created without naming its recipient is the settings'
organisation's: `default_recipient` reads it, and refuses settings whose
codice fiscale is missing or invalid (503, naming the setting), before any
use case runs. The use case finds it by its codice fiscale or registers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from flask_babel import gettext as _
from stdnum import bic as bic_numbers
from stdnum import iban as iban_numbers
from stdnum.exceptions import ValidationError

from ledger.campaigns.commands import Recipient
from ledger.core.errors import LedgerError
from ledger.people.errors import InvalidPersonError
from ledger.people.service import normalise_codice_fiscale
from web.config import ConfigError


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


@dataclass(frozen=True, slots=True)
class TransferAccount:
    """Where donors give by bank transfer: the beneficiary, its IBAN (compact) and BIC."""

    beneficiary: str
    iban: str
    bic: str | None


def _transfer_account(config: Any) -> TransferAccount | None:
    raw_iban = str(config.get("ORGANISATION_IBAN") or "").strip()
    if not raw_iban:
        return None
    try:
        iban = str(iban_numbers.validate(raw_iban))
    except ValidationError:
        raise ConfigError(
            f"LEDGER_ORGANISATION_IBAN is not a valid IBAN: {raw_iban!r} "
            "(check its country, check digits and length)"
        ) from None
    raw_bic = str(config.get("ORGANISATION_BIC") or "").strip()
    bic = None
    if raw_bic:
        try:
            bic = str(bic_numbers.validate(raw_bic))
        except ValidationError:
            raise ConfigError(
                f"LEDGER_ORGANISATION_BIC is not a valid BIC: {raw_bic!r} (8 or 11 characters)"
            ) from None
    name = " ".join(str(config.get("ORGANISATION_NAME") or "").split())
    if not name:
        raise ConfigError("LEDGER_ORGANISATION_NAME is empty: a transfer needs a beneficiary")
    return TransferAccount(beneficiary=name, iban=iban, bic=bic)


def check_transfer_settings(app: Flask) -> None:
    """Refuse to start with an IBAN or a BIC that is not valid (ConfigError)."""
    _transfer_account(app.config)


def transfer_account() -> TransferAccount | None:
    """The organisation's account for gifts by transfer, or None when no IBAN is set."""
    return _transfer_account(current_app.config)
