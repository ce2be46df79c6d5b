"""Amounts typed by people into the pages ("12,50", "1.234,56"), parsed without floats.

Every money form of every area reads its amount through `parse_amount_text`
(`web.api.inputs.parse_money` is the API's strict counterpart: decimal strings only).
"""

from __future__ import annotations

import re

from flask_babel import gettext as _

from ledger.core.errors import InvalidAmountError
from ledger.core.money import Money
from web.errors import InvalidInputError

_ITALIAN_AMOUNT = re.compile(r"^\d{1,3}(\.\d{3})+(,\d+)?$")


def parse_amount_text(text: str, currency: str) -> Money:
    """A positive amount typed by a person: "12,50", "12.50" or "1.234,56".

    A comma is the decimal separator; a dot is one too unless it groups
    thousands ("1.234,56"). Floats never appear: the text goes to Money.parse.
    """
    value = "".join(text.split())
    if _ITALIAN_AMOUNT.match(value):
        value = value.replace(".", "")
    value = value.replace(",", ".")
    try:
        money = Money.parse(value, currency)
    except InvalidAmountError:
        raise InvalidInputError(
            _("Importo non valido: usa al massimo due decimali, per esempio 12,50."),
            field="amount",
        ) from None
    if money.minor <= 0:
        raise InvalidAmountError(_("L'importo deve essere maggiore di zero."), field="amount")
    return money
