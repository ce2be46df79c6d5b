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


REASON_TEXT: dict[str, Callable[[], str]] = {
    "amount_equal": lambda: _("stesso importo"),
    "reference_partial": lambda: _("riferimento RF con un carattere diverso"),
    "same_counterparty_before": lambda: _("stesso ordinante di movimenti già spiegati"),
    "date_close": lambda: _("date vicine"),
    "two_instalments": lambda: _("due rate insieme"),
    "descriptor": lambda: _("la descrizione riporta il nome del versamento Stripe"),
}
SUGGESTION_KIND_TEXT: dict[str, Callable[[], str]] = {
    "gift": lambda: _("donazione in attesa"),
    "repayment": lambda: _("rimborso già registrato"),
    "entry": lambda: _("registrazione contabile"),
    "payout": lambda: _("versamento Stripe"),
    "campaign": lambda: _("donazione a una campagna"),
    "loan": lambda: _("rimborso di un prestito"),
    "rule": lambda: _("regola"),
}
DIRECTION_TEXT: dict[str, Callable[[], str]] = {
    "in": lambda: _("solo entrate"),
    "out": lambda: _("solo uscite"),
    "any": lambda: _("entrate e uscite"),
}


def line_status(status: str) -> str:
    """A line's status in words."""
    return STATUS_TEXT[status]() if status in STATUS_TEXT else status


def allocation_kind(kind: str) -> str:
    """What explains part of a line, in words."""
    return KIND_TEXT[kind]() if kind in KIND_TEXT else kind


def suggestion_fit(score: int) -> str:
    """A suggestion's score as a short label of how well it fits."""
    if score >= 60:
        return _("molto probabile")
    if score >= 35:
        return _("probabile")
    return _("possibile")


def suggestion_reasons(reasons: tuple[str, ...] | list[str]) -> str:
    """Why a suggestion is made, in words."""
    words = []
    for reason in reasons:
        code, _sep, rule_id = reason.partition(":")
        if code == "rule":
            words.append(_("indicato dalla regola n. %(id)s", id=rule_id))
        elif code in REASON_TEXT:
            words.append(REASON_TEXT[code]())
        else:
            words.append(reason)
    return ", ".join(words)


def suggestion_kind(kind: str) -> str:
    return SUGGESTION_KIND_TEXT[kind]() if kind in SUGGESTION_KIND_TEXT else kind


def rule_direction(direction: str) -> str:
    return DIRECTION_TEXT[direction]() if direction in DIRECTION_TEXT else direction


TEMPLATE_GLOBALS = (
    line_status,
    allocation_kind,
    suggestion_fit,
    suggestion_reasons,
    suggestion_kind,
    rule_direction,
)


def act_error(exc: LedgerError) -> str:
    """Why an act on a line or a rule was refused, in the page's language; the use case's
    own message (with its figures) follows."""
    if exc.code == "over_allocation":
        return _("Importo superiore a quanto resta da spiegare: %(message)s", message=exc.message)
    if exc.code == "line_refused":
        return _(
            "Il movimento non può diventare questa registrazione: %(message)s", message=exc.message
        )
    if exc.code == "invalid_rule":
        return _("Regola non valida: %(message)s", message=exc.message)
    if exc.code == "invalid_import":
        return _("Schema non valido: %(message)s", message=exc.message)
    return exc.message


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
