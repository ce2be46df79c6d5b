"""The words of the grants pages: money states, grant log events, kinds and ratios.

The four functions are the templates' globals (`pages` registers them on the
`grants` blueprint for the whole app, so the campaign page uses them too).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from babel.numbers import format_decimal
from flask_babel import gettext as _

from web.i18n import current_language

STATE_TEXT: dict[str, Callable[[], str]] = {
    "pledged": lambda: _("Promesso, non riservato"),
    "reserved": lambda: _("Riservato"),
    "earned": lambda: _("Maturato"),
    "released": lambda: _("Svincolato"),
    "disbursed": lambda: _("Erogato"),
    "clawback_due": lambda: _("Da restituire alla fondazione"),
}
EVENT_TEXT: dict[str, Callable[[], str]] = {
    "pledged": lambda: _("Impegno assunto"),
    "reserved": lambda: _("Riservato"),
    "earned": lambda: _("Maturato"),
    "released": lambda: _("Svincolato"),
    "disbursed": lambda: _("Erogazione ricevuta"),
    "forfeited": lambda: _("Decaduto (tornato al fondo)"),
    "clawback": lambda: _("Recuperato (tornato al fondo)"),
    "clawback_due": lambda: _("Da restituire (già erogato)"),
    "clawback_kept": lambda: _("Rimborso senza recupero (politica: mantieni)"),
    "clawback_repaid": lambda: _("Restituito alla fondazione"),
    "cancelled": lambda: _("Impegno annullato"),
}
STATES_SHOWN = ("pledged", "reserved", "earned", "released", "disbursed", "clawback_due")


def grant_state_name(state: str) -> str:
    """A money state's name in the page's language."""
    return STATE_TEXT[state]() if state in STATE_TEXT else state


def grant_event_name(kind: str) -> str:
    """A grant log event's name in the page's language."""
    return EVENT_TEXT[kind]() if kind in EVENT_TEXT else kind


def grant_kind_name(kind: str) -> str:
    """A commitment kind's name in the page's language."""
    return _("Raddoppio in proporzione") if kind == "ratio" else _("Integrazione a soglia")


def grant_ratio(text: str | None) -> str:
    """A ratio ("2", "0.5") as the page's language writes a number ("0,5" in Italian)."""
    if not text:
        return ""
    return format_decimal(Decimal(text), format="#,##0.##########", locale=current_language())


TEMPLATE_GLOBALS: tuple[Callable[..., str], ...] = (
    grant_state_name,
    grant_event_name,
    grant_kind_name,
    grant_ratio,
)
