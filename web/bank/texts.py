"""What the bank pages say: a line's status and an allocation's kind in words, and the
refusals of an import in the page's language (the domain's messages are English)."""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _

from ledger.core.errors import LedgerError

STATUS_TEXT: dict[str, Callable[[], str]] = {
    "unexplained": lambda: _("da spiegare"),
    "matched": lambda: _("abbinato"),
    "booked": lambda: _("registrato"),
    "ignored": lambda: _("ignorato"),
}
KIND_TEXT: dict[str, Callable[[], str]] = {
    "gift": lambda: _("donazione"),
    "repayment": lambda: _("rimborso di prestito"),
    "entry": lambda: _("registrazione"),
    "payout": lambda: _("versamento Stripe"),
    "booked": lambda: _("registrato"),
    "ignored": lambda: _("ignorato"),
}


def line_status(status: str) -> str:
    """A line's status in words."""
    return STATUS_TEXT[status]() if status in STATUS_TEXT else status


def allocation_kind(kind: str) -> str:
    """What explains part of a line, in words."""
    return KIND_TEXT[kind]() if kind in KIND_TEXT else kind


TEMPLATE_GLOBALS = (line_status, allocation_kind)


def import_error(exc: LedgerError) -> str:
    """Why a file was refused, in the page's language; figures come from the refusal."""
    details = exc.details
    if exc.code == "statement_unbalanced":
        return _(
            "L'estratto non quadra: saldo iniziale più movimenti differisce dal saldo finale "
            "di %(difference)s. Non è stato importato nulla.",
            difference=details.get("difference", ""),
        )
    if exc.code == "statement_discontinuous":
        return _(
            "L'estratto non continua il precedente: il saldo iniziale si discosta di "
            "%(difference)s dal saldo finale già importato. Non è stato importato nulla.",
            difference=details.get("difference", ""),
        )
    if exc.code == "statement_wrong_account":
        return _(
            "Il file è l'estratto di un altro conto (%(ibans)s). Non è stato importato nulla.",
            ibans=", ".join(str(i) for i in details.get("file_ibans", [])),
        )
    if exc.code == "statement_wrong_currency":
        return _(
            "Il file è in %(file)s, il conto in %(account)s. Non è stato importato nulla.",
            file=details.get("file_currency", ""),
            account=details.get("currency", ""),
        )
    if exc.code == "invalid_import" and details.get("field") == "reason":
        return _("Per accettare un estratto che non quadra serve un motivo.")
    return _("Il file non è stato importato: %(message)s", message=exc.message)


def upload_too_large(limit_bytes: int) -> str:
    return _(
        "Il file supera il limite di %(size)s MB: nulla è stato importato.",
        size=f"{limit_bytes / (1024 * 1024):g}",
    )
