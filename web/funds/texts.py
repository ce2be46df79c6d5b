"""Labels the fund and loan templates show: a fund's kind, a loan's status, a percentage."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _


def fund_kind(kind: str) -> str:
    """The reader's name for a fund kind ("revolving", "microgrant")."""
    labels = {"revolving": _("Fondo rotativo"), "microgrant": _("Microcontributi")}
    return labels.get(kind, kind)


def loan_status(status: str) -> str:
    """The reader's name for a loan status."""
    labels = {
        "approved": _("Approvato, da erogare"),
        "disbursed": _("In corso"),
        "repaid": _("Estinto"),
        "written_off": _("Stralciato"),
        "cancelled": _("Annullato"),
    }
    return labels.get(status, status)


def percent(value: Decimal) -> str:
    """A fraction as a percentage with two decimals, Italian style ("4,00%")."""
    return f"{(value * 100).quantize(Decimal('0.01'))}".replace(".", ",") + "%"
